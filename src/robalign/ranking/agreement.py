"""Agreement between rankings: Kendall's tau-b, pairwise over methods.

Why: the point of offering several aggregation methods is to see where they disagree; a tau
matrix says at a glance whether the tournament reorders the field relative to the mean.
Convention: every ranking is given as per-model values where HIGHER IS BETTER (negate ranks).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.stats import kendalltau

from robalign.errors import UserError


def kendall_tau(a, b) -> float:
    """Kendall's tau-b between two per-model value vectors (n_models,), higher = better in both.

    1 = same order, -1 = reversed; ties handled by tau-b. NaN if one vector is constant.
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise UserError(f"kendall_tau needs two 1-D vectors of the same length >= 2, got shapes {x.shape} and {y.shape}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(kendalltau(x, y).statistic)


def tau_matrix(rankings: Mapping[str, object]) -> tuple[list[str], np.ndarray]:
    """Kendall tau between every pair of methods.

    ``rankings``: method name -> per-model values (n_models,), higher = better.
    Returns the method names and a symmetric (n_methods, n_methods) float64 matrix with 1 on the diagonal.
    """
    names = list(rankings)
    k = len(names)
    out = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            out[i, j] = out[j, i] = kendall_tau(rankings[names[i]], rankings[names[j]])
    return names, out
