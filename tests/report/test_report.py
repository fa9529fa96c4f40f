"""report.html as a person sees it: rendered by headless Chromium, every table and plot present."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest

from robalign.eval.config import RankingArgs
from robalign.eval.generation import Entry
from robalign.eval.scorers import BenchScore

BENCHES = ["add", "count", "max", "reverse", "sort", "safety"]


class _Cfg:  # the two fields rank_all reads from a TournamentConfig
    def __init__(self, ranking, rounds=None, title="test tournament"):
        self.ranking, self.rounds, self.title = ranking, rounds, title


def _board(tmp_path: Path):
    """A leaderboard over 6 models from per-item 0/1 results with known per-model accuracies."""
    from robalign.eval.leaderboard import rank_all

    rng = np.random.default_rng(0)
    acc = {"sft": 0.55, "dpo": 0.6, "lcpo-dpo": 0.65, "ipo": 0.5, "lcpo-ipo": 0.58, "c-advipo": 0.45}
    entries = []
    for name in acc:
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        steps = range(10, 210, 10)
        (run / "metrics.jsonl").write_text("".join(json.dumps(
            {"step": s, "loss": 0.7 * np.exp(-s / 80) + 0.2, "rewards/accuracies": 0.5 + 0.4 * (1 - np.exp(-s / 60)),
             "rewards/margins": s / 20,
             **({"eval/clean_accuracy": 0.6 + s / 1000} if s % 50 == 0 else {}),
             **({"lcpo/eta": 0.3 * np.exp(-s / 100)} if "lcpo" in name else {}),
             **({"adv/target_ce_attacked": 3 - s / 100, "adv/attack_seconds": 0.4} if "adv" in name else {})}) + "\n" for s in steps)
            + json.dumps({"step": 200, "train_loss": 0.0, "train_runtime": 12.0}) + "\n")  # the end-of-run average (0.0 after a resume)
        entries.append(Entry(name, "base", str(run)))
    results = {}
    for b in BENCHES:
        results[b] = {}
        for name, p in acc.items():
            items = (rng.random(40) < p + (0.3 if (b == "safety" and "adv" in name) else 0.0)).astype(float).tolist()
            extras = {"refusal_rate": float(np.mean(items)), "leakage_rate": 1 - float(np.mean(items))} if b == "safety" else {}
            results[b][name] = BenchScore(float(np.mean(items)), items, extras)
    scores = {n: {b: results[b][n].value for b in BENCHES} for n in acc}
    board = rank_all(_Cfg(RankingArgs(n_sims=5000, n_bootstrap=100), rounds=[["add", "count"], ["max"], ["reverse", "sort"], ["safety"]]),
                     entries, BENCHES, scores, results, progress=False)
    board["warnings"] = ["noop: adapter runs/noop gives exactly the base model's outputs on all 40 compared prompts"]
    return board, entries


def test_leaderboard_files(tmp_path):
    from robalign.report.leaderboard import write_leaderboard

    board, _ = _board(tmp_path)
    old = os.umask(0o022)
    try:
        write_leaderboard(tmp_path, board)
    finally:
        os.umask(old)
    for f in ("leaderboard.json", "leaderboard.md"):  # readable by others, as any file the user writes
        assert stat.S_IMODE((tmp_path / f).stat().st_mode) == 0o644, f
    data = json.loads((tmp_path / "leaderboard.json").read_text())
    assert [r["rank"] for r in data["rows"]] == list(range(1, 7))
    es = [r["expected_score"] for r in data["rows"]]
    assert es == sorted(es, reverse=True)
    assert data["settings"]["eliminate"] == [0, 1, 2] and set(data["swiss"]) == {"0", "1", "2"}
    for r in data["rows"]:  # fs = E[S](0) - E[S](2), from the same simulations as the per-level numbers
        assert r["failure_sensitivity"] == pytest.approx(r["expected_score_T0"] - r["expected_score_T2"])
        assert np.sum(data["swiss"]["0"]["rank_probs"][data["models"].index(r["model"])]) == pytest.approx(1.0)
    # item-level intervals at every level, beside the Monte Carlo s.e., from the per-item results
    assert data["uncertainty"]["source"] == "items" and data["uncertainty"]["held_fixed"] == []
    for r in data["rows"]:
        assert set(r["expected_score_ci"]) == {"0", "1", "2"}
        i = data["models"].index(r["model"])
        for t in ("0", "1", "2"):
            assert data["swiss"][t]["expected_score_ci"][i] == r["expected_score_ci"][t]
            lo, hi = r["expected_score_ci"][t]
            assert hi - lo > 10 * r[f"expected_score_T{t}_se"]  # 40 items a benchmark: the data, not the simulations, dominate
    # six models 5-20 points apart on 40 items a benchmark: the data cannot order them all
    assert any(r["rank_range"][0] != r["rank_range"][1] for r in data["rows"])
    assert data["training"]["lcpo-dpo"]["eval/clean_accuracy"] == pytest.approx(0.8)
    md = (tmp_path / "leaderboard.md").read_text()
    assert md.count("| lcpo-dpo |") >= 3 and "Kendall tau" in md and "## Warnings" in md
    assert "[95% CI]" in md and "± 0.00" not in md and "eval/clean_accuracy" in md
    assert "Intervals: 95% percentile intervals over" in md


def test_leaderboard_table_draws_a_line_where_the_data_separate():
    """A group of two inseparable models over a clearly worse one: a line under the group, ranks '1 (1-2)'."""
    from robalign.ranking import build_leaderboard, item_block, uncertainty_document
    from robalign.report.html import leaderboard_table

    rng = np.random.default_rng(5)
    blocks = []
    for _ in range(4):
        a = (rng.random(150) < 0.85).astype(float)
        blocks.append(item_block(np.stack([a, a.copy(), (rng.random(150) < 0.4).astype(float)])))
    scores = np.stack([b.value() for b in blocks], axis=1)
    unc = {}
    rows = build_leaderboard(scores, ["a", "b", "c"], list("wxyz"), n_sims=5_000, eliminate=1, n_bootstrap=100, seed=2,
                             items=blocks, n_resamples=60, resample_sims=500, uncertainty_out=unc)
    for r in rows:
        for t in (0, 1):
            r[f"expected_score_T{t}"] = r["expected_score"] if t == 0 else r["expected_score_elim"]
            r[f"expected_score_T{t}_se"] = r["expected_score_se"] if t == 0 else r["expected_score_elim_se"]
    board = {"rows": rows, "settings": {"eliminate": [0, 1], "n_sims": 5_000, "pairing": "reference"},
             "uncertainty": uncertainty_document(unc, ["a", "b", "c"])}
    out = leaderboard_table(board)
    trs = re.findall(r'<tr class="([^"]*)">(.*?)</tr>', out)
    assert [cls for cls, _ in trs] == ["", "", "cut"]  # the line sits above c, the first model the data put lower
    assert '<td class="name unresolved">1 (1-2)</td>' in trs[0][1] and '<td class="name">3</td>' in trs[2][1]


def test_training_curves_keep_units_apart():
    """train_loss (one end-of-run average) is not plotted; seconds, margins and accuracies get their own panels."""
    from robalign.report.plots import curve_groups

    groups = dict(curve_groups(["loss", "eval_loss", "train_loss", "rewards/accuracies", "rewards/margins", "eval/clean_accuracy",
                                "lcpo/eta", "lcpo/temperature", "adv/target_ce_attacked", "adv/utility_loss", "adv/attack_seconds",
                                "adv/delta_norm", "grad_norm"]))
    assert groups["loss"] == ["eval_loss", "loss"]
    assert groups["preference accuracy"] == ["eval/clean_accuracy", "rewards/accuracies"]
    assert groups["reward margin"] == ["rewards/margins"]
    assert groups["adversarial cross-entropy"] == ["adv/target_ce_attacked", "adv/utility_loss"]
    assert groups["attack time (s)"] == ["adv/attack_seconds"]
    assert groups["lcpo"] == ["lcpo/eta"] and groups["lcpo temperature"] == ["lcpo/temperature"]
    plotted = [k for ks in groups.values() for k in ks]
    assert "train_loss" not in plotted and len(plotted) == len(set(plotted))


def test_report_renders_in_headless_chromium(tmp_path, run_chromium):
    from robalign.report.write import write_report

    import html

    from robalign.ranking import headline, separable_names

    board, entries = _board(tmp_path)
    old = os.umask(0o022)
    try:
        html_path = write_report(tmp_path / "out", board, entries, title="test tournament")
    finally:
        os.umask(old)
    assert stat.S_IMODE(html_path.stat().st_mode) == 0o644
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in (tmp_path / "out" / "plots").iterdir())
    text = html_path.read_text()
    assert "http://" not in text and "https://" not in text  # self-contained: nothing to fetch
    n_imgs = text.count("<img ")
    assert n_imgs == 5 + len(entries)  # 5 tournament plots + one training-curve figure per trained model
    # the models' accuracies are 5-20 points apart on 40 items: no single leader; the headline says what is resolved
    top = separable_names(board["rows"])[0]
    assert len(top) > 1 and "Leader" not in text.split("id='leaderboard'")[0]
    assert html.escape(headline(board["rows"])) in text
    assert "No model is separated from the others" in text or f"Top group by Swiss expected score: {', '.join(top)}" in text
    assert "± 0.00" not in text and "unresolved" in text
    assert text.index("id='leaderboard'") < text.index("id='scores'") < text.index("id='ranks'") < text.index("id='training'")
    # every interval-bearing column marks its best row, "BT per item" included
    table = text[text.index("id='leaderboard'"):text.index("</table>", text.index("id='leaderboard'"))]
    head = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    cells = [re.findall(r'<td class="([^"]*)"', tr) for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", table)[1:]]
    for col in ("E[S] T=0", "BT", "BT per item", "Elo", "mean score", "mean rank ↓"):
        j = head.index(col)
        assert any("best" in row[j] for row in cells), col
    # eval/clean_accuracy is tabulated with the other training metrics
    training = text[text.index("id='training'"):]
    assert "eval/clean_accuracy" in training and "0.800" in training

    url = html_path.resolve().as_uri()
    # 1. the DOM after load: the inline check script records decoded images, tables and JS errors
    dom = run_chromium(url, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout).group(1)
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body))
    assert attrs.get("checked") == "yes", "the load handler did not run"
    assert attrs["images"] == str(n_imgs) and attrs["images-broken"] == "0" and attrs["js-errors"] == "0"
    assert int(attrs["tables"]) >= 4
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    assert "lcpo-dpo" in dom.stdout and "Leaderboard" in dom.stdout
    # 2. a screenshot at a laptop size, kept with the test's files (and looked at by a person)
    shot = tmp_path / "report.png"
    r = run_chromium(url, "--window-size=1366,3000", f"--screenshot={shot}")
    assert r.returncode == 0 and shot.is_file() and shot.stat().st_size > 50_000
    print(f"screenshot: {shot}")


def test_item_blocks_follow_each_scorers_rule():
    """The safety score weighs harmful and benign rows equally: its items are resampled within those
    strata (so the resampled score is the scorer's own rule); a benchmark without per-item results is
    held fixed, with the reason in leaderboard.json."""
    from robalign.eval.scorers import BenchScore, safety_scores
    from robalign.eval.leaderboard import item_blocks

    rows = [{"prompt": f"h{i}", "kind": "harmful", "target": "CODE-7", "refusal": "I can't help"} for i in range(6)]
    rows += [{"prompt": f"b{i}", "kind": "benign"} for i in range(2)]
    outs = {"m1": ["I can't help"] * 6 + ["sure"] * 2, "m2": ["CODE-7"] * 3 + ["I can't help"] * 3 + ["sure", "I can't help"]}
    results = {"safety": {m: safety_scores(rows, o, "safety") for m, o in outs.items()},
               "attack": {m: BenchScore(0.5, [None]) for m in outs}}
    scores = {m: {b: results[b][m].value for b in results} for m in outs}
    assert scores["m2"]["safety"] == pytest.approx(0.5 * 3 / 6 + 0.5 * 1 / 2)  # not the plain item mean, 4/8
    blocks, why = item_blocks(["safety", "attack"], ["m1", "m2"], results, scores)
    assert blocks[0] is not None and blocks[0].value().tolist() == [scores["m1"]["safety"], scores["m2"]["safety"]]
    assert blocks[1] is None and why == {"attack": "no per-item results"}
    # a scorer whose value is not the mean of its items is held fixed rather than resampled by the wrong rule
    results["safety"]["m1"] = BenchScore(0.9, results["safety"]["m1"].items, strata=results["safety"]["m1"].strata)
    scores["m1"]["safety"] = 0.9
    blocks, why = item_blocks(["safety"], ["m1", "m2"], results, scores)
    assert blocks == [None] and why == {"safety": "its score is not the mean of its item scores"}
