"""The reference model of every robalign trainer that has one, by one rule.

The reference log-probs come from, in this order:
1. the trainer's frozen `ref_model` (full fine-tuning: `model.ref_model_name_or_path`, or a copy of
   the initial policy);
2. the policy with its adapter named `ref` active (TRL's convention for a LoRA reference that is not
   the base model);
3. the policy with its adapters disabled (the base model under LoRA).
"""

from __future__ import annotations

import contextlib

from trl.trainer.utils import use_adapter


@contextlib.contextmanager
def reference_model(trainer):
    """Yield the (unwrapped) network whose outputs are the reference log-probs of `trainer`'s policy."""
    if trainer.ref_model is not None:
        yield trainer.ref_model
        return
    policy = trainer.accelerator.unwrap_model(trainer.model)
    adapters = getattr(policy, "peft_config", None)
    if adapters is None:
        raise ValueError("a reference model is needed: pass ref_model, or train a LoRA adapter (the base is the reference)")
    with use_adapter(policy, adapter_name="ref" if "ref" in adapters else None):
        yield policy
