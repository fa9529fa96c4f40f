"""report.html: one self-contained page (plots embedded as base64 PNG, inline CSS, no network).

Order, as a reader wants it: what the data support (the headline names a single leader only
when its interval is clear of every other model's), the leaderboard with every value's 95%
interval from item resampling, then the per-benchmark scores, the rank distributions, failure
sensitivity, per-metric extras, the agreement between ranking methods, and the training metrics
and curves of every trained model. Numbers come from the leaderboard dict only.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from robalign.ranking.leaderboard import headline, rank_cell, separable_names, uncertainty_note
from robalign.ranking.swiss import rules_note

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d232b; margin: 0; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 28px 48px; }
h1 { font-size: 26px; margin: 10px 0 4px; }
h2 { font-size: 19px; margin: 34px 0 8px; border-bottom: 1px solid #d9dde3; padding-bottom: 4px; }
p.sub { color: #5b6573; margin: 0 0 10px; }
p.summary { margin: 0 0 6px; font-size: 15.5px; }
section { background: #fff; border: 1px solid #e3e6ea; border-radius: 8px; padding: 6px 18px 16px; margin-top: 18px; }
table { border-collapse: collapse; width: auto; min-width: 55%; font-size: 14px; font-variant-numeric: tabular-nums; }
table.wide { width: 100%; }
.ci { display: block; color: #6b7480; font-size: 11.5px; font-weight: 400; line-height: 1.1; }
th, td { padding: 5px 9px; border-bottom: 1px solid #eceef1; text-align: right; white-space: nowrap; }
th { background: #f0f2f5; font-weight: 600; position: sticky; top: 0; }
th:first-child, td:first-child, td.name, th.name { text-align: left; }
tr:nth-child(even) td { background: #fafbfc; }
tr.cut td { border-top: 2px solid #8a94a3; }
td.unresolved { color: #7a4f00; }
td.best { font-weight: 700; color: #0b6b3a; }
.scroll { overflow-x: auto; }
img { max-width: 100%; height: auto; display: block; margin: 10px 0; }
.note { color: #5b6573; font-size: 13px; }
.warn { background: #fff6e5; border-left: 4px solid #e0a100; padding: 6px 12px; margin: 4px 0; font-size: 14px; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
@media (max-width: 900px) { .grid2 { grid-template-columns: 1fr; } }
"""

