"""Mean score and mean rank across benchmarks: the baselines CSD argues against.

Why keep them: they are what readers compare against, and the Kendall tau between them and the
tournament rankings shows how much the aggregation method changes the ordering.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from robalign.ranking._checks import as_score_matrix


def mean_score(scores) -> np.ndarray:
    """Mean over benchmarks, (n_models,) float64. ``scores`` (n_models, n_benchmarks), no NaN."""
    return as_score_matrix(scores).mean(axis=1)


def mean_rank(scores) -> np.ndarray:
    """Average per-benchmark rank, (n_models,) float64; 1 = best, tied models share the mean of their ranks.

    Unlike the mean score it ignores margins: winning a benchmark by 0.1 or by 30 points counts the same.
    """
    s = as_score_matrix(scores)
    ranks = rankdata(-s, method="average", axis=0)  # (n_models, n_benchmarks)
    return ranks.mean(axis=1)
