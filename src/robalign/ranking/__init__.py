"""Ranking models from benchmark scores: Swiss tournaments (CSD), Bradley-Terry, Elo, baselines."""
from robalign.ranking.swiss import SwissResult, failure_sensitivity, swiss_tournament

__all__ = ["SwissResult", "failure_sensitivity", "swiss_tournament"]
