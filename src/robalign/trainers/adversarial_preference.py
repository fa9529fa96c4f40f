"""`method: preference` + `adversarial.enabled: true`: any preference loss under embedding attack.

`PromptAttack` is a hook on the preference trainer's policy log-probs (`PreferenceTrainer.policy_logps`
feeds its embeddings to the one forward; there is no second trainer class): during
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


class PromptAttack:
    """The embedding attack on the prompt tokens of [chosen; rejected] batches (see the module docstring)."""

    def __init__(self, args, model, prompt_ids: list[list[int]]):
        """`args`: the recipe's `adversarial:` block; `prompt_ids`: tokenised training prompts (the epsilon scale)."""
        self.embedding_norm = mean_embedding_norm(model, [i for r in prompt_ids for i in r])
        self.attack = EmbeddingAttack(args.steps, args.epsilon, args.step_size, args.norm, self.embedding_norm)

    def __call__(self, model, inputs: dict, metrics) -> torch.Tensor:
        """Attacked input embeddings (2B, T, D) of `inputs`; `model` unwrapped; adv/* appended to `metrics` (TRL's lists)."""
        ids, attn, comp = inputs["input_ids"], inputs["attention_mask"], inputs["completion_mask"]  # (2B, T)
        B = ids.size(0) // 2
        prompt = attn.bool() & ~comp.bool()  # (2B, T)
        rejected = slice(B, 2 * B)
        labels = ids[rejected].masked_fill(comp[rejected] == 0, -100)
        t0 = time.perf_counter()
        res = self.attack(model, ids[rejected], attn[rejected], labels, prompt[rejected], final_loss=False)
        seconds = time.perf_counter() - t0
        chosen_delta = share_prompt_delta(res.delta, prompt[rejected], prompt[:B])
        delta = torch.cat([chosen_delta, res.delta], dim=0)  # (2B, T, D)
        embeds = model.get_input_embeddings()(ids)
        for key, value in res.metrics().items():
            if key != "adv/epsilon_abs":
                metrics[key].append(value)
        metrics["adv/attack_seconds"].append(seconds)
        return embeds + delta.to(embeds.dtype)
