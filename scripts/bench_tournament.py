"""Benchmark: vectorised Swiss tournament vs a reference-style per-simulation Python loop.

Why: the paper's reference code runs one tournament at a time in Python loops (minutes for
100,000 simulations). This script measures simulations per second of
:func:`robalign.ranking.swiss_tournament` on the paper's shape (29 models, 38 benchmarks, 12
rounds of 2-6 benchmarks) and of the loop below on fewer simulations (scaled to sims/s), and
checks that both estimate the same E[S] (max |z| over models). Prints a markdown table.

    python scripts/bench_tournament.py            # 100,000 vectorised sims, 2,000 loop sims
    python scripts/bench_tournament.py --quick    # 20,000 and 300: a few seconds

The loops (robalign.ranking.loops) run one tournament at a time, like the paper's code:
``robalign_loop`` states robalign's rules plainly (random ties at the elimination cut, two models
always stay) and ``published_loop`` the published loop's (lowest row first on ties at the cut,
the field may shrink to one). The first table times the vectorised simulator against the loop
with the same rules; the second checks ``reference_exact=True`` against the published loop and
shows how far robalign's default rules move E[S] from the paper's at T >= 1.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from pathlib import Path

import numpy as np

from robalign.cli.rank import read_score_table
from robalign.ranking import kendall_tau, swiss_tournament
from robalign.ranking.loops import loop_points

N_MODELS, N_BENCH = 29, 38
LLAMA2 = Path(__file__).resolve().parents[1] / "eval" / "tables" / "llama2_table3.csv"
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


def run_loop(scores: np.ndarray, rounds, eliminate: int, pairing: str, n: int, seed: int, published: bool = False):
    t0 = time.perf_counter()
    pts = loop_points(scores, rounds, n=n, eliminate=eliminate, pairing=pairing, published=published, seed=seed)
    elapsed = time.perf_counter() - t0
    return elapsed, pts.mean(0), pts.std(0, ddof=1) / np.sqrt(n)


def max_z(a_mean, a_se, b_mean, b_se) -> float:
    return float((np.abs(a_mean - b_mean) / np.sqrt(a_se**2 + b_se**2 + 1e-12)).max())


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
            z = max_z(res.expected_score, res.std_error, loop_mean, loop_se)
            vec_rate, loop_rate = n_sims / best, loop_sims / loop_s
            print(
                f"| {pairing} | {eliminate} | {best:.2f} | {vec_rate:,.0f} | {loop_rate:,.0f} "
                f"| {vec_rate / loop_rate:,.0f}x | {z:.2f} |"
            )

    print("\nThe paper's rules: reference_exact=True against the published loop, and robalign's default rules against "
          "reference_exact (reference pairing; dE[S] in points, z = difference / combined s.e., Kendall tau of the two "
          f"E[S] orders); the table above and the Llama-2 table of eval/tables ({LLAMA2.name}, one benchmark a round)\n")
    print("| table | eliminate | exact vs published loop: max abs z | default vs exact: max abs dE[S] | max abs z | Kendall tau |")
    print("|:---|---:|---:|---:|---:|---:|")
    llama = np.array(read_score_table(LLAMA2)[2])
    cases = [(f"{N_MODELS} x {N_BENCH}", scores, rounds), (f"Llama-2 {llama.shape[0]} x {llama.shape[1]}", llama, [[j] for j in range(llama.shape[1])])]
    for (name, scores, rounds), eliminate in itertools.product(cases, (0, 1, 2)):
        kw = dict(n_sims=n_sims, eliminate=eliminate, seed=args.seed)
        exact = swiss_tournament(scores, rounds, reference_exact=True, **kw)
        default = swiss_tournament(scores, rounds, **kw)
        _, pub_mean, pub_se = run_loop(scores, rounds, eliminate, "reference", loop_sims, args.seed, published=True)
        z_pub = max_z(exact.expected_score, exact.std_error, pub_mean, pub_se)
        diff = float(np.abs(default.expected_score - exact.expected_score).max())
        z_def = max_z(default.expected_score, default.std_error, exact.expected_score, exact.std_error)
        tau = kendall_tau(default.expected_score, exact.expected_score)
        print(f"| {name} | {eliminate} | {z_pub:.2f} | {diff:.3f} | {z_def:.1f} | {tau:.3f} |")


if __name__ == "__main__":
    main()
