"""The tournament's ranking stage: every model's benchmark results -> the leaderboard document.

`rank_all` calls `robalign.ranking.build_leaderboard` for the per-model rows (Swiss E[S] at T=0
and at the largest T, failure sensitivity, BT with CI, Elo, mean score/rank) with every
benchmark's per-item results, so every column gets a 95% interval from resampling the items
(robalign.ranking.uncertainty) at every elimination level; takes the Swiss tournaments it ran at
every elimination level (the T=0 numbers and rank probabilities are the very simulations behind
the rows), adds a Bradley-Terry fit on the per-item outcomes, and the Kendall tau between the
methods. `robalign.report` only formats and writes the result.

leaderboard.json keys:
    title, models, benchmarks, rounds        labels (rounds as benchmark names)
    rows                                     build_leaderboard rows (best first; expected_score_ci = {"T": [low, high]}
                                             per level, from item resampling) + expected_score_T{t}[_se] per level,
                                             bt_item_rating/ci, expected_rank
    swiss                                    {"T": {expected_score, std_error (Monte Carlo), expected_score_ci (items),
                                             rank_probs, expected_rank}} (model order = `models`)
    uncertainty                              item resampling: settings, held-fixed benchmarks, and per method
                                             ci_low/ci_high, p_first, rank_probs across resamples (robalign.ranking.uncertainty_document)
    scores                                   {model: {benchmark: score}}
    metrics                                  {model: {"benchmark/metric": value}} (scorer extras)
    training                                 {model: {metric: last logged value}} from the run's metrics.jsonl (eval/clean_accuracy, ...)
    agreement                                Kendall tau matrix between ranking methods
    settings, warnings
"""

from __future__ import annotations

import sys

import numpy as np


def item_blocks(benches, names, results, scores) -> tuple[list, dict[str, str]]:
    """Per benchmark, its per-item results as an ItemBlock (None when held fixed), and why each
    held-fixed benchmark is.

    A benchmark is resampled only when every model has a complete per-item list AND the items
    reproduce its score (the plain mean, or the mean of stratum means with BenchScore.strata);
    otherwise it is held fixed, so an interval never rests on a rule the scorer did not use.
    """
    from robalign.ranking import item_block

    blocks, why = [], {}
    for b in benches:
        per = [results[b][n] for n in names]
        items = [p.items for p in per]
        strata = per[0].strata
        if not all(len(x) == len(items[0]) and x and all(v is not None for v in x) for x in items):
            why[b] = "no per-item results"  # e.g. the attack scorer: one number per model
        elif any(p.strata != strata for p in per):
            why[b] = "the models' items fall in different strata"
        else:
            block = item_block(np.array(items, dtype=np.float64), strata, name=f"items of benchmark {b}")
            if np.allclose(block.value(), [scores[n][b] for n in names], rtol=0, atol=1e-9):
                blocks.append(block)
                continue
            why[b] = "its score is not the mean of its item scores"
        blocks.append(None)
    return blocks, why


def rank_all(cfg, entries, benches, scores, results, *, progress: bool = True) -> dict:
    from tqdm.auto import tqdm

    from robalign.ranking import (
        bradley_terry,
        build_leaderboard,
        leaderboard_agreement,
        resolve_rounds,
        uncertainty_document,
        uncertainty_note,
    )
    from robalign.report.runs import training_summary

    names = [e.name for e in entries]
    S = np.array([[scores[n][b] for b in benches] for n in names], dtype=np.float64)  # (n_models, n_benchmarks)
    r = cfg.ranking
    levels = sorted(set(r.eliminate))
    t_max = levels[-1]
    bar = tqdm(total=len(levels) + 2, desc="rank", unit="step", disable=not progress, file=sys.stderr)
    computed, unc = {}, {}  # the tournament at every level (those behind the rows among them); the item resampling
    blocks, held_fixed = item_blocks(benches, names, results, scores)
    rows = build_leaderboard(S, names, benches, cfg.rounds, n_sims=r.n_sims, eliminate=t_max, pairing=r.pairing,
                             reference_exact=r.reference_exact, n_bootstrap=r.n_bootstrap, seed=r.seed, swiss_out=computed,
                             items=blocks, n_resamples=r.n_resamples, resample_sims=r.resample_sims, levels=levels,
                             uncertainty_out=unc)
    bar.update(1)
    cols = resolve_rounds(cfg.rounds, benches)
    swiss = {}
    summaries = unc.get("summaries", {})
    for t in levels:
        res = computed[t]
        swiss[str(t)] = {"expected_score": res.expected_score.tolist(), "std_error": res.std_error.tolist()}
        if f"swiss_T{t}" in summaries:
            sm = summaries[f"swiss_T{t}"]
            swiss[str(t)]["expected_score_ci"] = np.stack([sm.ci_low, sm.ci_high], axis=1).tolist()
        swiss[str(t)].update(rank_probs=res.rank_probs.tolist(), expected_rank=res.expected_rank.tolist())
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
    uncertainty = uncertainty_document(unc, names)
    if unc:
        uncertainty["held_fixed_why"] = {b: held_fixed[b] for b in uncertainty["held_fixed"] if b in held_fixed}
        uncertainty["note"] = uncertainty_note(uncertainty)
    return {
        "title": cfg.title,
        "models": names,
        "benchmarks": benches,
        "rounds": [[benches[c] for c in group] for group in cols],
        "rows": rows,
        "swiss": swiss,
        "uncertainty": uncertainty,
        "scores": scores,
        "metrics": metrics,
        "training": training_summary(entries),
        "agreement": leaderboard_agreement(rows),
        "settings": {"n_sims": r.n_sims, "eliminate": levels, "pairing": r.pairing, "reference_exact": r.reference_exact,
                     "seed": r.seed, "n_bootstrap": r.n_bootstrap, "n_resamples": r.n_resamples, "resample_sims": r.resample_sims},
        "warnings": [],
    }