# After load: mark whether every plot decoded (a test, and a reader's devtools, can read it).
CHECK_JS = """
window.jsErrors = 0;
window.addEventListener('error', function () { window.jsErrors += 1; }, true);
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).length;
  document.body.setAttribute('data-images', imgs.length);
  document.body.setAttribute('data-images-broken', bad);
  document.body.setAttribute('data-tables', document.querySelectorAll('table').length);
  document.body.setAttribute('data-js-errors', window.jsErrors);
  document.body.setAttribute('data-checked', 'yes');
});
"""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(head: list[str], rows: list[list[str]], best: dict[int, set[int]] | None = None, cls: str = "",
           row_cls: list[str] | None = None, cell_cls: dict[tuple[int, int], str] | None = None) -> str:
    best, cell_cls = best or {}, cell_cls or {}
    out = [f'<div class="scroll"><table class="{cls}"><thead><tr>']
    out += [f'<th class="{"name" if j < 2 and cls == "wide" else ""}">{html.escape(h)}</th>' for j, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for i, r in enumerate(rows):
        cells = []
        for j, c in enumerate(r):
            classes = ["best"] * (i in best.get(j, set())) + ["name"] * (j < 2 and cls == "wide") + [cell_cls.get((i, j), "")]
            cells.append(f'<td class="{" ".join(x for x in classes if x)}">{c}</td>')
        out.append(f'<tr class="{row_cls[i] if row_cls else ""}">' + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _best_rows(values: list[float], higher: bool = True) -> set[int]:
    finite = [v for v in values if v == v]
    if not finite:
        return set()
    target = max(finite) if higher else min(finite)
    best = {i for i, v in enumerate(values) if v == target}
    return best if len(best) < len(values) else set()  # all equal: nothing to point at


def _not_separable_from_best(values: list[float], intervals: list | None, higher: bool = True) -> set[int]:
    """Rows to mark in a column: with intervals, the best row and every row whose interval overlaps
    its interval (the data do not put them below it); without, the best value only."""
    if not intervals or any(iv is None for iv in intervals):
        return _best_rows(values, higher)
    finite = [i for i, v in enumerate(values) if v == v]
    if not finite:
        return set()
    b = max(finite, key=lambda i: values[i] if higher else -values[i])
    lo_b, hi_b = intervals[b]
    return {i for i, (lo, hi) in enumerate(intervals) if lo <= hi_b and lo_b <= hi}


def _cell(value: float, fmt: str, interval: list | None, title: str = "") -> str:
    t = f" title='{html.escape(title)}'" if title else ""
    ci = "" if interval is None else f"<span class='ci'>[{format(interval[0], fmt)}, {format(interval[1], fmt)}]</span>"
    return f"<span{t}>{format(value, fmt)}</span>{ci}"


def leaderboard_table(board: dict) -> str:
    rows = board["rows"]
    s = board["settings"]
    levels = s["eliminate"]
    t = rows[0]["eliminate"] if rows else 2
    has_ci = bool(rows) and rows[0].get("expected_score_ci") is not None
    has_item_bt = any("bt_item_rating" in r for r in rows)

    # (header, cell of a row, values and intervals for the mark, higher is better)
    cols: list[tuple] = [("#", rank_cell, None), ("model", lambda r: html.escape(str(r["model"])), None)]
    for lv in levels:
        def es_cell(r, lv=lv):
            if not has_ci:
                return f"{r[f'expected_score_T{lv}']:.2f}<span class='ci'>± {r[f'expected_score_T{lv}_se']:.3f} (MC)</span>"
            return _cell(r[f"expected_score_T{lv}"], ".2f", r["expected_score_ci"][str(lv)],
                         f"Monte Carlo s.e. {r[f'expected_score_T{lv}_se']:.3f}")
        cols.append((f"E[S] T={lv}", es_cell, ([r[f"expected_score_T{lv}"] for r in rows],
                                                [r["expected_score_ci"][str(lv)] for r in rows] if has_ci else None, True)))
    cols.append(("fail. sens.", lambda r: _cell(r["failure_sensitivity"], "+.2f", r.get("failure_sensitivity_ci")), None))
    if has_ci:
        cols.append(("P(top)", lambda r: f"{r['p_first_resampled']:.2f}", ([r["p_first_resampled"] for r in rows], None, True)))
    else:
        cols.append(("P(1st)", lambda r: f"{r['p_first']:.2f}", ([r["p_first"] for r in rows], None, True)))
    bt_iv = [r["bt_rating_ci"] for r in rows] if has_ci else [[r["bt_ci_low"], r["bt_ci_high"]] for r in rows]
    cols.append(("BT", lambda r: _cell(r["bt_rating"], ".0f", r["bt_rating_ci"] if has_ci else [r["bt_ci_low"], r["bt_ci_high"]]),
                 ([r["bt_rating"] for r in rows], bt_iv, True)))
    if has_item_bt:
        item_iv = [[r.get("bt_item_ci_low", float("nan")), r.get("bt_item_ci_high", float("nan"))] for r in rows]
        cols.append(("BT per item", lambda r: _cell(r.get("bt_item_rating", float("nan")), ".0f",
                                                    [r.get("bt_item_ci_low", float("nan")), r.get("bt_item_ci_high", float("nan"))]),
                     ([r.get("bt_item_rating", float("nan")) for r in rows], item_iv, True)))
    for key, head, fmt, higher in (("elo", "Elo", ".0f", True), ("mean_score", "mean score", ".3f", True), ("mean_rank", "mean rank ↓", ".2f", False)):
        cols.append((head, lambda r, key=key, fmt=fmt: _cell(r[key], fmt, r.get(f"{key}_ci")),
                     ([r[key] for r in rows], [r[f"{key}_ci"] for r in rows] if has_ci else None, higher)))

    body = [[render(r) for _, render, _ in cols] for r in rows]
    marks = {j: _not_separable_from_best(*spec) for j, (_, _, spec) in enumerate(cols) if spec is not None}
    row_cls, cell_cls = [""] * len(rows), {}
    groups = separable_names(rows)
    if groups:
        starts, k = set(), 0
        for g in groups:
            starts.add(k)
            k += len(g)
        row_cls = ["cut" if i in starts and i > 0 else "" for i in range(len(rows))]
        cell_cls = {(i, 0): "unresolved" for i, r in enumerate(rows) if r["rank_range"][0] != r["rank_range"][1]}
    if has_ci:
        note = ("Each value carries its 95% interval from resampling the benchmark items (below). # shows the ranks the "
                "E[S] (T=0) intervals allow: '2 (1-4)' means the data put this model anywhere from 1st to 4th. A thick line "
                "separates groups the data separate; inside a group the order is not resolved. Bold green: the best value of "
                "a column and every value whose interval overlaps it. "
                f"E[S]: expected points in {s['n_sims']:,} simulated Swiss tournaments (its Monte Carlo s.e. on hover); T = models "
                f"eliminated after each round; failure sensitivity = E[S] at T=0 minus at T={t}. P(top): share of resampled tables "
                "in which the model has the highest E[S] (T=0). BT: Bradley-Terry on the Elo scale from benchmark-level outcomes; "
                "BT per item: from every item's outcomes, items bootstrapped. Mean rank: lower is better. ")
    else:
        note = (f"E[S]: expected points in {s['n_sims']:,} simulated Swiss tournaments (± Monte Carlo s.e.); T = models eliminated "
                f"after each round. Failure sensitivity = E[S] at T=0 minus at T={t}. BT: Bradley-Terry on the Elo scale with "
                "bootstrap 95% intervals over benchmarks (BT per item: over items). Mean rank: lower is better. Best value per "
                "column in bold green. ")
    note += f"{rules_note(s['pairing'], s.get('reference_exact', False))} {uncertainty_note(board.get('uncertainty'))}"
    return _table([h for h, _, _ in cols], body, marks, cls="wide", row_cls=row_cls, cell_cls=cell_cls) + f"<p class='note'>{html.escape(note)}</p>"


def scores_table(board: dict) -> str:
    benches = board["benchmarks"]
    order = [r["model"] for r in board["rows"]]
    body = [[html.escape(m), *[f"{board['scores'][m][b]:.3f}" for b in benches]] for m in order]
    best = {1 + j: _best_rows([board["scores"][m][b] for m in order]) for j, b in enumerate(benches)}
    rounds = " → ".join("+".join(g) for g in board["rounds"])
    return _table(["model", *benches], body, best) + f"<p class='note'>Rounds, in order: {html.escape(rounds)}.</p>"


def metrics_table(board: dict) -> str:
    keys = sorted({k for m in board["metrics"].values() for k in m})
    if not keys:
        return ""
    order = [r["model"] for r in board["rows"]]
    body = [[html.escape(m), *[f"{board['metrics'][m].get(k, float('nan')):.3f}" for k in keys]] for m in order]
    return _table(["model", *keys], body)


def agreement_table(board: dict) -> str:
    a = board["agreement"]
    body = [[html.escape(n), *["n/a" if v is None else f"{v:.2f}" for v in row]] for n, row in zip(a["methods"], a["kendall_tau"])]
    return _table(["Kendall tau", *a["methods"]], body)


def training_table(board: dict) -> str:
    """Last logged value of the training metrics (eval/clean_accuracy first) of every model with a run."""
    from robalign.report.runs import TRAINING_KEYS

    tr = board.get("training") or {}
    if not tr:
        return ""
    keys = [k for k in TRAINING_KEYS if any(k in m for m in tr.values())]
    order = [r["model"] for r in board["rows"] if r["model"] in tr]
    body = [[html.escape(m), *[f"{tr[m][k]:.3f}" if k in tr[m] else "" for k in keys]] for m in order]
    best = {1 + j: _best_rows([tr[m].get(k, float("nan")) for m in order]) for j, k in enumerate(keys) if "accurac" in k}
    return _table(["model", *keys], body, best)


def summary(board: dict) -> str:
    """What a reader wants first: which models the data separate (never a single leader when the
    intervals overlap), who is brittle, do the methods agree."""
    rows = board["rows"]
    if not rows:
        return ""
    brittle = max(rows, key=lambda r: r["failure_sensitivity"])
    taus = [v for i, row in enumerate(board["agreement"]["kendall_tau"]) for j, v in enumerate(row) if j > i and v is not None]
    parts = [html.escape(headline(rows))]
    if brittle["failure_sensitivity"] > 0:
        ci = brittle.get("failure_sensitivity_ci")
        span = "" if ci is None else f", 95% interval {ci[0]:.2f} to {ci[1]:.2f}"
        parts.append(f"Most failure-sensitive: <b>{html.escape(str(brittle['model']))}</b> "
                     f"(loses {brittle['failure_sensitivity']:.2f} expected points{span} when {brittle['eliminate']} models are eliminated per round).")
    if taus:
        parts.append(f"Kendall tau between the ranking methods: {min(taus):.2f} to {max(taus):.2f}.")
    out = "<p class='summary'>" + " ".join(parts) + "</p>"
    if rows[0].get("expected_score_ci") is None:
        out += f"<div class='warn'>{html.escape(uncertainty_note(board.get('uncertainty')))}</div>"
    return out


def render_html(board: dict, figs: dict[str, Path], curves: dict[str, tuple[Path, str]], *, title: str) -> str:
    s = board["settings"]
    sub = (f"{len(board['models'])} models · {len(board['benchmarks'])} benchmarks · {len(board['rounds'])} rounds · "
           f"{s['n_sims']:,} simulations per level · {s['pairing']} pairing · seed {s['seed']}"
           + (f" · {s['n_resamples']} item resamples" if (board.get("uncertainty") or {}).get("source", "none") != "none" else ""))
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title><style>{CSS}</style><script>{CHECK_JS}</script></head><body><main>",
        f"<h1>{html.escape(title)}</h1><p class='sub'>{html.escape(sub)}</p>",
        summary(board),
    ]
    if board.get("warnings"):
        parts.append("<section><h2>Warnings</h2>" + "".join(f"<div class='warn'>{html.escape(w)}</div>" for w in board["warnings"]) + "</section>")
    parts += [
        "<section id='leaderboard'><h2>Leaderboard</h2>", leaderboard_table(board), _img(figs["expected_score"], "expected score per elimination level"), "</section>",
        "<section id='scores'><h2>Scores per benchmark</h2>", scores_table(board), _img(figs["score_matrix"], "score matrix heatmap"), "</section>",
        "<section id='ranks'><h2>Rank distributions and failure sensitivity</h2><div class='grid2'>",
        *([_img(figs["rank_resampled"], "rank across item resamples")] if figs.get("rank_resampled") else []),
        _img(figs["rank_probs"], "rank probability heatmap"), _img(figs["failure_sensitivity"], "failure sensitivity"), "</div>",
        "<p class='note'>Rank across item resamples: how surely the benchmark data place each model. Rank in simulated "
        "tournaments: the luck of the draw on this one table (pairings, sit-outs, coin flips on ties), not the data's uncertainty.</p></section>",
    ]
    m = metrics_table(board)
    if m:
        parts += ["<section id='metrics'><h2>Scorer metrics</h2>", m,
                  "<p class='note'>Extra metrics reported by the scorers (e.g. refusal, leakage and over-refusal rates on the safety set).</p></section>"]
    parts += ["<section id='agreement'><h2>Agreement between ranking methods</h2>", agreement_table(board), "</section>"]
    tt = training_table(board)
    if curves or tt:
        parts.append("<section id='training'><h2>Training metrics and curves</h2>")
        if tt:
            parts += [tt, "<p class='note'>Last logged value in each run's metrics.jsonl. eval/clean_accuracy: preference accuracy "
                      "on held-out pairs with true labels (what LCPO is meant to improve); rewards/accuracies: the same on the "
                      "(noisy) training pairs.</p>"]
        for name, (png, src) in curves.items():
            parts += [f"<h3>{html.escape(name)}</h3>", _img(png, f"training curves of {name}"), f"<p class='note'>from {html.escape(src)}</p>"]
        parts.append("</section>")
    parts.append("</main></body></html>\n")
    return "".join(parts)
