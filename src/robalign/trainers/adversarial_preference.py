"""`method: preference` + `adversarial.enabled: true`: any preference loss under embedding attack.

Uses the preference trainer's documented hook (`PreferenceTrainer.policy_logps`): during
training the EmbeddingAttack finds delta on the prompt tokens that lowers the loss of the
*rejected* completion (for safety data: the harmful target), and the policy's forward for both
chosen and rejected sees the attacked prompt; `reference_logps` keeps the clean prompt. The
loss itself (dpo, ipo, simpo, cpo, cdpo, rdpo, with or without LCPO) is unchanged, so
"LCPO-SimPO under continuous attacks" is one recipe. Evaluation forwards stay clean.

Logged: adv/target_ce_clean, adv/delta_norm, adv/delta_norm_max, adv/attack_seconds.
"""

from __future__ import annotations

import time

import torch

from robalign.attacks.embedding import EmbeddingAttack, mean_embedding_norm
from robalign.trainers.preference import PreferenceTrainer


def share_prompt_delta(delta: torch.Tensor, src_mask: torch.Tensor, dst_mask: torch.Tensor) -> torch.Tensor:
    """Move each row's prompt perturbation to the prompt positions of the paired row.

    delta: (B, T, D) on the rejected rows, non-zero where src_mask (B, T) is set; dst_mask (B, T)
    marks the prompt tokens of the chosen rows. The k-th prompt token of a pair gets the same
    delta in both rows (they are the same token; positions differ only after truncation).
    """
    if torch.equal(src_mask, dst_mask):
        return delta * dst_mask.unsqueeze(-1)
    out = torch.zeros_like(delta)
    for b in range(delta.size(0)):
        src, dst = src_mask[b].nonzero().squeeze(-1), dst_mask[b].nonzero().squeeze(-1)
        n = min(src.numel(), dst.numel())
        if n:
            out[b, dst[-n:]] = delta[b, src[-n:]]
    return out


class AdversarialPreferenceTrainer(PreferenceTrainer):
    """PreferenceTrainer whose policy forward sees attacked prompts (see the module docstring)."""

    def __init__(self, *args, recipe, **kwargs):
        super().__init__(*args, recipe=recipe, **kwargs)
        a = recipe.adversarial
        ds = self.train_dataset
        rows = ds.select(range(min(len(ds), 1024)))["prompt_ids"]
        self.embedding_norm = mean_embedding_norm(self.accelerator.unwrap_model(self.model), [i for r in rows for i in r])
        self.attack = EmbeddingAttack(a.steps, a.epsilon, a.step_size, a.norm, self.embedding_norm)

    def policy_logps(self, model, inputs) -> dict:
        if not model.training:
            return super().policy_logps(model, inputs)
        ids, attn, comp = inputs["input_ids"], inputs["attention_mask"], inputs["completion_mask"]  # (2B, T)
        B = ids.size(0) // 2
        prompt = attn.bool() & ~comp.bool()  # (2B, T)
        rejected = slice(B, 2 * B)
        labels = ids[rejected].masked_fill(comp[rejected] == 0, -100)
        unwrapped = self.accelerator.unwrap_model(model)
        t0 = time.perf_counter()
        res = self.attack(unwrapped, ids[rejected], attn[rejected], labels, prompt[rejected], final_loss=False)
        seconds = time.perf_counter() - t0
        chosen_delta = share_prompt_delta(res.delta, prompt[rejected], prompt[:B])
        delta = torch.cat([chosen_delta, res.delta], dim=0)  # (2B, T, D)
        embeds = unwrapped.get_input_embeddings()(ids)
        embeds = embeds + delta.to(embeds.dtype)
        metrics = self._metrics["train"]
        for key, value in res.metrics().items():
            if key != "adv/epsilon_abs":
                metrics[key].append(value)
        metrics["adv/attack_seconds"].append(seconds)
        return self.sequence_logps(model, inputs, inputs_embeds=embeds)
