"""Write a tournament's plots/*.png and report.html from its leaderboard dict."""

from __future__ import annotations

import re
from pathlib import Path

from robalign.report import plots
from robalign.report.html import render_html


def metrics_file(entry) -> Path | None:
    """A training run's metrics.jsonl next to the adapter (or the full model) the entry uses."""
    run = entry.adapter if entry.adapter is not None else entry.model
    path = Path(run) / "metrics.jsonl" if run else None
    return path if path and path.is_file() else None


#: Training metrics tabulated in the report (last logged value of each): what LCPO and the
#: adversarial trainers are meant to improve, next to the losses.
TRAINING_KEYS = ("eval/clean_accuracy", "rewards/accuracies", "eval_loss", "lcpo/eta", "lcpo/weight_auc", "adv/target_ce_attacked")


def training_summary(entries) -> dict[str, dict[str, float]]:
    """{model: {metric: last logged value}} for the TRAINING_KEYS a model's run logged (models without a run are left out)."""
    out = {}
    for e in entries:
        f = metrics_file(e)
        if f is None:
            continue
        last = {}
        for row in plots.read_metrics(f):
            for k in TRAINING_KEYS:
                v = row.get(k)
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    last[k] = float(v)
        if last:
            out[e.name] = last
    return out


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
