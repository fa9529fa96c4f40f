"""Continuous embedding attacks (training and evaluation use the same one)."""

from robalign.attacks.embedding import AttackResult, EmbeddingAttack, frozen_parameters, mean_embedding_norm, project, target_loss

__all__ = ["AttackResult", "EmbeddingAttack", "frozen_parameters", "mean_embedding_norm", "project", "target_loss"]
