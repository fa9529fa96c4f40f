"""Label-noise injection for preference pairs (pure functions on arrays).

Two kinds, both with mean flip rate R:
- ``uniform``: every pair flips with probability R.
- ``instance``: pairs whose wrong answer is *close* to the right one flip more often
  (p_i proportional to closeness_i, rescaled so the mean stays R, capped at ``cap``), the
  way tired annotators confuse near misses.
Simulated annotators (``n_annotators`` > 1) each get their own rate, spread evenly around R
(0.5R .. 1.5R), so per-annotator reliability has something to recover.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

NOISE_KINDS = ("uniform", "instance")


def flip_probabilities(closeness: np.ndarray, rate: float, kind: str, cap: float = 0.95) -> np.ndarray:
    """Per-pair flip probability, shape (N,), with mean `rate` (exactly, unless the cap binds everywhere)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"flip rate must be in [0, 1), got {rate}")
    closeness = np.asarray(closeness, dtype=np.float64)
    if kind == "uniform" or rate == 0.0:
        return np.full(closeness.shape, rate)
    if kind != "instance":
        raise ValueError(f"unknown noise kind {kind!r}; expected one of {NOISE_KINDS}")
    p = np.clip(closeness, 1e-3, None)
    p = p * rate / p.mean()
    for _ in range(50):  # water-filling: clip at the cap, give the excess to the rest
        over = p > cap
        if not over.any():
            break
        p[over] = cap
        free = ~over
        need = rate * p.size - p[over].sum()
        p[free] *= need / p[free].sum()
    return np.clip(p, 0.0, cap)


def annotator_rates(rate: float, n_annotators: int) -> np.ndarray:
    """Flip rates of `n_annotators` simulated annotators, evenly spread with mean `rate`."""
    if n_annotators <= 1:
        return np.array([rate])
    return rate * np.linspace(0.5, 1.5, n_annotators)


def draw_flips(
    closeness: np.ndarray, rate: float, kind: str, rng: np.random.Generator, n_annotators: int = 1,
    rates: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample which pairs flip. Returns (flipped bool (N,), annotator id int (N,)).

    `rates` gives each annotator's own flip rate (their number is its length; `rate` is then
    ignored); otherwise `n_annotators` rates are spread around `rate` (`annotator_rates`)."""
    n = len(closeness)
    if rates is not None:
        per = np.asarray(rates, dtype=np.float64)
        if per.ndim != 1 or not len(per) or ((per < 0) | (per >= 1)).any():
            raise ValueError(f"annotator flip rates must each be in [0, 1), got {list(rates)}")
        annotator = rng.integers(0, len(per), size=n)
        base = flip_probabilities(closeness, 0.5, kind) / 0.5  # mean 1: each annotator's rate times the pair's difficulty
        p = np.clip(base * per[annotator], 0.0, 0.99)
        return rng.random(n) < p, annotator
    annotator = rng.integers(0, max(n_annotators, 1), size=n)
    scale = annotator_rates(rate, n_annotators)[annotator] / rate if rate > 0 else np.ones(n)
    p = np.clip(flip_probabilities(closeness, rate, kind) * scale, 0.0, 0.99)
    return rng.random(n) < p, annotator
