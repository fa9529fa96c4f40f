"""The `robalign` command: one small module per verb (argument parsing only)."""
