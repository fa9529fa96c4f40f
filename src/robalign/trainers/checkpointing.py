"""Checkpoints that are known to be complete, and extra trainer state saved inside them.

Mixed into every robalign trainer (before the TRL class in the MRO). After the Trainer's own
`_save_checkpoint` (model, optimizer, scheduler, RNG, trainer_state), all ranks meet at a
barrier, then rank 0 writes `extra_state()` (e.g. the LCPO reliability) and finally the
completion marker, atomically. `robalign.trainers.run_dir.last_complete_checkpoint` only
returns checkpoints carrying the marker, so a run killed mid-save resumes from the previous one.
"""

from __future__ import annotations

import os

from robalign.trainers.run_dir import mark_complete

EXTRA_STATE_FILE = "robalign_state.pt"


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
            import torch

            state = self.extra_state()
            if state is not None:
                tmp = os.path.join(folder, EXTRA_STATE_FILE + ".tmp")
                torch.save(state, tmp)
                os.replace(tmp, os.path.join(folder, EXTRA_STATE_FILE))
            mark_complete(folder, self.state.global_step)
        self.accelerator.wait_for_everyone()

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        # Loaded here rather than in `_load_from_checkpoint`, which DeepSpeed runs skip.
        if isinstance(resume_from_checkpoint, (str, os.PathLike)):
            path = os.path.join(resume_from_checkpoint, EXTRA_STATE_FILE)
            if os.path.isfile(path):
                import torch

                self.load_extra_state(torch.load(path, map_location="cpu", weights_only=False))
        return super().train(resume_from_checkpoint, *args, **kwargs)
