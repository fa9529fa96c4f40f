"""Benchmark: vectorised Swiss tournament vs a reference-style per-simulation Python loop.

Why: the paper's reference code runs one tournament at a time in Python loops (minutes for
100,000 simulations). This script measures simulations per second of
:func:`robalign.ranking.swiss_tournament` on the paper's shape (29 models, 38 benchmarks, 12
rounds of 2-6 benchmarks) and of the loop below on fewer simulations (scaled to sims/s), and
checks that both estimate the same E[S] (max |z| over models). Prints a markdown table.

    python scripts/bench_tournament.py            # 100,000 vectorised sims, 2,000 loop sims
    python scripts/bench_tournament.py --quick    # 20,000 and 300: a few seconds

The loop is the *slow reference*: the rules of robalign.ranking.swiss written plainly, one
tournament at a time, like the reference code. It is not used by the package.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import time

import numpy as np

from robalign.ranking import swiss_tournament

N_MODELS, N_BENCH = 29, 38
GROUP_SIZES = [2, 3, 4, 5, 6, 2, 3, 4, 2, 3, 2, 2]  # 12 rounds over 38 benchmarks, 2-6 each


def make_case(seed: int = 0) -> tuple[np.ndarray, list[list[int]]]:
    """Scores with structure (model strength + benchmark difficulty + noise), rounds in fixed groups."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (N_MODELS, 1)) + rng.normal(0, 1, (1, N_BENCH)) + rng.normal(0, 0.7, (N_MODELS, N_BENCH))
    scores = np.round(100 / (1 + np.exp(-logits)), 1)  # percentages with one decimal, as tables print them
    bounds = np.cumsum([0, *GROUP_SIZES])
    order = rng.permutation(N_BENCH)
    rounds = [sorted(order[a:b].tolist()) for a, b in zip(bounds[:-1], bounds[1:])]
    return scores, rounds


def loop_tournament(match: list[list[float]], eliminate: int, pairing: str, rnd: random.Random) -> list[int]:
    """One tournament, reference style. ``match[r][i]``: model i's round-r score. Returns final points."""
    n_models = len(match[0])
    points = [0] * n_models
    active = list(range(n_models))
    for r, round_scores in enumerate(match):
        standing = sorted(active, key=lambda i: -points[i])
        groups = [list(g) for _, g in itertools.groupby(standing, key=lambda i: points[i])]
        pairs, carry = [], []
        for g in groups:
            rnd.shuffle(g)
            g = carry + g if pairing == "swiss" else g
            carry = []
            if len(g) % 2:
                odd = g.pop()  # the odd one: sits out (reference) or floats down (swiss)
                if pairing == "swiss":
                    carry = [odd]
            pairs.extend(zip(g[0::2], g[1::2]))
        if carry:
            points[carry[0]] += 1  # swiss: bye of the lowest group
        for a, b in pairs:
            sa, sb = round_scores[a], round_scores[b]
            winner = a if sa > sb else b if sb > sa else rnd.choice((a, b))
            points[winner] += 1
        if r < len(match) - 1:
            drop = min(eliminate, len(active) - 2)
            if drop > 0:
                keys = {i: rnd.random() for i in active}
                out = set(sorted(active, key=lambda i: (points[i], keys[i]))[:drop])
                active = [i for i in active if i not in out]
    return points


def run_loop(scores: np.ndarray, rounds, eliminate: int, pairing: str, n: int, seed: int):
    rnd = random.Random(seed)
    match = [scores[:, cols].mean(axis=1).tolist() for cols in rounds]
    t0 = time.perf_counter()
    pts = np.array([loop_tournament(match, eliminate, pairing, rnd) for _ in range(n)], dtype=float)
    elapsed = time.perf_counter() - t0
    return elapsed, pts.mean(0), pts.std(0, ddof=1) / np.sqrt(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 vectorised / 300 loop simulations, one repeat")
    parser.add_argument("--n-sims", type=int, default=None, help="vectorised simulations (default 100000; quick 20000)")
    parser.add_argument("--loop-sims", type=int, default=None, help="loop simulations (default 2000; quick 300)")
    parser.add_argument("--repeats", type=int, default=None, help="timing repeats, best kept (default 3; quick 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n_sims = args.n_sims or (20_000 if args.quick else 100_000)
    loop_sims = args.loop_sims or (300 if args.quick else 2_000)
    repeats = args.repeats or (1 if args.quick else 3)

    scores, rounds = make_case(args.seed)
    print(
        f"Swiss tournament benchmark: {N_MODELS} models x {N_BENCH} benchmarks x {len(rounds)} rounds; "
        f"vectorised {n_sims:,} sims (best of {repeats}), loop {loop_sims:,} sims (scaled); numpy {np.__version__}; "
        f"1-min load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (wall-clock figures: a busy machine lowers them)\n"
    )
    print("| pairing | eliminate | vectorised s | vectorised sims/s | loop sims/s | speed-up | E[S] agreement max abs z |")
    print("|:---|---:|---:|---:|---:|---:|---:|")
    for pairing in ("reference", "swiss"):
        for eliminate in (0, 2):
            best = float("inf")
            for rep in range(repeats):
                t0 = time.perf_counter()
                res = swiss_tournament(scores, rounds, n_sims=n_sims, eliminate=eliminate, pairing=pairing, seed=args.seed + rep)
                best = min(best, time.perf_counter() - t0)
            loop_s, loop_mean, loop_se = run_loop(scores, rounds, eliminate, pairing, loop_sims, args.seed)
            z = np.abs(res.expected_score - loop_mean) / np.sqrt(res.std_error**2 + loop_se**2 + 1e-12)
            vec_rate, loop_rate = n_sims / best, loop_sims / loop_s
            print(
                f"| {pairing} | {eliminate} | {best:.2f} | {vec_rate:,.0f} | {loop_rate:,.0f} "
                f"| {vec_rate / loop_rate:,.0f}x | {z.max():.2f} |"
            )


if __name__ == "__main__":
    main()
