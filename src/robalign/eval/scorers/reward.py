"""Reward-model scorer: the mean reward an `AutoModelForSequenceClassification` gives each model's answers.

The (prompt, answer) pair is rendered with the reward model's own chat template when it has
one (as it was trained), else as "prompt\\nanswer". The reward is the first logit (num_labels
= 1, the usual reward-model head).
"""

from __future__ import annotations

from robalign.eval.scorers.base import BenchScore
from robalign.models.chat import exchange_text
from robalign.models.loading import load_reward_model

__all__ = ["load_reward_model", "reward_scores", "rewards"]


def rewards(model, tok, prompts: list[str], answers: list[str], batch_size: int = 32) -> list[float]:
    import torch

    out: list[float] = []
    pad = model.config.pad_token_id
    with torch.inference_mode():
        for i in range(0, len(prompts), batch_size):
            texts = [exchange_text(tok, p, a) for p, a in zip(prompts[i : i + batch_size], answers[i : i + batch_size])]
            enc = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
            width = max(len(e) for e in enc)
            ids = torch.full((len(enc), width), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, e in enumerate(enc):  # right padding: the head reads each row's last non-pad token
                ids[row, : len(e)] = torch.tensor(e)
                mask[row, : len(e)] = 1
            logits = model(input_ids=ids, attention_mask=mask).logits  # (B, num_labels)
            out += logits[:, 0].float().tolist()
    return out


def reward_scores(spec, rows, outputs, entries) -> dict[str, BenchScore]:
    model, tok = load_reward_model(spec.reward_model)
    prompts = [r["prompt"] for r in rows]
    res = {}
    for e in entries:
        r = rewards(model, tok, prompts, [c[0] for c in outputs[e.name]], spec.batch_size)
        res[e.name] = BenchScore(sum(r) / len(r), r)
    return res
