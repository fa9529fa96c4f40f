"""Synthetic tasks, noise injection, safety set and dataset loading."""
