"""Uncertainty of every ranking that comes from the benchmark items (pure numpy, no I/O).

Why: the Monte Carlo standard error of a Swiss E[S] only says how well the simulations pin down
E[S] *of the table as given*; with 100,000 simulations it is ~0.002 and says nothing about
whether the table separates the models. The table itself is an estimate: every cell is a mean
over a few hundred items, and a handful of items decide the order of close models. So:

1. resample the table (:func:`resample_tables`): for a benchmark with per-item results, a
   bootstrap of its items, stratified where the benchmark's score is a mean of stratum means
   (the safety set weighs harmful and benign rows equally), the SAME item draws for every model
   (the design is paired: all models answer the same items); for a cell with only a standard
   error (lm-eval reports them), a normal draw around it; anything else is held fixed;
2. rank every resampled table again with every method (:func:`ranking_uncertainty`): Swiss E[S]
   at each elimination level (fewer simulations each: their Monte Carlo error, ~0.03 at 2,000,
   is small against the spread across resamples), Bradley-Terry on the benchmark outcomes,
   Elo, mean score, mean rank;
3. summarise each method's (n_resamples, n_models) values (:func:`summarise`): a percentile
   interval per model, the probability of being first, the distribution of ranks.

:func:`rank_ranges` and :func:`separable_groups` turn intervals into what a report may claim:
a model is ahead of another only when their intervals do not overlap (conservative: the paired
design could separate some overlapping pairs, but a reader checks overlap by eye, so the report
says nothing the table beside it does not show).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from robalign.errors import UserError
from robalign.ranking._checks import as_int, as_rounds, as_score_matrix
from robalign.ranking.bradley_terry import fit_bradley_terry, to_elo_scale
from robalign.ranking.elo import elo
from robalign.ranking.pairwise import item_outcomes
from robalign.ranking.swiss import swiss_tournament

#: Resamples and simulated tournaments per resample when the caller does not say: with 2,000
#: simulations the Monte Carlo error of one resample's E[S] is ~0.03 points (well under the
#: spread between resamples on any real table), and 200 resamples put 5 in each 2.5% tail.
DEFAULT_RESAMPLES = 200
DEFAULT_RESAMPLE_SIMS = 2_000
MIN_RESAMPLES = 20


@dataclass(frozen=True)
class ItemBlock:
    """Per-item results of one benchmark: ``items`` (n_models, n_items), no NaN; ``strata``
    (n_items,) labels or None. The benchmark's score is the mean over strata of the stratum means
    (one stratum = the plain mean)."""

    items: np.ndarray
    strata: np.ndarray | None = None

    def groups(self) -> list[np.ndarray]:
        """Item indices of each stratum (one group when there are no strata)."""
        if self.strata is None:
            return [np.arange(self.items.shape[1])]
        return [np.flatnonzero(self.strata == s) for s in dict.fromkeys(self.strata.tolist())]

    def value(self) -> np.ndarray:
        """(n_models,) the benchmark score these items give: mean of the stratum means."""
        return np.mean([self.items[:, g].mean(axis=1) for g in self.groups()], axis=0)


def item_block(items, strata=None, *, name: str = "items") -> ItemBlock:
    """Validated :class:`ItemBlock`: a finite (n_models, n_items) matrix, strata of length n_items."""
    arr = as_score_matrix(items, name=name, min_models=1)
    if strata is None:
        return ItemBlock(arr)
    labels = np.asarray(strata, dtype=object)
    if labels.shape != (arr.shape[1],):
        raise UserError(f"{name}: {labels.size} strata labels for {arr.shape[1]} items; expected one label per item")
    return ItemBlock(arr, labels)


def resample_tables(
    scores,
    *,
    items: Sequence[ItemBlock | None] | None = None,
    stderr=None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Resampled score tables, float64 (n_resamples, n_models, n_benchmarks).

    Column b of every table: ``items[b]`` given -> a stratified bootstrap of its items (the
    same draws for all models); else ``stderr[:, b]`` given -> ``scores[:, b] + stderr[:, b] * z``
    with independent standard normal z per cell (lm-eval's per-cell errors carry no pairing;
    a NaN or 0 standard error holds that cell fixed); else the column is held fixed.
    """
    s = as_score_matrix(scores)
    n_models, n_bench = s.shape
    n_resamples = as_int(n_resamples, "n_resamples", minimum=1)
    rng = np.random.default_rng(seed)
    if items is not None and len(items) != n_bench:
        raise UserError(f"got item results for {len(items)} benchmarks; expected one entry (or None) per benchmark ({n_bench})")
    if stderr is not None:
        stderr = np.asarray(stderr, dtype=np.float64)
        if stderr.shape != s.shape:
            raise UserError(f"stderr has shape {stderr.shape}; expected the score table's {s.shape}")
        if (stderr < 0).any():
            raise UserError("stderr holds a negative standard error; expected numbers >= 0")
    out = np.repeat(s[None], n_resamples, axis=0)
    for b in range(n_bench):
        block = items[b] if items is not None else None
        if block is not None:
            if block.items.shape[0] != n_models:
                raise UserError(f"item results of benchmark {b} have {block.items.shape[0]} models; expected {n_models}")
            col = np.zeros((n_resamples, n_models))
            groups = block.groups()
            for g in groups:  # each stratum resampled within itself, so its weight stays fixed
                n = g.size
                counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples)  # (R, n)
                col += counts @ block.items[:, g].T / n  # (R, M): this stratum's mean in every resample
            out[:, :, b] = col / len(groups)
        elif stderr is not None:
            se = np.nan_to_num(stderr[:, b], nan=0.0)
            out[:, :, b] += se * rng.standard_normal((n_resamples, n_models))
    return out


