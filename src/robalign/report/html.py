"""report.html: one self-contained page (plots embedded as base64 PNG, inline CSS, no network).

Order, as a reader wants it: the leaderboard first, then the per-benchmark scores, the rank
probabilities, failure sensitivity, per-metric extras, the agreement between ranking methods,
and the training curves of every trained model. Numbers come from the leaderboard dict only.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

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


def _table(head: list[str], rows: list[list[str]], best: dict[int, set[int]] | None = None, cls: str = "") -> str:
    best = best or {}
    out = [f'<div class="scroll"><table class="{cls}"><thead><tr>']
    out += [f'<th class="{"name" if j < 2 and cls == "wide" else ""}">{html.escape(h)}</th>' for j, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for i, r in enumerate(rows):
        cells = [f'<td class="{"best" if i in best.get(j, set()) else ""}{" name" if j < 2 and cls == "wide" else ""}">{c}</td>' for j, c in enumerate(r)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _best_rows(values: list[float], higher: bool = True) -> set[int]:
    finite = [v for v in values if v == v]
    if not finite:
        return set()
    target = max(finite) if higher else min(finite)
    best = {i for i, v in enumerate(values) if v == target}
    return best if len(best) < len(values) else set()  # all equal: nothing to point at


def leaderboard_table(board: dict) -> str:
    rows = board["rows"]
    levels = board["settings"]["eliminate"]
    t = rows[0]["eliminate"] if rows else 2
    head = ["#", "model", *[f"E[S] T={lv}" for lv in levels], "fail. sens.", "P(1st)", "BT"]
    has_item_bt = any("bt_item_rating" in r for r in rows)
    if has_item_bt:
        head.append("BT per item")
    head += ["Elo", "mean score", "mean rank ↓"]
    body, cols = [], {}
    for r in rows:
        cells = [str(r["rank"]), html.escape(str(r["model"]))]
        cells += [f"{r[f'expected_score_T{lv}']:.2f}<span class='ci'>± {r[f'expected_score_T{lv}_se']:.2f}</span>" for lv in levels]
        cells += [f"{r['failure_sensitivity']:+.2f}", f"{r['p_first']:.2f}",
                  f"{r['bt_rating']:.0f}<span class='ci'>[{r['bt_ci_low']:.0f}, {r['bt_ci_high']:.0f}]</span>"]
        if has_item_bt:
            cells.append(f"{r.get('bt_item_rating', float('nan')):.0f}<span class='ci'>[{r.get('bt_item_ci_low', float('nan')):.0f}, {r.get('bt_item_ci_high', float('nan')):.0f}]</span>")
        cells += [f"{r['elo']:.0f}", f"{r['mean_score']:.3f}", f"{r['mean_rank']:.2f}"]
        body.append(cells)
    for j, lv in enumerate(levels):
        cols[2 + j] = _best_rows([r[f"expected_score_T{lv}"] for r in rows])
    off = 2 + len(levels)
    cols[off + 1] = _best_rows([r["p_first"] for r in rows])
    cols[off + 2] = _best_rows([r["bt_rating"] for r in rows])
    k = off + 3 + has_item_bt
    cols[k] = _best_rows([r["elo"] for r in rows])
    cols[k + 1] = _best_rows([r["mean_score"] for r in rows])
    cols[k + 2] = _best_rows([r["mean_rank"] for r in rows], higher=False)
    note = (f"<p class='note'>E[S]: expected points in {board['settings']['n_sims']:,} simulated Swiss tournaments "
            f"(± Monte Carlo s.e.); T = models eliminated after each round. Failure sensitivity = E[S] at T=0 minus at T={t}. "
            "BT: Bradley-Terry on the Elo scale with bootstrap 95% intervals, from benchmark-level (and per-item) outcomes. "
            "Mean rank: lower is better. Best value per column in bold green. "
            f"{html.escape(rules_note(board['settings']['pairing'], board['settings'].get('reference_exact', False)))}</p>")
    return _table(head, body, cols, cls="wide") + note


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


def summary(board: dict) -> str:
    """Three facts a reader wants first: who leads (and how surely), who is brittle, do the methods agree."""
    rows = board["rows"]
    if not rows:
        return ""
    top = rows[0]
    brittle = max(rows, key=lambda r: r["failure_sensitivity"])
    taus = [v for i, row in enumerate(board["agreement"]["kendall_tau"]) for j, v in enumerate(row) if j > i and v is not None]
    parts = [f"Leader by Swiss expected score: <b>{html.escape(str(top['model']))}</b> "
             f"(E[S] {top['expected_score']:.2f}, first in {100 * top['p_first']:.0f}% of simulated tournaments)."]
    if brittle["failure_sensitivity"] > 0:
        parts.append(f"Most failure-sensitive: <b>{html.escape(str(brittle['model']))}</b> "
                     f"(loses {brittle['failure_sensitivity']:.2f} expected points when {brittle['eliminate']} models are eliminated per round).")
    if taus:
        parts.append(f"Kendall tau between the ranking methods: {min(taus):.2f} to {max(taus):.2f}.")
    return "<p class='summary'>" + " ".join(parts) + "</p>"


def render_html(board: dict, figs: dict[str, Path], curves: dict[str, tuple[Path, str]], *, title: str) -> str:
    s = board["settings"]
    sub = (f"{len(board['models'])} models · {len(board['benchmarks'])} benchmarks · {len(board['rounds'])} rounds · "
           f"{s['n_sims']:,} simulations per level · {s['pairing']} pairing · seed {s['seed']}")
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
        "<section id='ranks'><h2>Rank probabilities and failure sensitivity</h2><div class='grid2'>",
        _img(figs["rank_probs"], "rank probability heatmap"), _img(figs["failure_sensitivity"], "failure sensitivity"), "</div></section>",
    ]
    m = metrics_table(board)
    if m:
        parts += ["<section id='metrics'><h2>Scorer metrics</h2>", m,
                  "<p class='note'>Extra metrics reported by the scorers (e.g. refusal, leakage and over-refusal rates on the safety set).</p></section>"]
    parts += ["<section id='agreement'><h2>Agreement between ranking methods</h2>", agreement_table(board), "</section>"]
    if curves:
        parts.append("<section id='training'><h2>Training curves</h2>")
        for name, (png, src) in curves.items():
            parts += [f"<h3>{html.escape(name)}</h3>", _img(png, f"training curves of {name}"), f"<p class='note'>from {html.escape(src)}</p>"]
        parts.append("</section>")
    parts.append("</main></body></html>\n")
    return "".join(parts)
