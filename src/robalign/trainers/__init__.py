"""Thin TRL subclasses (SFT, preference with LCPO) and the factory that picks one per recipe."""

from robalign.trainers.factory import build_trainer, trainer_class

__all__ = ["build_trainer", "trainer_class"]