@dataclass(frozen=True)
class Summary:
    """One method's values across resamples, summarised (arrays read-only; model order of the table).

    Attributes:
        values: (n_resamples, n_models) the method's value in every resample.
        ci_low, ci_high: (n_models,) percentile interval at level ``ci``.
        rank_probs: (n_models, n_models) ``rank_probs[i, r]`` = share of resamples in which model
            i is at rank r + 1 by this method (ties split evenly over the tied ranks).
        higher_is_better, ci.
    """

    values: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    rank_probs: np.ndarray
    higher_is_better: bool
    ci: float

    @property
    def p_first(self) -> np.ndarray:
        """(n_models,) share of resamples in which the model is ranked first."""
        return self.rank_probs[:, 0]


def rank_distribution(values, *, higher_is_better: bool = True) -> np.ndarray:
    """(n_models, n_models) share of rows of ``values`` (n_rows, n_models) that put model i at rank r + 1.

    Tied models share their ranks evenly (two tied for first are each first in half the mass),
    so every row and column sums to 1.
    """
    v = np.asarray(values, dtype=np.float64)
    if not higher_is_better:
        v = -v
    n_rows, m = v.shape
    above = (v[:, None, :] > v[:, :, None]).sum(axis=2)  # (R, M): models strictly better than i
    tied = (v[:, None, :] == v[:, :, None]).sum(axis=2)  # (R, M): including i itself
    ranks = np.arange(m)
    occupies = (ranks >= above[..., None]) & (ranks < (above + tied)[..., None])  # (R, M, M)
    return (occupies / tied[..., None]).sum(axis=0) / n_rows


