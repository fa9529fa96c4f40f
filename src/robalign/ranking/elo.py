"""Online Elo over a shuffled sequence of matches, averaged over permutations.

Why keep online Elo next to Bradley-Terry: it is what many leaderboards publish, and comparing
it with BT shows how much a single match order would move a rating. Online Elo depends on the
order of the matches, so we replay the same matches in ``n_permutations`` random orders (a
seeded Generator) and report the mean final rating and its spread across orders.

Update for a match a vs b with a's result o in {1, 0.5, 0}:
    E_a = 1 / (1 + 10^((R_b - R_a) / scale)),   R_a += k (o - E_a),   R_b -= k (o - E_a)

Vectorised over permutations: the P replays advance one match at a time together, so the Python
loop has one iteration per match, not per match and permutation. Cost O(n_matches) steps on (P,)
arrays: fine for benchmark tables (hundreds to tens of thousands of matches); for millions of
per-item matches prefer :func:`robalign.ranking.bradley_terry`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robalign.errors import UserError
from robalign.ranking._checks import as_int
from robalign.ranking.pairwise import pairwise_matches


@dataclass(frozen=True)
class EloResult:
    """Attributes: ``ratings`` (n_models,) mean final rating over permutations; ``spread``
    (n_models,) their standard deviation across permutations; ``n_matches``, ``n_permutations``, ``k``."""

    ratings: np.ndarray
    spread: np.ndarray
    n_matches: int
    n_permutations: int
    k: float


def elo_from_matches(
    model_a,
    model_b,
    outcome,
    n_models: int,
    *,
    k: float = 16.0,
    n_permutations: int = 100,
    seed: int | np.random.Generator = 0,
    scale: float = 400.0,
    base: float = 1000.0,
) -> EloResult:
    """Online Elo from a match list: ``model_a``, ``model_b`` int (T,), ``outcome`` float (T,) = a's result.

    Every replay starts all models at ``base``. The default K = 16 (chess practice) rather than
    Chatbot Arena's 4 because benchmark tables yield hundreds, not millions, of matches.
    """
    a = np.asarray(model_a, dtype=np.intp)
    b = np.asarray(model_b, dtype=np.intp)
    o = np.asarray(outcome, dtype=np.float64)
    if not (a.shape == b.shape == o.shape) or a.ndim != 1 or a.size == 0:
        raise UserError(f"model_a, model_b and outcome must be 1-D arrays of one non-zero length, got {a.shape}, {b.shape}, {o.shape}")
    if ((a < 0) | (a >= n_models) | (b < 0) | (b >= n_models) | (a == b)).any():
        raise UserError(f"matches must name two different model indices in 0..{n_models - 1}")
    if not np.isin(o, (0.0, 0.5, 1.0)).all():
        raise UserError("outcome must be 1 (a wins), 0.5 (tie) or 0 (b wins)")
    if not k > 0:
        raise UserError(f"k must be > 0, got {k}")
    n_permutations = as_int(n_permutations, "n_permutations", minimum=1)
    rng = np.random.default_rng(seed)

    n_matches = a.size
    perms = np.argsort(rng.random((n_matches, n_permutations)), axis=0)  # (T, P): match played at step t
    ratings = np.full((n_permutations, n_models), float(base))  # (P, M)
    flat = ratings.reshape(-1)
    row = np.arange(n_permutations) * n_models  # (P,)
    for t in range(n_matches):
        m = perms[t]  # (P,)
        ia, ib = row + a[m], row + b[m]
        expected = 1.0 / (1.0 + 10.0 ** ((flat[ib] - flat[ia]) / scale))
        delta = k * (o[m] - expected)
        flat[ia] += delta
        flat[ib] -= delta
    mean = ratings.mean(axis=0)
    spread = ratings.std(axis=0, ddof=1) if n_permutations > 1 else np.zeros(n_models)
    mean.flags.writeable = False
    spread.flags.writeable = False
    return EloResult(ratings=mean, spread=spread, n_matches=n_matches, n_permutations=n_permutations, k=float(k))


def elo(
    item_scores,
    *,
    k: float = 16.0,
    n_permutations: int = 100,
    seed: int | np.random.Generator = 0,
    scale: float = 400.0,
    base: float = 1000.0,
) -> EloResult:
    """Online Elo from per-item scores (n_models, n_items), NaN = not answered; a score matrix
    (models x benchmarks) treats every benchmark as one item. Matches: every pair on every item."""
    a, b, o = pairwise_matches(item_scores)
    if a.size == 0:
        raise UserError("item_scores has no item answered by two models; expected overlapping results to compare")
    n_models = np.asarray(item_scores).shape[0]
    return elo_from_matches(a, b, o, n_models, k=k, n_permutations=n_permutations, seed=seed, scale=scale, base=base)
