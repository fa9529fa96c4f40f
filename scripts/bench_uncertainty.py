"""Benchmark: what the item-level intervals add to a tournament's ranking stage.

Why: every leaderboard now resamples the benchmark items (robalign.ranking.uncertainty) and
ranks each resampled table again with every method at every elimination level. This script
times the ranking stage (`robalign.eval.leaderboard.rank_all`, what `robalign tournament` runs
after scoring) on the demo tournament's shape, side by side: without intervals
(``n_resamples = 0``) and with the default resamples, in alternating repeats. Per-item results
are drawn at the demo's accuracies; the engine and the scorers are not involved.

    python scripts/bench_uncertainty.py            # demo shape, 3 repeats of each
    python scripts/bench_uncertainty.py --quick    # 1 repeat of each
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from robalign.eval.config import RankingArgs
from robalign.eval.generation import Entry
from robalign.eval.scorers import BenchScore
from robalign.eval.leaderboard import rank_all

# The demo: 7 models, five task families of 100 held-out prompts and the safety set, 4 rounds.
BENCHES = {"sort": 100, "reverse": 100, "count": 100, "max": 100, "add": 100, "safety": 60}
ROUNDS = [["sort", "reverse"], ["count", "max"], ["add"], ["safety"]]
MODELS = {"safety_sft": 0.56, "cadv_ipo": 0.55, "sft": 0.46, "simpo_plain": 0.45, "dpo_plain": 0.44, "dpo_lcpo": 0.44, "simpo_lcpo": 0.43}


class _Cfg:  # the fields rank_all reads from a TournamentConfig
    def __init__(self, ranking):
        self.ranking, self.rounds, self.title = ranking, ROUNDS, "bench"


def make_results(seed: int = 0):
    rng = np.random.default_rng(seed)
    results = {}
    for b, n in BENCHES.items():
        results[b] = {}
        for m, p in MODELS.items():
            items = (rng.random(n) < p).astype(float).tolist()
            results[b][m] = BenchScore(float(np.mean(items)), items)
    scores = {m: {b: results[b][m].value for b in BENCHES} for m in MODELS}
    return [Entry(m, "base", None) for m in MODELS], scores, results


def time_rank(n_resamples: int, entries, scores, results) -> float:
    cfg = _Cfg(RankingArgs(n_resamples=n_resamples))  # the demo's ranking settings otherwise (100k sims, T = 0, 1, 2)
    t0 = time.perf_counter()
    rank_all(cfg, entries, list(BENCHES), scores, results, progress=False)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one repeat of each")
    args = ap.parse_args()
    repeats = 1 if args.quick else 3
    entries, scores, results = make_results()
    default = RankingArgs().n_resamples
    without, with_ci = [], []
    for _ in range(repeats):  # alternate, so a busy machine slows both alike
        without.append(time_rank(0, entries, scores, results))
        with_ci.append(time_rank(default, entries, scores, results))
    a, b = statistics.median(without), statistics.median(with_ci)
    print(f"## Ranking stage of the demo tournament ({len(MODELS)} models x {len(BENCHES)} benchmarks, {len(ROUNDS)} rounds, "
          f"T = 0, 1, 2, 100,000 sims per level; median of {repeats})\n")
    print("| ranking stage | seconds |")
    print("|:---|---:|")
    print(f"| Monte Carlo only (n_resamples 0) | {a:.2f} |")
    print(f"| with item-level intervals (n_resamples {default}, {RankingArgs().resample_sims:,} sims each) | {b:.2f} |")
    print(f"| added | {b - a:.2f} ({b / a:.2f}x) |")


if __name__ == "__main__":
    main()