def summarise(values, *, higher_is_better: bool = True, ci: float = 0.95) -> Summary:
    """Percentile interval, rank distribution and P(first) of (n_resamples, n_models) values."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] < 1:
        raise UserError(f"values must be (n_resamples, n_models), got shape {v.shape}")
    if not 0.0 < ci < 1.0:
        raise UserError(f"ci must be in (0, 1), e.g. 0.95; got {ci}")
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(v, [alpha, 1.0 - alpha], axis=0)
    arrays = dict(values=v.copy(), ci_low=lo, ci_high=hi, rank_probs=rank_distribution(v, higher_is_better=higher_is_better))
    for a in arrays.values():
        a.flags.writeable = False
    return Summary(**arrays, higher_is_better=higher_is_better, ci=ci)


def bt_ratings(table: np.ndarray) -> np.ndarray:
    """Bradley-Terry Elo-scale ratings of one score table, benchmarks as items: the point fit of
    :func:`~robalign.ranking.bradley_terry.bradley_terry` without its bootstrap."""
    m = table.shape[0]
    wins = np.zeros((m, m))
    for _, block in item_outcomes(table):
        wins += block.sum(axis=2)
    return to_elo_scale(fit_bradley_terry(wins))


def ranking_values(
    tables,
    rounds,
    *,
    levels: Sequence[int] = (0,),
    sims_per_resample: int = DEFAULT_RESAMPLE_SIMS,
    seed: int | np.random.Generator = 0,
    swiss_options: Mapping | None = None,
) -> dict[str, np.ndarray]:
    """Every ranking method on every resampled table: method name -> (n_resamples, n_models) values.

    Keys: ``swiss_T{t}`` for t in ``levels`` (E[S]), ``failure_sensitivity`` (E[S] at T=0 minus
    at the largest level, per resample, when there are two levels or more), ``bradley_terry``,
    ``elo``, ``mean_score``, ``mean_rank`` (1 = best). ``swiss_options`` go to
    :func:`swiss_tournament` by keyword (pairing, reference_exact). One Generator from ``seed``
    feeds every tournament and Elo replay in a fixed order, so the result is reproducible.
    """
    t = np.asarray(tables, dtype=np.float64)
    if t.ndim != 3:
        raise UserError(f"tables must be (n_resamples, n_models, n_benchmarks), got shape {t.shape}")
    n_res, n_models, n_bench = t.shape
    cols = as_rounds(rounds, n_bench)
    sims = as_int(sims_per_resample, "sims_per_resample", minimum=2)
    opts = dict(swiss_options or {})
    levels = sorted(set(int(x) for x in levels))
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for lv in levels:
        out[f"swiss_T{lv}"] = np.stack(
            [swiss_tournament(t[r], cols, n_sims=sims, eliminate=lv, seed=rng, **opts).expected_score for r in range(n_res)]
        )
    if len(levels) > 1 and levels[0] == 0:
        out["failure_sensitivity"] = out["swiss_T0"] - out[f"swiss_T{levels[-1]}"]
    out["bradley_terry"] = np.stack([bt_ratings(t[r]) for r in range(n_res)])
    out["elo"] = np.stack([elo(t[r], seed=rng).ratings for r in range(n_res)])
    out["mean_score"] = t.mean(axis=2)
    out["mean_rank"] = rankdata(-t, method="average", axis=1).mean(axis=2)
    return out


#: Methods where a lower value is better.
LOWER_IS_BETTER = frozenset({"mean_rank", "failure_sensitivity"})


def ranking_uncertainty(tables, rounds, *, ci: float = 0.95, **kwargs) -> dict[str, Summary]:
    """:func:`ranking_values` summarised per method (:func:`summarise`); keyword arguments as there.

    ``failure_sensitivity`` is summarised with lower = better (less brittle) for its ranks.
    """
    values = ranking_values(tables, rounds, **kwargs)
    return {k: summarise(v, higher_is_better=k not in LOWER_IS_BETTER, ci=ci) for k, v in values.items()}


def rank_ranges(ci_low, ci_high, *, higher_is_better: bool = True) -> np.ndarray:
    """(n_models, 2) int: the best and worst rank each model's interval allows.

    Best = 1 + models whose interval lies entirely above its interval; worst = n_models - models
    whose interval lies entirely below. A model whose range is one rank is placed by the data.
    """
    lo = np.asarray(ci_low, dtype=np.float64)
    hi = np.asarray(ci_high, dtype=np.float64)
    if not higher_is_better:
        lo, hi = -hi, -lo
    above = (lo[None, :] > hi[:, None]).sum(axis=1)
    below = (hi[None, :] < lo[:, None]).sum(axis=1)
    return np.stack([1 + above, lo.size - below], axis=1)


def separable_groups(point, ci_low, ci_high, *, higher_is_better: bool = True) -> list[list[int]]:
    """Models (indices) in consecutive groups, best first, cut only where the data separate them.

    Models are ordered by ``point``; the order is cut between positions k and k + 1 exactly when
    every interval above the cut lies entirely above every interval below it. Inside a group
    some intervals overlap, so the order inside it is not resolved by the data.
    """
    p = np.asarray(point, dtype=np.float64)
    lo = np.asarray(ci_low, dtype=np.float64)
    hi = np.asarray(ci_high, dtype=np.float64)
    if not higher_is_better:
        p, lo, hi = -p, -hi, -lo
    order = np.argsort(-p, kind="stable")
    groups: list[list[int]] = [[int(order[0])]]
    floor = lo[order[0]]  # lowest lower bound above the cut
    for k in range(1, order.size):
        i = int(order[k])
        if floor > hi[order[k:]].max():
            groups.append([i])
        else:
            groups[-1].append(i)
        floor = min(floor, lo[i])
    return groups
