"""Write a tournament's plots/*.png and report.html from its leaderboard dict."""

from __future__ import annotations

import re
from pathlib import Path

from robalign.report import plots
from robalign.report.html import render_html
from robalign.report.runs import metrics_file


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def write_report(out_dir, board: dict, entries, *, title: str) -> Path:
    out = Path(out_dir)
    p = out / "plots"
    figs = {
        "expected_score": plots.expected_scores(board, p / "expected_score.png"),
        "rank_probs": plots.rank_probabilities(board, p / "rank_probs.png"),
        "rank_resampled": plots.resampled_ranks(board, p / "rank_resampled.png"),
        "score_matrix": plots.score_matrix(board, p / "score_matrix.png"),
        "failure_sensitivity": plots.failure_sensitivity(board, p / "failure_sensitivity.png"),
    }
    curves = {}
    for e in entries:
        f = metrics_file(e)
        if f is not None:
            png = plots.training_curves(e.name, plots.read_metrics(f), p / f"training_{_slug(e.name)}.png")
            if png is not None:
                curves[e.name] = (png, str(f))
    from robalign.atomic import atomic_write_text

    path = out / "report.html"
    atomic_write_text(path, render_html(board, figs, curves, title=title))
    return path
