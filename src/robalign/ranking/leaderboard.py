"""One leaderboard from a score table: every ranking method side by side (pure, no I/O).

Why one table: a single aggregate hides how fragile it is. Putting the Swiss-tournament
expected score (with and without elimination), Bradley-Terry with its interval, Elo, the mean
and the mean rank in one row per model lets a reader see both the ranking and how much it
depends on the method. Used by ``robalign rank`` and by the tournament stage; the callers do
the file writing.

Given per-item results (or per-cell standard errors) every column also gets a 95% interval from
resampling the benchmark items (robalign.ranking.uncertainty), and the order is only claimed
where those intervals separate (:func:`separable_names`, :func:`headline`). Without them the
rows carry only Monte Carlo error, and :func:`uncertainty_note` says so.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from robalign.errors import UserError
from robalign.ranking.agreement import tau_matrix
from robalign.ranking.baselines import mean_rank, mean_score
from robalign.ranking.bradley_terry import bradley_terry
from robalign.ranking.elo import elo
from robalign.ranking._checks import as_score_matrix
from robalign.ranking.swiss import swiss_tournament
from robalign.ranking.uncertainty import (
    DEFAULT_RESAMPLE_SIMS,
    DEFAULT_RESAMPLES,
    MIN_RESAMPLES,
    ItemBlock,
    rank_ranges,
    ranking_uncertainty,
    resample_tables,
    separable_groups,
)

#: The leaderboard's pairing: "swiss" pairs the odd model of a points group down, where the paper's
#: "reference" sits it out with 0 points, so a strong model that draws the bye is not held back (on
#: simulated tables with a known order swiss ranks the true best first more often: scripts/bench_pairing.py,
#: docs/experiments.md "Swiss pairing and elimination level"). pairing="reference" restores the paper's rule.
DEFAULT_PAIRING = "swiss"

#: Row keys, in column order; floats unless noted.
ROW_KEYS = (
    "rank",  # int, 1 = highest E[S] without elimination
    "model",  # str
    "expected_score",  # E[S], eliminate = 0
    "expected_score_se",
    "expected_score_elim",  # E[S], eliminate = row["eliminate"]
    "expected_score_elim_se",
    "failure_sensitivity",  # expected_score - expected_score_elim
    "eliminate",  # int
    "p_first",  # P(rank 1) in the eliminate = 0 tournament
    "bt_rating",
    "bt_ci_low",
    "bt_ci_high",
    "elo",
    "mean_score",
    "mean_rank",  # 1 = best
    # From resampling the benchmark items (None when the table has no items or standard errors):
    "expected_score_ci",  # {str(T): [low, high]} per elimination level
    "failure_sensitivity_ci",  # [low, high]
    "rank_range",  # [best, worst] rank the T=0 E[S] intervals allow; one value = placed by the data
    "p_first_resampled",  # share of resamples in which the model has the highest E[S] (T=0)
    "bt_rating_ci",  # [low, high] (the bt_ci_* above resample benchmarks, not items)
    "elo_ci",
    "mean_score_ci",
    "mean_rank_ci",
)

#: Methods of robalign.ranking.uncertainty -> the row key of their interval.
_CI_KEYS = {"bradley_terry": "bt_rating_ci", "elo": "elo_ci", "mean_score": "mean_score_ci", "mean_rank": "mean_rank_ci",
            "failure_sensitivity": "failure_sensitivity_ci"}


def _check_names(names: Sequence[str], n: int, what: str) -> list[str]:
    names = [str(x) for x in names]
    if len(names) != n:
        raise UserError(f"got {len(names)} {what} names for {n} {what}s; expected one name per {what}")
    seen = set()
    for x in names:
        if x in seen:
            raise UserError(f"{what} name {x!r} appears twice; expected unique {what} names")
        seen.add(x)
    return names


def resolve_rounds(rounds, bench_names: Sequence[str]) -> list[list[int]]:
    """Round groups given by benchmark name (or column index) -> column indices.

    ``None`` means one benchmark per round in column order. An unknown name raises a UserError
    listing the valid ones.
    """
    names = list(bench_names)
    if rounds is None:
        return [[j] for j in range(len(names))]
    if isinstance(rounds, np.ndarray):
        rounds = rounds.tolist()
    if isinstance(rounds, (str, bytes)) or not isinstance(rounds, Sequence) or len(rounds) == 0:
        raise UserError(f"rounds must be a non-empty list of benchmark groups, e.g. [['mmlu', 'bbh'], ['gsm8k']]; got {rounds!r}")
    index = {n: j for j, n in enumerate(names)}
    out = []
    for r, group in enumerate(rounds, start=1):
        if isinstance(group, np.ndarray):
            group = group.tolist()
        if isinstance(group, (str, numbers.Integral)):
            group = [group]
        cols = []
        for item in group:
            if isinstance(item, str):
                if item not in index:
                    raise UserError(
                        f"round {r} names benchmark {item!r}, which is not a column of the score table; "
                        f"expected one of: {', '.join(names)}"
                    )
                cols.append(index[item])
            else:
                cols.append(item)  # an index: validated by swiss_tournament
        out.append(cols)
    return out


def build_leaderboard(
    scores,
    model_names: Sequence[str],
    bench_names: Sequence[str],
    rounds=None,
    *,
    n_sims: int = 100_000,
    eliminate: int = 2,
    pairing: str = DEFAULT_PAIRING,
    reference_exact: bool = False,
    n_bootstrap: int = 200,
    seed: int | np.random.Generator = 0,
    swiss_out: dict | None = None,
    items: Sequence[ItemBlock | None] | None = None,
    stderr=None,
    n_resamples: int = DEFAULT_RESAMPLES,
    resample_sims: int = DEFAULT_RESAMPLE_SIMS,
    levels: Sequence[int] | None = None,
    ci: float = 0.95,
    uncertainty_out: dict | None = None,
) -> list[dict]:
    """One dict per model (keys :data:`ROW_KEYS`), sorted by E[S] without elimination, best first.

    Args:
        scores: (n_models, n_benchmarks) score table, higher is better, no NaN.
        model_names, bench_names: row and column labels.
        rounds: round groups of benchmark names or column indices; None = one benchmark a round.
        n_sims, pairing, reference_exact: Swiss Monte Carlo settings (see :func:`swiss_tournament`).
        eliminate: the T of the failure-sensitivity tournament (E[S] at T=0 minus at T=eliminate).
        n_bootstrap: Bradley-Terry bootstrap resamples (benchmarks are the resampled items).
        seed: one int/Generator; ``np.random.default_rng(seed).spawn(5 + k)`` gives, in order, the
            streams of the T=0 tournament, the T=eliminate tournament, the Bradley-Terry bootstrap,
            the Elo replays, the item resampling, and (with `swiss_out`) the k other levels of
            `levels`, smallest first. This layout is private to this function.
        swiss_out: when a dict, receives the SwissResult at every elimination level of `levels`
            ({0: ..., eliminate: ..., t: ...}; those behind the rows are the rows' own simulations),
            so a caller reporting every level never simulates or seeds one itself.
        items: per benchmark column, its per-item results (:func:`~robalign.ranking.uncertainty.item_block`)
            or None; stderr: (n_models, n_benchmarks) per-cell standard errors (NaN = unknown).
            Either gives every column an interval from ``n_resamples`` resampled tables
            (``resample_sims`` tournaments each, at every T in ``levels``, default {0, eliminate});
            columns with neither are held fixed. ``n_resamples=0`` or neither: no intervals.
        ci: interval level.
        uncertainty_out: when a dict, receives what :func:`uncertainty_document` needs: the
            per-method summaries, the settings, and which benchmarks were held fixed.
    """
    s = as_score_matrix(scores)
    models = _check_names(model_names, s.shape[0], "model")
    benches = _check_names(bench_names, s.shape[1], "benchmark")
    cols = resolve_rounds(rounds, benches)
    levels = sorted({0, int(eliminate), *(levels or ())})
    others = [t for t in levels if t not in (0, eliminate)] if swiss_out is not None else []
    rng_base, rng_elim, rng_bt, rng_elo, rng_items, *rng_others = np.random.default_rng(seed).spawn(5 + len(others))

    rules = dict(n_sims=n_sims, pairing=pairing, reference_exact=reference_exact)
    base = swiss_tournament(s, cols, eliminate=0, seed=rng_base, **rules)
    elim = swiss_tournament(s, cols, eliminate=eliminate, seed=rng_elim, **rules)
    if swiss_out is not None:
        swiss_out[eliminate] = elim
        swiss_out[0] = base  # after: with eliminate=0 the rows' E[S] is `base`'s
        for t, rng in zip(others, rng_others):
            swiss_out[t] = swiss_tournament(s, cols, eliminate=t, seed=rng, **rules)
    bt = bradley_terry(s, n_bootstrap=n_bootstrap, seed=rng_bt)
    el = elo(s, seed=rng_elo)
    ms, mr = mean_score(s), mean_rank(s)
    unc = _item_uncertainty(s, cols, benches, items, stderr, n_resamples, resample_sims, levels, ci,
                            dict(pairing=pairing, reference_exact=reference_exact), rng_items)
    if uncertainty_out is not None and unc is not None:
        uncertainty_out.update(unc)

    rows = []
    for i, name in enumerate(models):
        rows.append(
            {
                "model": name,
                "expected_score": float(base.expected_score[i]),
                "expected_score_se": float(base.std_error[i]),
                "expected_score_elim": float(elim.expected_score[i]),
                "expected_score_elim_se": float(elim.std_error[i]),
                "failure_sensitivity": float(base.expected_score[i] - elim.expected_score[i]),
                "eliminate": int(eliminate),
                "p_first": float(base.rank_probs[i, 0]),
                "bt_rating": float(bt.ratings[i]),
                "bt_ci_low": float(bt.ci_low[i]),
                "bt_ci_high": float(bt.ci_high[i]),
                "elo": float(el.ratings[i]),
                "mean_score": float(ms[i]),
                "mean_rank": float(mr[i]),
                **_interval_keys(unc, i, levels),
            }
        )
    rows.sort(key=lambda row: (-row["expected_score"], -row["mean_score"], row["model"]))
    return [{"rank": k, **row} for k, row in enumerate(rows, start=1)]


def _item_uncertainty(s, cols, benches, items, stderr, n_resamples, resample_sims, levels, ci, swiss_options, rng) -> dict | None:
    """Resample the table and re-rank it (robalign.ranking.uncertainty); None when there is nothing to resample."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, numbers.Integral) or not (n_resamples == 0 or n_resamples >= MIN_RESAMPLES):
        raise UserError(f"n_resamples must be 0 (no intervals) or an integer >= {MIN_RESAMPLES}, got {n_resamples!r}")
    se = None if stderr is None else np.asarray(stderr, dtype=np.float64)
    has_items = [items is not None and items[b] is not None for b in range(len(benches))]
    has_se = [se is not None and bool(np.nan_to_num(se[:, b]).any()) for b in range(len(benches))]
    if n_resamples == 0 or not any(has_items) and not any(has_se):
        return None
    rng_tables, rng_rank = rng.spawn(2)
    tables = resample_tables(s, items=items, stderr=se, n_resamples=n_resamples, seed=rng_tables)
    summaries = ranking_uncertainty(tables, cols, levels=levels, sims_per_resample=resample_sims, seed=rng_rank,
                                    swiss_options=swiss_options, ci=ci)
    source = "items" if all(has_items) else "stderr" if not any(has_items) else "items+stderr" if any(has_se) else "items"
    return {
        "summaries": summaries,
        "source": source,
        "n_resamples": int(n_resamples),
        "sims_per_resample": int(resample_sims),
        "ci": float(ci),
        "levels": list(levels),
        "held_fixed": [b for b, i, e in zip(benches, has_items, has_se) if not i and not e],
    }


def _pair(lo, hi, i: int) -> list[float]:
    return [float(lo[i]), float(hi[i])]


def _interval_keys(unc: dict | None, i: int, levels: Sequence[int]) -> dict:
    """Row i's interval keys (ROW_KEYS' second block); all None without resampling."""
    keys = ["expected_score_ci", "rank_range", "p_first_resampled", *_CI_KEYS.values()]
    if unc is None:
        return dict.fromkeys(keys)
    sm = unc["summaries"]
    base = sm["swiss_T0"]
    out = {
        "expected_score_ci": {str(t): _pair(sm[f"swiss_T{t}"].ci_low, sm[f"swiss_T{t}"].ci_high, i) for t in levels},
        "rank_range": [int(x) for x in rank_ranges(base.ci_low, base.ci_high)[i]],
        "p_first_resampled": float(base.p_first[i]),
    }
    for method, key in _CI_KEYS.items():
        out[key] = _pair(sm[method].ci_low, sm[method].ci_high, i) if method in sm else None
    return out


def uncertainty_document(unc: dict | None, model_names: Sequence[str]) -> dict:
    """The ``uncertainty`` block of leaderboard.json from a build_leaderboard ``uncertainty_out``.

    ``methods``: for every method (``swiss_T{t}``, ``failure_sensitivity``, ``bradley_terry``, ``elo``,
    ``mean_score``, ``mean_rank``) per model, in ``models`` order: ``ci_low``, ``ci_high``,
    ``p_first`` (share of resamples ranking it first) and ``rank_probs`` (share at each rank).
    """
    if not unc:
        return {"source": "none", "note": uncertainty_note(None)}
    doc = {k: unc[k] for k in ("source", "n_resamples", "sims_per_resample", "ci", "levels", "held_fixed")}
    doc["models"] = list(model_names)
    doc["methods"] = {
        k: {"ci_low": v.ci_low.tolist(), "ci_high": v.ci_high.tolist(), "p_first": v.p_first.tolist(),
            "rank_probs": v.rank_probs.tolist(), "higher_is_better": v.higher_is_better}
        for k, v in unc["summaries"].items()
    }
    doc["note"] = uncertainty_note(doc)
    return doc


def uncertainty_note(doc: dict | None) -> str:
    """One or two sentences saying where the intervals come from, or that there are none."""
    if not doc or doc.get("source", "none") == "none":
        return ("Only Monte Carlo error is shown (± s.e. over the simulated tournaments): the table has no per-item "
                "results or standard errors, so how surely the benchmarks separate the models is unknown "
                "(give <benchmark>_stderr columns or --stderr FILE for intervals).")
    what = {"items": "resampling the benchmark items (bootstrap, the same items for every model)",
            "stderr": "resampling every score from its standard error",
            "items+stderr": "resampling the benchmark items, or a score from its standard error where there are no items"}[doc["source"]]
    note = (f"Intervals: {100 * doc['ci']:.0f}% percentile intervals over {doc['n_resamples']} tables made by {what}, "
            f"each ranked again ({doc['sims_per_resample']:,} simulated tournaments per level).")
    if doc.get("held_fixed"):
        why = doc.get("held_fixed_why") or {}
        fixed = ", ".join(f"{b} ({why[b]})" if b in why else b for b in doc["held_fixed"])
        note += f" Held fixed, so their noise is not in the intervals: {fixed}."
    return note


def separable_names(rows: Sequence[dict]) -> list[list[str]] | None:
    """Model names in consecutive groups, best first, cut only where the T=0 E[S] intervals separate
    (robalign.ranking.uncertainty.separable_groups); None when the rows carry no intervals."""
    if not rows or rows[0].get("expected_score_ci") is None:
        return None
    point = [r["expected_score"] for r in rows]
    lo = [r["expected_score_ci"]["0"][0] for r in rows]
    hi = [r["expected_score_ci"]["0"][1] for r in rows]
    return [[rows[i]["model"] for i in g] for g in separable_groups(point, lo, hi)]


def headline(rows: Sequence[dict]) -> str:
    """What the data support about the top, in one or two plain sentences.

    A single leader is named only when its interval is clear of every other model's; otherwise
    the top group is named and said to be unresolved. Without intervals it says so.
    """
    if not rows:
        return ""
    groups = separable_names(rows)
    if groups is None:
        top = rows[0]
        return (f"Highest Swiss expected score: {top['model']} (E[S] {top['expected_score']:.2f}); with Monte Carlo error "
                "only, it is unknown whether the benchmarks separate it from the others.")
    top = groups[0]
    if len(top) == 1:
        text = f"Leader by Swiss expected score: {top[0]} (its 95% interval lies above every other model's)."
    elif len(top) == len(rows):
        text = f"No model is separated from the others: all {len(rows)} intervals of the Swiss expected score overlap, so the order is not resolved."
    else:
        text = f"Top group by Swiss expected score: {', '.join(top)} — their 95% intervals overlap, so their order is not resolved."
    if 1 < len(groups) < len(rows):
        rest = "; ".join(", ".join(g) for g in groups[1:])
        text += f" Then, group by group: {rest}."
    return text


def leaderboard_agreement(rows: Sequence[dict]) -> dict:
    """Kendall tau between the methods' orderings of the leaderboard's models.

    Returns ``{"methods": [...], "kendall_tau": [[...]]}`` (JSON-ready; NaN -> None).
    """
    methods = {
        "swiss_E[S]": [r["expected_score"] for r in rows],
        "swiss_E[S]_elim": [r["expected_score_elim"] for r in rows],
        "bradley_terry": [r["bt_rating"] for r in rows],
        "elo": [r["elo"] for r in rows],
        "mean_score": [r["mean_score"] for r in rows],
        "mean_rank": [-r["mean_rank"] for r in rows],  # higher = better
    }
    names, tau = tau_matrix(methods)
    return {"methods": names, "kendall_tau": [[None if math.isnan(v) else float(v) for v in row] for row in tau]}


def _ci(v: list | None, fmt: str) -> str:
    return "" if v is None else f" [{format(v[0], fmt)}, {format(v[1], fmt)}]"


def rank_cell(row: dict) -> str:
    """``3`` when the intervals place the model, ``3 (2-5)`` when they allow ranks 2 to 5."""
    rr = row.get("rank_range")
    if rr is None or rr[0] == rr[1]:
        return str(row["rank"])
    return f"{row['rank']} ({rr[0]}-{rr[1]})"


def format_markdown(rows: Sequence[dict]) -> str:
    """The leaderboard as a GitHub markdown table (one line per model, best first).

    With item-level intervals every value carries its 95% interval and ``#`` shows the ranks the
    intervals allow; without them E[S] carries its Monte Carlo s.e. and the header says so.
    Without elimination (T = 0 only) the elimination and failure-sensitivity columns, which
    would repeat E[S] and read 0, are left out.
    """
    t = rows[0]["eliminate"] if rows else 2
    if rows and rows[0].get("expected_score_ci") is not None:
        cols = [
            ("# (95% range)", lambda r: rank_cell(r)),
            ("model", None),
            ("E[S] T=0 [95% CI]", lambda r: f"{r['expected_score']:.3f}{_ci(r['expected_score_ci']['0'], '.2f')}"),
            (f"E[S] T={t} [95% CI]", lambda r: f"{r['expected_score_elim']:.3f}{_ci(r['expected_score_ci'][str(t)], '.2f')}"),
            ("fail. sens. [95% CI]", lambda r: f"{r['failure_sensitivity']:+.3f}{_ci(r['failure_sensitivity_ci'], '+.2f')}"),
            ("P(top)", lambda r: f"{r['p_first_resampled']:.2f}"),
            ("BT [95% CI]", lambda r: f"{r['bt_rating']:.0f}{_ci(r['bt_rating_ci'], '.0f')}"),
            ("Elo [95% CI]", lambda r: f"{r['elo']:.0f}{_ci(r['elo_ci'], '.0f')}"),
            ("mean score [95% CI]", lambda r: f"{r['mean_score']:.3f}{_ci(r['mean_score_ci'], '.3f')}"),
            ("mean rank [95% CI]", lambda r: f"{r['mean_rank']:.2f}{_ci(r['mean_rank_ci'], '.2f')}"),
        ]
    else:
        cols = [
            ("#", lambda r: str(r["rank"])),
            ("model", None),
            ("E[S] (T=0) ± MC s.e.", lambda r: f"{r['expected_score']:.3f} ± {r['expected_score_se']:.3f}"),
            (f"E[S] (T={t})", lambda r: f"{r['expected_score_elim']:.3f}"),
            ("fail. sens.", lambda r: f"{r['failure_sensitivity']:+.3f}"),
            ("BT [95% CI, benchmarks resampled]", lambda r: f"{r['bt_rating']:.0f} [{r['bt_ci_low']:.0f}, {r['bt_ci_high']:.0f}]"),
            ("Elo", lambda r: f"{r['elo']:.0f}"),
            ("mean score", lambda r: f"{r['mean_score']:.2f}"),
            ("mean rank", lambda r: f"{r['mean_rank']:.2f}"),
        ]
    if t == 0:
        cols = [c for i, c in enumerate(cols) if i not in (3, 4)]
    lines = ["| " + " | ".join(h for h, _ in cols) + " |", "|" + "|".join(":---" if h == "model" else "---:" for h, _ in cols) + "|"]
    for r in rows:
        name = str(r["model"]).replace("|", "\\|")  # a pipe would split the cell
        lines.append("| " + " | ".join(name if f is None else f(r) for _, f in cols) + " |")
    return "\n".join(lines) + "\n"


def format_agreement_markdown(agreement: dict) -> str:
    """The Kendall-tau matrix of :func:`leaderboard_agreement` as a markdown table."""
    names = agreement["methods"]
    lines = ["| Kendall tau | " + " | ".join(names) + " |", "|:---|" + "---:|" * len(names)]
    for name, row in zip(names, agreement["kendall_tau"]):
        cells = ["n/a" if v is None else f"{v:.2f}" for v in row]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
