"""Measurement: how well each Swiss pairing and elimination level T recovers a known order.

Why: the default pairing must follow from data, not from the paper. The paper's code pairs
inside points groups and lets the odd model sit the round out with 0 points ("reference"); a
standard Swiss system pairs that model down into the next group ("swiss", a bye scores a win).
On the Llama-2 table the model that is best on every column gets 5 of 8 points with
"reference". This script measures, side by side on the same tables:

1. simulated tables with a KNOWN true order: model abilities theta evenly spaced in logits
   (shuffled over rows, so row order carries no information), benchmark difficulties ~ N(0, 1),
   optional model x benchmark strengths ~ N(0, sigma), and every cell the accuracy on n
   Bernoulli items; per replicate, Kendall tau between each method's ranking and theta and
   whether the true best is ranked first. With item resampling (bootstrap of the items,
   robalign.ranking.uncertainty, as the leaderboard does) it also measures what the report
   would claim: the share of model pairs whose 95% intervals separate, how many of those claims
   are wrong, and whether the true best is in the top separable group;
2. the shipped table eval/tables/llama2_table3.csv: the rank and E[S] of the model that is best
   on every column, and the share of Pareto-dominance pairs (i >= j on every column) each method
   orders correctly, on the table as printed and on tables resampled from binomial standard
   errors (an assumed n items per cell, --cell-items).

Methods: Swiss E[S] for pairing in {reference, swiss} x T in {0, 1, 2}, the published loop's
elimination rules (reference_exact) at T = 1, 2, and the baselines mean score, mean rank,
Bradley-Terry and Elo. Prints markdown tables (docs/experiments.md holds a run).

    python scripts/bench_pairing.py            # 100 replicates x 100 resamples per scenario
    python scripts/bench_pairing.py --quick    # 20 x 40: about a minute
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from robalign.ranking import elo, mean_rank, mean_score, swiss_tournament
from robalign.ranking.uncertainty import (
    bt_ratings,
    item_block,
    ranking_uncertainty,
    resample_tables,
    separable_groups,
    summarise,
)

REPO = Path(__file__).resolve().parents[1]
LLAMA2 = REPO / "eval" / "tables" / "llama2_table3.csv"

# (label, pairing, T, reference_exact)
SWISS = [
    ("reference T=0", "reference", 0, False),
    ("reference T=1", "reference", 1, False),
    ("reference T=2", "reference", 2, False),
    ("reference T=1, exact cut", "reference", 1, True),
    ("reference T=2, exact cut", "reference", 2, True),
    ("swiss T=0", "swiss", 0, False),
    ("swiss T=1", "swiss", 1, False),
    ("swiss T=2", "swiss", 2, False),
]
BASELINES = ["mean score", "mean rank", "Bradley-Terry", "Elo"]


def point_values(scores: np.ndarray, rounds, n_sims: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every method's per-model value on one table, higher = better."""
    out = {}
    for label, pairing, t, exact in SWISS:
        out[label] = swiss_tournament(scores, rounds, n_sims=n_sims, eliminate=t, pairing=pairing,
                                      reference_exact=exact, seed=rng).expected_score
    out["mean score"] = mean_score(scores)
    out["mean rank"] = -mean_rank(scores)
    out["Bradley-Terry"] = bt_ratings(scores)
    out["Elo"] = elo(scores, seed=rng).ratings
    return out


def interval_values(tables: np.ndarray, rounds, sims: int, rng: np.random.Generator) -> dict[str, tuple]:
    """Every method's 95% interval (lo, hi) over resampled tables, higher = better."""
    out = {}
    for label, pairing, t, exact in SWISS:
        s = summarise(np.stack([swiss_tournament(tab, rounds, n_sims=sims, eliminate=t, pairing=pairing, reference_exact=exact,
                                                 seed=rng).expected_score for tab in tables]))
        out[label] = (s.ci_low, s.ci_high)
    base = ranking_uncertainty(tables, rounds, levels=(), seed=rng)  # the baselines alone
    out["mean score"] = (base["mean_score"].ci_low, base["mean_score"].ci_high)
    out["mean rank"] = (-base["mean_rank"].ci_high, -base["mean_rank"].ci_low)
    out["Bradley-Terry"] = (base["bradley_terry"].ci_low, base["bradley_terry"].ci_high)
    out["Elo"] = (base["elo"].ci_low, base["elo"].ci_high)
    return out


