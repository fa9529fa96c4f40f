"""Ranking models from benchmark scores. Pure numpy/scipy, no I/O.

- :func:`swiss_tournament`, :func:`failure_sensitivity`: Swiss-system Monte Carlo (CSD), vectorised.
- :func:`bradley_terry`, :func:`fit_bradley_terry`: BT ratings on the Elo scale with bootstrap CIs.
- :func:`elo`, :func:`elo_from_matches`: online Elo averaged over match orders.
- :func:`mean_score`, :func:`mean_rank`: the plain baselines.
- :func:`kendall_tau`, :func:`tau_matrix`: agreement between rankings.
- :func:`resample_tables`, :func:`ranking_uncertainty`: intervals of every method from resampling
  the benchmark items (or per-cell standard errors); :func:`separable_groups`, :func:`rank_ranges`.
- :func:`build_leaderboard`, :func:`format_markdown`, :func:`headline`: all of the above in one table.
"""

from robalign.ranking.agreement import kendall_tau, tau_matrix
from robalign.ranking.baselines import mean_rank, mean_score
from robalign.ranking.bradley_terry import BTResult, bradley_terry, fit_bradley_terry, to_elo_scale
from robalign.ranking.elo import EloResult, elo, elo_from_matches
from robalign.ranking.leaderboard import (
    DEFAULT_PAIRING,
    ROW_KEYS,
    build_leaderboard,
    format_agreement_markdown,
    format_markdown,
    headline,
    leaderboard_agreement,
    rank_cell,
    resolve_rounds,
    separable_names,
    uncertainty_document,
    uncertainty_note,
)
from robalign.ranking.pairwise import pairwise_counts, pairwise_matches
from robalign.ranking.uncertainty import (
    ItemBlock,
    Summary,
    item_block,
    rank_ranges,
    ranking_uncertainty,
    resample_tables,
    separable_groups,
    summarise,
)
from robalign.ranking.swiss import PAIRINGS, SwissResult, failure_sensitivity, field_sizes, max_eliminate, rules_note, swiss_tournament

__all__ = [
    "DEFAULT_PAIRING",
    "PAIRINGS",
    "ItemBlock",
    "Summary",
    "headline",
    "item_block",
    "rank_cell",
    "rank_ranges",
    "ranking_uncertainty",
    "resample_tables",
    "separable_groups",
    "separable_names",
    "summarise",
    "uncertainty_document",
    "uncertainty_note",
    "ROW_KEYS",
    "BTResult",
    "EloResult",
    "SwissResult",
    "bradley_terry",
    "build_leaderboard",
    "elo",
    "elo_from_matches",
    "failure_sensitivity",
    "field_sizes",
    "fit_bradley_terry",
    "format_agreement_markdown",
    "format_markdown",
    "kendall_tau",
    "leaderboard_agreement",
    "max_eliminate",
    "mean_rank",
    "mean_score",
    "pairwise_counts",
    "pairwise_matches",
    "resolve_rounds",
    "rules_note",
    "swiss_tournament",
    "tau_matrix",
    "to_elo_scale",
]
