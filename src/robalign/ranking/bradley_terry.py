"""Bradley-Terry ratings from pairwise outcomes, on the Elo scale, with bootstrap intervals.

Model (Bradley & Terry 1952):  P(i beats j) = sigma(theta_i - theta_j),  sigma(x) = 1 / (1 + e^-x).
Fitted by maximising the penalised log-likelihood

    L(theta) = sum_{i != j} W_ij * log sigma(theta_i - theta_j)  -  (l2 / 2) * ||theta||^2

where W_ij counts i's wins over j with a tie counted as half a win for each side. Why the small
L2 term: on benchmark tables one model often beats another on *every* item (perfect separation),
where the unpenalised MLE runs to infinity; a weak Gaussian prior theta ~ N(0, 1/l2) keeps every
rating finite while barely moving well-determined ones. L is strictly concave, so Newton's method
with a backtracking line search converges to its unique maximum in a handful of steps.

Elo scale: P(i beats j) = 1 / (1 + 10^((R_j - R_i) / scale)), i.e. R = scale / ln(10) * theta,
shifted so the mean rating (or the ``anchor`` model's) equals ``base``.

Confidence intervals: resample items with replacement (``n_bootstrap`` times, a seeded
Generator), refit, take percentiles. Items, not matches, are resampled because all the matches
of one item share its difficulty. All bootstrap win matrices come from one matrix product of
the per-item outcomes with the multinomial resampling counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robalign.errors import UserError
from robalign.ranking._checks import as_int
from robalign.ranking.pairwise import as_item_scores, item_outcomes

LN10 = np.log(10.0)


@dataclass(frozen=True)
class BTResult:
    """Bradley-Terry fit (arrays are read-only).

    Attributes:
        ratings: (n_models,) float64, Elo-scale ratings of the fit on all items.
        ci_low, ci_high: (n_models,) float64, percentile bootstrap interval at level ``ci``.
        bootstrap: (n_bootstrap, n_models) float64, ratings of every bootstrap refit.
        wins: (n_models, n_models) float64, W_ij = wins of i over j, ties counted as 0.5 each.
        ci, scale, base, anchor, l2: the settings used.
    """

    ratings: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    bootstrap: np.ndarray
    wins: np.ndarray
    ci: float
    scale: float
    base: float
    anchor: int | None
    l2: float


def _log_likelihood(theta: np.ndarray, wins: np.ndarray, l2: float) -> float:
    diff = theta[:, None] - theta[None, :]  # (M, M)
    return float(-(wins * np.logaddexp(0.0, -diff)).sum() - 0.5 * l2 * theta @ theta)


def fit_bradley_terry(wins, *, l2: float = 0.01, max_iter: int = 100, tol: float = 1e-9) -> np.ndarray:
    """Penalised maximum-likelihood BT strengths theta, natural-log scale, shape (n_models,).

    ``wins`` (n_models, n_models): W_ij = (possibly fractional) wins of i over j; the diagonal is ignored.
    Gradient and Hessian of L (module doc), with N = W + W^T and P_ij = sigma(theta_i - theta_j):
        g_i = sum_j (W_ij - N_ij P_ij) - l2 theta_i
        H_ij = N_ij P_ij (1 - P_ij) (i != j),   H_ii = -sum_j N_ij P_ij (1 - P_ij) - l2
    """
    w = np.array(wins, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise UserError(f"wins must be a square (n_models x n_models) matrix, got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise UserError("wins must hold finite non-negative counts")
    if not l2 > 0:
        raise UserError(f"l2 must be > 0 (it keeps ratings finite when a model wins every comparison), got {l2}")
    np.fill_diagonal(w, 0.0)
    n = w + w.T
    theta = np.zeros(w.shape[0])
    value = _log_likelihood(theta, w, l2)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))  # (M, M)
        grad = (w - n * p).sum(axis=1) - l2 * theta
        curv = n * p * (1.0 - p)
        hess = curv - np.diag(curv.sum(axis=1) + l2)  # negative definite
        step = np.linalg.solve(-hess, grad)  # Newton ascent direction
        t = 1.0
        while True:  # backtracking (Armijo) line search
            cand = theta + t * step
            cand_value = _log_likelihood(cand, w, l2)
            if cand_value >= value + 1e-4 * t * (grad @ step) or t < 1e-8:
                break
            t *= 0.5
        theta, value = cand, cand_value
        if np.max(np.abs(t * step)) < tol:
            break
    return theta


def to_elo_scale(theta: np.ndarray, *, scale: float = 400.0, base: float = 1000.0, anchor: int | None = None) -> np.ndarray:
    """Natural-log strengths (..., n_models) -> Elo ratings; mean (or the ``anchor`` model) = ``base``."""
    ref = theta[..., anchor : anchor + 1] if anchor is not None else theta.mean(axis=-1, keepdims=True)
    return base + scale / LN10 * (theta - ref)


def bradley_terry(
    item_scores,
    *,
    n_bootstrap: int = 200,
    seed: int | np.random.Generator = 0,
    ci: float = 0.95,
    scale: float = 400.0,
    base: float = 1000.0,
    anchor: int | None = None,
    l2: float = 0.01,
) -> BTResult:
    """Bradley-Terry ratings of models compared item by item, with bootstrap CIs.

    Args:
        item_scores: (n_models, n_items) per-item scores, higher is better, NaN = not answered.
            A score matrix (n_models, n_benchmarks) works too: each benchmark is one item.
        n_bootstrap: item resamples for the interval (>= 100, Chatbot Arena practice).
        seed: int or ``np.random.Generator`` for the resampling.
        ci: interval level in (0, 1).
        scale, base, anchor: Elo scale (400 = 10x odds per 400 points), centre, and optionally
            the model index whose rating is pinned at ``base`` (default: the mean is ``base``).
        l2: ridge strength on natural-log strengths (see module doc).
    """
    s = as_item_scores(item_scores)
    n_models, n_items = s.shape
    n_bootstrap = as_int(n_bootstrap, "n_bootstrap", minimum=100)
    if not 0.0 < ci < 1.0:
        raise UserError(f"ci must be in (0, 1), e.g. 0.95; got {ci}")
    if anchor is not None and (isinstance(anchor, bool) or not isinstance(anchor, (int, np.integer)) or not 0 <= anchor < n_models):
        raise UserError(f"anchor must be a model index in 0..{n_models - 1} or None, got {anchor!r}")
    rng = np.random.default_rng(seed)

    counts = rng.multinomial(n_items, np.full(n_items, 1.0 / n_items), size=n_bootstrap)  # (B, n_items)
    wins = np.zeros((n_models, n_models))
    boot_wins = np.zeros((n_models * n_models, n_bootstrap))
    for sl, block in item_outcomes(s):  # block (M, M, c)
        flat = block.reshape(n_models * n_models, -1).astype(np.float64)
        wins += flat.sum(axis=1).reshape(n_models, n_models)
        boot_wins += flat @ counts[:, sl].T  # (M*M, B)
    if wins.sum() == 0:
        raise UserError("item_scores has no item answered by two models; expected overlapping results to compare")

    ratings = to_elo_scale(fit_bradley_terry(wins, l2=l2), scale=scale, base=base, anchor=anchor)
    boot_theta = np.stack(
        [fit_bradley_terry(boot_wins[:, b].reshape(n_models, n_models), l2=l2) for b in range(n_bootstrap)]
    )
    boot = to_elo_scale(boot_theta, scale=scale, base=base, anchor=anchor)  # (B, M)
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
    arrays = dict(ratings=ratings, ci_low=lo, ci_high=hi, bootstrap=boot, wins=wins)
    for a in arrays.values():
        a.flags.writeable = False
    return BTResult(**arrays, ci=ci, scale=scale, base=base, anchor=anchor, l2=l2)