def first_share(values: np.ndarray, i: int) -> float:
    """Credit for model i being ranked first: 1, 1/k when tied with k-1 others, else 0."""
    top = values.max()
    return float(values[i] == top) / float((values == top).sum())


def simulate(n_models, n_bench, rounds, sigma, n_items, replicates, resamples, n_sims, resample_sims, seed):
    rng = np.random.default_rng(seed)
    stats = {m: {"tau": [], "top1": [], "sep": [], "wrong": [], "best_in_top": [], "top_size": []} for m in [s[0] for s in SWISS] + BASELINES}
    theta_grid = np.linspace(-1.0, 1.0, n_models)
    for _ in range(replicates):
        theta = rng.permutation(theta_grid)  # row order carries no information (matters for the exact cut)
        logits = theta[:, None] - rng.normal(0, 1, (1, n_bench)) + rng.normal(0, sigma, (n_models, n_bench))
        p = 1 / (1 + np.exp(-logits))
        items = [item_block((rng.random((n_models, n_items)) < p[:, [b]]).astype(float)) for b in range(n_bench)]
        scores = np.stack([blk.value() for blk in items], axis=1)
        best = int(np.argmax(theta))
        vals = point_values(scores, rounds, n_sims, rng)
        ivals = None
        if resamples:
            tables = resample_tables(scores, items=items, n_resamples=resamples, seed=rng)
            ivals = interval_values(tables, rounds, resample_sims, rng)
        for m, v in vals.items():
            st = stats[m]
            st["tau"].append(kendalltau(v, theta).statistic)
            st["top1"].append(first_share(v, best))
            if ivals is not None:
                lo, hi = ivals[m]
                above = lo[:, None] > hi[None, :]  # i's interval entirely above j's: the report claims i > j
                claims = above.sum()
                truth = theta[:, None] > theta[None, :]
                st["sep"].append(claims / (n_models * (n_models - 1) / 2))
                st["wrong"].append((above & ~truth).sum() / max(claims, 1))
                groups = separable_groups(v, lo, hi)
                st["best_in_top"].append(float(best in groups[0]))
                st["top_size"].append(len(groups[0]))
    return stats


def read_table(path: Path):
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    benches = lines[0].split(",")[1:]
    names = [ln.split(",")[0] for ln in lines[1:]]
    scores = np.array([[float(x) for x in ln.split(",")[1:]] for ln in lines[1:]])
    return names, benches, scores


def dominance_share(values: np.ndarray, scores: np.ndarray) -> float:
    """Share of Pareto-dominance pairs (i >= j everywhere, > somewhere) with value_i > value_j (ties: half)."""
    ge = (scores[:, None, :] >= scores[None, :, :]).all(axis=2)
    gt = (scores[:, None, :] > scores[None, :, :]).any(axis=2)
    dom = ge & gt
    right = (values[:, None] > values[None, :]) + 0.5 * (values[:, None] == values[None, :])
    return float(right[dom].mean())


