"""The training runs behind a tournament's contestants: where their metrics.jsonl is, and the
last logged value of the metrics the report tabulates. One module that the leaderboard (its
`training` key), the markdown, the HTML and the plots all read, so none imports another for it."""

from __future__ import annotations

from pathlib import Path

from robalign.report import plots


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
