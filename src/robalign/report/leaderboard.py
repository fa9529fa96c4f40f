"""The tournament's leaderboard: every ranking of robalign.ranking in one JSON document + markdown.

`rank_all` calls `robalign.ranking.build_leaderboard` for the per-model rows (Swiss E[S] at T=0
and at the largest T, failure sensitivity, BT with CI, Elo, mean score/rank), takes the Swiss
tournaments it ran (so the T=0 numbers and rank probabilities are the very simulations behind
the rows), runs the other elimination levels, adds a Bradley-Terry fit on the
per-item outcomes, and the Kendall tau between the methods.

leaderboard.json keys:
    title, models, benchmarks, rounds        labels (rounds as benchmark names)
    rows                                     build_leaderboard rows (best first) + expected_score_T{t}[_se]
                                             per level, bt_item_rating/ci, expected_rank
    swiss                                    {"T": {expected_score, std_error, rank_probs}} (model order = `models`)
    scores                                   {model: {benchmark: score}}
    metrics                                  {model: {"benchmark/metric": value}} (scorer extras)
    agreement                                Kendall tau matrix between ranking methods
    settings, warnings
"""

from __future__ import annotations

import sys

import numpy as np

from robalign.atomic import atomic_write_json, atomic_write_text


def rank_all(cfg, entries, benches, scores, results, *, progress: bool = True) -> dict:
    from tqdm.auto import tqdm

    from robalign.ranking import bradley_terry, build_leaderboard, leaderboard_agreement, resolve_rounds, swiss_tournament

    names = [e.name for e in entries]
    S = np.array([[scores[n][b] for b in benches] for n in names], dtype=np.float64)  # (n_models, n_benchmarks)
    r = cfg.ranking
    levels = sorted(set(r.eliminate))
    t_max = levels[-1]
    bar = tqdm(total=len(levels) + 2, desc="rank", unit="step", disable=not progress, file=sys.stderr)
    computed = {}  # the T=0 and T=t_max tournaments behind the rows
    rows = build_leaderboard(S, names, benches, cfg.rounds, n_sims=r.n_sims, eliminate=t_max, pairing=r.pairing,
                             reference_exact=r.reference_exact, n_bootstrap=r.n_bootstrap, seed=r.seed, swiss_out=computed)
    bar.update(1)
    cols = resolve_rounds(cfg.rounds, benches)
    others = [t for t in levels if t not in computed]
    # build_leaderboard uses the first four of default_rng(seed).spawn(...); the other levels get the next ones
    children = np.random.default_rng(r.seed).spawn(4 + len(others))
    streams = {t: children[4 + k] for k, t in enumerate(others)}
    swiss = {}
    for t in levels:
        res = computed[t] if t in computed else swiss_tournament(
            S, cols, n_sims=r.n_sims, eliminate=t, pairing=r.pairing, reference_exact=r.reference_exact, seed=streams[t])
        swiss[str(t)] = {"expected_score": res.expected_score.tolist(), "std_error": res.std_error.tolist(),
                         "rank_probs": res.rank_probs.tolist(), "expected_rank": res.expected_rank.tolist()}
        bar.update(1)
    idx = {n: i for i, n in enumerate(names)}
    for row in rows:
        i = idx[row["model"]]
        for t in levels:
            row[f"expected_score_T{t}"] = swiss[str(t)]["expected_score"][i]
            row[f"expected_score_T{t}_se"] = swiss[str(t)]["std_error"][i]
        row["expected_rank"] = swiss["0"]["expected_rank"][i]

    # Bradley-Terry on per-item outcomes: every item of every benchmark is a match between models.
    item_cols = []
    for b in benches:
        per = [results[b][n].items for n in names]
        if all(len(p) == len(per[0]) and all(x is not None for x in p) for p in per):
            item_cols.append(np.array(per, dtype=np.float64))  # (n_models, n_items)
    if item_cols:
        bt = bradley_terry(np.concatenate(item_cols, axis=1), n_bootstrap=r.n_bootstrap, seed=r.seed)
        for row in rows:
            i = idx[row["model"]]
            row.update(bt_item_rating=float(bt.ratings[i]), bt_item_ci_low=float(bt.ci_low[i]), bt_item_ci_high=float(bt.ci_high[i]))
    bar.update(1)
    bar.close()
    metrics = {n: {f"{b}/{k}": float(v) for b in benches for k, v in results[b][n].extras.items()} for n in names}
    return {
        "title": cfg.title,
        "models": names,
        "benchmarks": benches,
        "rounds": [[benches[c] for c in group] for group in cols],
        "rows": rows,
        "swiss": swiss,
        "scores": scores,
        "metrics": metrics,
        "agreement": leaderboard_agreement(rows),
        "settings": {"n_sims": r.n_sims, "eliminate": levels, "pairing": r.pairing, "reference_exact": r.reference_exact,
                     "seed": r.seed, "n_bootstrap": r.n_bootstrap},
        "warnings": [],
    }


def format_scores_markdown(board: dict) -> str:
    benches = board["benchmarks"]
    lines = ["| model | " + " | ".join(benches) + " |", "|:---|" + "---:|" * len(benches)]
    for row in board["rows"]:
        n = row["model"]
        lines.append(f"| {n} | " + " | ".join(f"{board['scores'][n][b]:.3f}" for b in benches) + " |")
    return "\n".join(lines) + "\n"


def format_levels_markdown(board: dict) -> str:
    levels = board["settings"]["eliminate"]
    lines = ["| model | " + " | ".join(f"E[S] T={t}" for t in levels) + " | P(1st) | E[rank] |",
             "|:---|" + "---:|" * (len(levels) + 2)]
    for row in board["rows"]:
        cells = [f"{row[f'expected_score_T{t}']:.3f} ± {row[f'expected_score_T{t}_se']:.3f}" for t in levels]
        lines.append(f"| {row['model']} | " + " | ".join(cells) + f" | {row['p_first']:.2f} | {row['expected_rank']:.2f} |")
    return "\n".join(lines) + "\n"


def format_markdown_document(board: dict) -> str:
    from robalign.ranking import format_agreement_markdown, format_markdown, rules_note

    s = board["settings"]
    parts = [
        f"# {board['title']}\n",
        f"{len(board['models'])} models, {len(board['benchmarks'])} benchmarks in {len(board['rounds'])} rounds; "
        f"{s['n_sims']:,} simulated Swiss tournaments per elimination level ({s['pairing']} pairing, seed {s['seed']}). "
        f"{rules_note(s['pairing'], s.get('reference_exact', False))}\n",
        "## Leaderboard\n",
        format_markdown(board["rows"]),
        "## Swiss expected score by elimination level\n",
        format_levels_markdown(board),
        "## Scores (models x benchmarks)\n",
        format_scores_markdown(board),
        "## Agreement between ranking methods\n",
        format_agreement_markdown(board["agreement"]),
    ]
    if board.get("warnings"):
        parts += ["## Warnings\n", "".join(f"- {w}\n" for w in board["warnings"])]
    return "\n".join(parts)


def write_leaderboard(out_dir, board: dict) -> None:
    atomic_write_json(f"{out_dir}/leaderboard.json", board)
    atomic_write_text(f"{out_dir}/leaderboard.md", format_markdown_document(board))