def llama_table(resamples, cell_items, n_sims, seed):
    names, benches, scores = read_table(LLAMA2)
    rounds = [[j] for j in range(len(benches))]
    rng = np.random.default_rng(seed)
    best = names.index("Llama-2-70B")
    vals = point_values(scores, rounds, n_sims, rng)
    p = scores / 100.0
    stderr = 100.0 * np.sqrt(p * (1 - p) / cell_items)
    tables = resample_tables(scores, stderr=stderr, n_resamples=resamples, seed=rng)
    ivals = interval_values(tables, rounds, 2_000, rng)
    ge = (scores[:, None, :] >= scores[None, :, :]).all(axis=2)
    dom = ge & (scores[:, None, :] > scores[None, :, :]).any(axis=2)  # i dominates j
    n = len(names)
    rows = []
    for m, v in vals.items():
        lo, hi = ivals[m]
        above = lo[:, None] > hi[None, :]
        groups = separable_groups(v, lo, hi)
        second = np.sort(v)[-2]
        rows.append(dict(method=m, es=v[best] if m in [s[0] for s in SWISS] else None, rank=1 + int((v > v[best]).sum()),
                         gap=(v[best] - second) / (v.max() - v.min()), dom=dominance_share(v, scores),
                         sep=above.sum() / (n * (n - 1) / 2), against=int((above & dom.T).sum()),
                         groups=len(groups), top=len(groups[0])))
    return rows, len(benches)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 replicates x 40 resamples (about a minute)")
    ap.add_argument("--replicates", type=int, default=None, help="simulated tables per scenario (default 100; quick 20)")
    ap.add_argument("--resamples", type=int, default=None, help="item resamples per table (default 100; quick 40; 0 = none)")
    ap.add_argument("--cell-items", type=int, default=1000, help="items per cell assumed for the Llama-2 table's binomial s.e.")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    reps = args.replicates or (20 if args.quick else 100)
    res = args.resamples if args.resamples is not None else (40 if args.quick else 100)
    n_sims, rs_sims = (5_000, 1_000) if args.quick else (20_000, 2_000)
    t0 = time.perf_counter()

    print(f"## Recovery of a known order ({reps} simulated tables per scenario; {res} item resamples each; "
          f"{n_sims:,} simulations per point estimate, {rs_sims:,} per resample; seed {args.seed})\n")
    scenarios = [
        ("12 models x 8 benchmarks (8 rounds), 200 items, no model x benchmark strengths", 12, 8, None, 0.0, 200),
        ("12 models x 8 benchmarks (8 rounds), 200 items, strengths sigma 0.5", 12, 8, None, 0.5, 200),
        ("12 models x 8 benchmarks (8 rounds), 1000 items, strengths sigma 0.5", 12, 8, None, 0.5, 1000),
        ("7 models x 6 benchmarks (demo rounds [[0,1],[2,3],[4],[5]]), 100 items, sigma 0.5", 7, 6, [[0, 1], [2, 3], [4], [5]], 0.5, 100),
    ]
    for k, (title, m, b, rounds, sigma, n_items) in enumerate(scenarios):
        rounds = rounds or [[j] for j in range(b)]
        st = simulate(m, b, rounds, sigma, n_items, reps, res, n_sims, rs_sims, args.seed + k)
        print(f"### {title}\n")
        head = "| method | Kendall tau vs truth | true best ranked 1st |"
        sep = "|:---|---:|---:|"
        if res:
            head += " pairs separated | separations wrong | true best in top group | top group size |"
            sep += "---:|---:|---:|---:|"
        print(head)
        print(sep)
        for meth, d in st.items():
            tau = np.array(d["tau"])
            line = f"| {meth} | {tau.mean():.3f} ± {tau.std(ddof=1) / np.sqrt(tau.size):.3f} | {np.mean(d['top1']):.2f} |"
            if res:
                line += f" {np.mean(d['sep']):.2f} | {np.mean(d['wrong']):.3f} | {np.mean(d['best_in_top']):.2f} | {np.mean(d['top_size']):.1f} |"
            print(line)
        print()

    lres = max(res, 20)
    rows, n_rounds = llama_table(lres, args.cell_items, n_sims, args.seed)
    print(f"## Llama-2 Table 3 (eval/tables/llama2_table3.csv): Llama-2-70B is best on all {n_rounds} columns\n")
    print(f"Intervals from {lres} tables resampled from binomial standard errors, {args.cell_items} items per cell assumed. "
          "Gap to #2: (70B's value - the next best value) / (highest - lowest value).\n")
    print("| method | 70B's E[S] | 70B's rank | gap to #2 | dominance pairs ordered | pairs separated (95%) | separations against dominance | separable groups | top group size |")
    print("|:---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        es = "" if r["es"] is None else f"{r['es']:.2f}"
        print(f"| {r['method']} | {es} | {r['rank']} | {r['gap']:.3f} | {r['dom']:.3f} | {r['sep']:.2f} | {r['against']} | {r['groups']} | {r['top']} |")
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
