"""SFT warm-up: TRL's SFTTrainer with robalign's complete checkpoints.

Data arrives as prompt/completion chat messages (`robalign.data.loading.to_conversational`),
so TRL applies the model's chat template and, for a prompt-completion dataset, computes the
loss on the completion tokens only (SFTConfig.completion_only_loss=None means exactly that).
"""

from __future__ import annotations

from trl import SFTTrainer

from robalign.trainers.checkpointing import CompleteCheckpointMixin


class RobalignSFTTrainer(CompleteCheckpointMixin, SFTTrainer):
    pass
