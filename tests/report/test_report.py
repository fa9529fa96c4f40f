"""report.html as a person sees it: rendered by headless Chromium, every table and plot present."""

from __future__ import annotations

import json
import re
import subprocess
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
    from robalign.report.leaderboard import rank_all

    rng = np.random.default_rng(0)
    acc = {"sft": 0.55, "dpo": 0.6, "lcpo-dpo": 0.65, "ipo": 0.5, "lcpo-ipo": 0.58, "c-advipo": 0.45}
    entries = []
    for name in acc:
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        steps = range(10, 210, 10)
        (run / "metrics.jsonl").write_text("".join(json.dumps(
            {"step": s, "loss": 0.7 * np.exp(-s / 80) + 0.2, "rewards/accuracies": 0.5 + 0.4 * (1 - np.exp(-s / 60)),
             **({"lcpo/eta": 0.3 * np.exp(-s / 100)} if "lcpo" in name else {}),
             **({"adv/target_ce_attacked": 3 - s / 100} if "adv" in name else {})}) + "\n" for s in steps))
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
    write_leaderboard(tmp_path, board)
    data = json.loads((tmp_path / "leaderboard.json").read_text())
    assert [r["rank"] for r in data["rows"]] == list(range(1, 7))
    es = [r["expected_score"] for r in data["rows"]]
    assert es == sorted(es, reverse=True)
    assert data["settings"]["eliminate"] == [0, 1, 2] and set(data["swiss"]) == {"0", "1", "2"}
    for r in data["rows"]:  # fs = E[S](0) - E[S](2), from the same simulations as the per-level numbers
        assert r["failure_sensitivity"] == pytest.approx(r["expected_score_T0"] - r["expected_score_T2"])
        assert np.sum(data["swiss"]["0"]["rank_probs"][data["models"].index(r["model"])]) == pytest.approx(1.0)
    md = (tmp_path / "leaderboard.md").read_text()
    assert md.count("| lcpo-dpo |") >= 2 and "Kendall tau" in md and "## Warnings" in md


def test_report_renders_in_headless_chromium(tmp_path, run_chromium):
    from robalign.report.write import write_report

    board, entries = _board(tmp_path)
    html_path = write_report(tmp_path / "out", board, entries, title="test tournament")
    text = html_path.read_text()
    assert "http://" not in text and "https://" not in text  # self-contained: nothing to fetch
    n_imgs = text.count("<img ")
    assert n_imgs == 4 + len(entries)  # 4 tournament plots + one training-curve figure per trained model
    top = board["rows"][0]["model"]
    assert f"Leader by Swiss expected score: <b>{top}</b>" in text
    assert text.index("id='leaderboard'") < text.index("id='scores'") < text.index("id='ranks'") < text.index("id='training'")

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
