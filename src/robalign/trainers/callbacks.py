"""Callbacks shared by every robalign trainer."""

from __future__ import annotations

import json
import math
from pathlib import Path

from transformers import TrainerCallback


def _plain(value):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep the information as text
    return value


class MetricsJsonlCallback(TrainerCallback):
    """Append every `log` event to `<output_dir>/metrics.jsonl`, one JSON object per line.

    Keys are exactly what the trainer logged (TRL's names such as `loss`, `rewards/accuracies`,
    plus robalign's `lcpo/*`, `adv/*`), with `step` and `epoch` added. On resume the lines
    after the resumed step are dropped first, so the file reads like one uninterrupted run.
    """

    def __init__(self, output_dir: str | Path):
        self.path = Path(output_dir) / "metrics.jsonl"

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or not self.path.exists():
            return
        keep = []
        for line in self.path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            if row.get("step", 0) <= state.global_step:
                keep.append(line)
        from robalign.atomic import atomic_write_text

        atomic_write_text(self.path, "".join(x + "\n" for x in keep))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {"step": state.global_step, "epoch": _plain(state.epoch)}
        row.update({k: _plain(v) for k, v in logs.items()})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
