"""Evaluation: generation engines (vLLM, HF fallback), a generation cache, scorers, judges, tournaments.

The flow of `robalign tournament`: models/adapters -> `generation` (one engine per base model,
every adapter through it, results cached per shard) -> `scorers` -> `robalign.ranking` -> report.
"""
