"""Checkpoints that are known to be complete, and extra trainer state saved inside them.

Mixed into every robalign trainer (before the TRL class in the MRO). After the Trainer's own
`_save_checkpoint` (model, optimizer, scheduler, RNG, trainer_state), all ranks meet at a
barrier, then rank 0 writes `extra_state()` (e.g. the LCPO reliability) and finally the
completion marker, atomically. `robalign.trainers.run_dir.last_complete_checkpoint` only
returns checkpoints carrying the marker, so a run killed mid-save resumes from the previous one.

Why JSON and not `torch.save`: a checkpoint folder can come from anywhere (a shared drive, a
download), and unpickling runs code. The extra state is plain numbers and names, so it is
written as JSON (Python floats round-trip exactly, so a resumed eta is bit-identical). A
legacy `robalign_state.pt` is read with `torch.load(weights_only=True)`, which refuses any
pickle that would construct something other than tensors and plain containers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from robalign.atomic import atomic_write_json
from robalign.errors import UserError
from robalign.trainers.run_dir import mark_complete

EXTRA_STATE_FILE = "robalign_state.json"
LEGACY_EXTRA_STATE_FILE = "robalign_state.pt"


def read_extra_state(checkpoint: str | os.PathLike) -> dict | None:
    """The extra state saved in `checkpoint` (None if it has none), never unpickling code."""
    folder = Path(checkpoint)
    path = folder / EXTRA_STATE_FILE
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise UserError(f"{path}: not a robalign state file (invalid JSON: {err}); delete the checkpoint folder to resume from an earlier one") from None
    legacy = folder / LEGACY_EXTRA_STATE_FILE
    if legacy.is_file():
        import pickle

        import torch

        try:
            return torch.load(legacy, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"{legacy}: refused to load: it holds more than tensors and plain values ({first[:160]}); "
                            "robalign never unpickles code from a checkpoint") from None
    return None


class CompleteCheckpointMixin:
    def extra_state(self) -> dict | None:
        """Training state beyond the Trainer's own (override; None = nothing to save)."""
        return None

    def load_extra_state(self, state: dict) -> None:
        """Restore what `extra_state` returned (override)."""

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        folder = os.path.join(self._get_output_dir(trial=trial), f"checkpoint-{self.state.global_step}")
        self.accelerator.wait_for_everyone()
        if self.args.should_save and os.path.isdir(folder):
            state = self.extra_state()
            if state is not None:
                atomic_write_json(os.path.join(folder, EXTRA_STATE_FILE), state)
            mark_complete(folder, self.state.global_step)
        self.accelerator.wait_for_everyone()

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        # Loaded here rather than in `_load_from_checkpoint`, which DeepSpeed runs skip.
        if isinstance(resume_from_checkpoint, (str, os.PathLike)):
            state = read_extra_state(resume_from_checkpoint)
            if state is not None:
                self.load_extra_state(state)
        return super().train(resume_from_checkpoint, *args, **kwargs)
