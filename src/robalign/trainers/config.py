"""The preference trainer's config class lives with the other config dataclasses (robalign.config.training)."""

from robalign.config.training import PreferenceConfig

__all__ = ["PreferenceConfig"]
