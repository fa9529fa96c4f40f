"""Swiss tournaments one at a time, in plain Python: the executable specification of the rules.

Why this exists: :func:`robalign.ranking.swiss_tournament` packs the rules into sorted uint64
keys to run 100k tournaments a second; these loops state the same rules as plainly as possible,
so the tests can check the vectorised simulator against them in distribution and
``scripts/bench_tournament.py`` can time what the paper's code does. The package's rankings never
call them (they run a few thousand tournaments a second).

- :func:`robalign_loop`: robalign's rules (see :mod:`robalign.ranking.swiss`): random ties at the
  elimination cut, at least two models stay; ``"reference"`` or ``"swiss"`` pairing.
- :func:`published_loop`: the rules of the paper's published loop (LJSthu/LLMSwissRound,
  ``swiss.py``), written from its behaviour: the odd model of a points group sits out, a tie
  goes to the second model of the shuffled pair, after every round the ``eliminate`` lowest are
  dropped by a stable sort of the remaining models in index order (lowest index first among
  equal points), and the tournament stops once one model or none remains.
  ``swiss_tournament(..., reference_exact=True)`` must agree with it.
"""

from __future__ import annotations

import random

import numpy as np


def robalign_loop(match_scores: list[list[float]], eliminate: int, pairing: str, rnd: random.Random) -> list[int]:
    """One tournament under robalign's rules; ``match_scores[r][i]`` = model i's round-r score. Final points."""
    n_rounds, n_models = len(match_scores), len(match_scores[0])
    points = [0] * n_models
    active = list(range(n_models))

    def play(a: int, b: int, scores: list[float]) -> None:
        if scores[a] > scores[b] or (scores[a] == scores[b] and rnd.random() < 0.5):
            points[a] += 1
        else:
            points[b] += 1

    for r in range(n_rounds):
        levels = sorted({points[i] for i in active}, reverse=True)
        groups = [[i for i in active if points[i] == p] for p in levels]
        for g in groups:
            rnd.shuffle(g)
        if pairing == "reference":
            for g in groups:  # an odd model out sits the round out
                for j in range(0, len(g) - 1, 2):
                    play(g[j], g[j + 1], match_scores[r])
        else:
            floater = None  # the unpaired model of the group above, paired down
            for g in groups:
                queue = ([floater] if floater is not None else []) + g
                floater = queue[-1] if len(queue) % 2 else None
                for j in range(0, len(queue) - 1, 2):
                    play(queue[j], queue[j + 1], match_scores[r])
            if floater is not None:
                points[floater] += 1  # bye for the lowest group scores a win
        if r < n_rounds - 1:
            drop = min(eliminate, len(active) - 2)
            if drop > 0:
                ranked = sorted(active, key=lambda i: (points[i], rnd.random()))  # lowest first, random ties
                dropped = set(ranked[:drop])
                active = [i for i in active if i not in dropped]
    return points


def published_loop(match_scores: list[list[float]], eliminate: int, rnd: random.Random) -> list[int]:
    """One tournament under the published loop's rules (module doc). Final points."""
    points = [0] * len(match_scores[0])
    remaining = list(range(len(points)))
    for scores in match_scores:
        if len(remaining) <= 1:
            break
        by_points: dict[int, list[int]] = {}
        for m in sorted(remaining, key=lambda i: points[i], reverse=True):
            by_points.setdefault(points[m], []).append(m)
        for group in by_points.values():
            rnd.shuffle(group)
            for j in range(0, len(group) - 1, 2):
                a, b = group[j], group[j + 1]
                points[a if scores[a] > scores[b] else b] += 1
        cut = set(sorted(remaining, key=lambda i: points[i])[:eliminate])
        remaining = [m for m in remaining if m not in cut]
    return points


def loop_points(
    scores: np.ndarray, rounds, *, n: int, eliminate: int = 0, pairing: str = "reference",
    published: bool = False, seed: int = 0,
) -> np.ndarray:
    """Final points of ``n`` tournaments, (n, n_models) float: ``published`` picks :func:`published_loop`."""
    rnd = random.Random(seed)
    scores = np.asarray(scores, dtype=np.float64)
    match = [scores[:, list(cols)].mean(axis=1).tolist() for cols in rounds]
    if published:
        return np.array([published_loop(match, eliminate, rnd) for _ in range(n)], dtype=float)
    return np.array([robalign_loop(match, eliminate, pairing, rnd) for _ in range(n)], dtype=float)
