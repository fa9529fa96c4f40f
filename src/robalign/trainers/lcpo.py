"""Runs a `robalign.noise.NoiseModel` (LCPO) inside any robalign trainer: one place for what the
training loop adds around it — the update after every optimizer step on every rank (the
all-reduce of the posteriors' sums), the state in every checkpoint and back on resume, and the
lcpo/* metrics in the training logs (TRL's metrics channel: `Trainer.log`)."""

from __future__ import annotations

from transformers import TrainerCallback


class _LCPOStepCallback(TrainerCallback):
    """Runs the reliability update after every optimizer step (all ranks, same values)."""

    def __init__(self, trainer):
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        self.trainer.lcpo_step()


class NoiseModelMixin:
    """Mixed in before the TRL/transformers trainer class; `attach_noise_model` turns it on."""

    lcpo = None  # robalign.noise.NoiseModel | None

    def attach_noise_model(self, noise_model) -> None:
        self.lcpo = noise_model
        self.add_callback(_LCPOStepCallback(self))

    def lcpo_step(self) -> None:
        """Once per optimizer step: EMA update of eta from the global batch's mean posterior."""
        if self.lcpo is None:
            return
        device = self.accelerator.device

        def reduce_sum(t):
            if self.accelerator.num_processes == 1:
                return t
            return self.accelerator.reduce(t.to(device), reduction="sum").cpu()

        self.lcpo.step(reduce_sum, global_step=self.state.global_step, rank=self.accelerator.process_index)

    def extra_state(self):
        return {"lcpo": self.lcpo.state_dict()} if self.lcpo is not None else None

    def load_extra_state(self, state: dict) -> None:
        if self.lcpo is not None and "lcpo" in state:
            self.lcpo.load_state_dict(state["lcpo"])

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self.lcpo is not None and self.model.training and "loss" in logs:
            logs.update(self.lcpo.metrics())
        super().log(logs, start_time)
