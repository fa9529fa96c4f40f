"""Tokenise (prompt, completion) pairs in the layout the attack, its training losses and
greedy decoding from attacked embeddings all share:

    [pad ... pad | prompt (chat template, generation prompt) | completion (+eos) | pad ... pad]
     <---------------- P columns, left padded ----------------><---- right padded ---->

Every prompt ends at column P, so one delta (B, P, D) fits the prompt of the same rows encoded
with any completion (the harmful target, the refusal) and the prompt-only batch that greedy
decoding starts from. Positions are computed from the attention mask (`position_ids`), so
left padding does not shift them.
"""

from __future__ import annotations

from typing import Sequence, Union

import torch

from robalign.attacks.embedding import IGNORE_INDEX

Prompt = Union[str, list]


def prompt_ids(tokenizer, prompt: Prompt) -> list[int]:
    """Token ids of a user prompt rendered with the model's chat template and generation prompt."""
    from robalign.models.chat import render_messages

    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    return render_messages(tokenizer, messages)


def completion_ids(tokenizer, completion: str, add_eos: bool) -> list[int]:
    ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    if add_eos:
        ids = ids + [tokenizer.eos_token_id]
    return ids


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) positions counted over real tokens only (0 at each row's first real token)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def encode(
    tokenizer,
    prompts: Sequence[Prompt],
    completions: Sequence[str] | None = None,
    *,
    add_eos: bool = True,
    max_prompt_length: int | None = None,
    max_completion_length: int | None = None,
    device: torch.device | str | None = None,
) -> dict[str, torch.Tensor | int]:
    """Encode a batch in the shared layout.

    Returns input_ids, attention_mask, labels (completion tokens, IGNORE_INDEX elsewhere),
    position_ids, all (B, P + C), and prompt_length P (int). completions None -> prompts only.
    Prompts longer than max_prompt_length keep their last tokens (the generation prompt);
    completions longer than max_completion_length keep their first tokens.
    """
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    p_ids = [prompt_ids(tokenizer, p) for p in prompts]
    if max_prompt_length is not None:
        p_ids = [ids[-max_prompt_length:] for ids in p_ids]
    c_ids = [completion_ids(tokenizer, c, add_eos) for c in completions] if completions is not None else [[] for _ in p_ids]
    if max_completion_length is not None:
        c_ids = [ids[:max_completion_length] for ids in c_ids]
    P = max(len(ids) for ids in p_ids)
    C = max(len(ids) for ids in c_ids)
    rows, masks, labels = [], [], []
    for p, c in zip(p_ids, c_ids):
        left, right = P - len(p), C - len(c)
        rows.append([pad] * left + p + c + [pad] * right)
        masks.append([0] * left + [1] * (len(p) + len(c)) + [0] * right)
        labels.append([IGNORE_INDEX] * P + c + [IGNORE_INDEX] * right)
    out = {
        "input_ids": torch.tensor(rows, dtype=torch.long),
        "attention_mask": torch.tensor(masks, dtype=torch.long),
        "labels": torch.tensor(labels, dtype=torch.long),
    }
    out["position_ids"] = position_ids(out["attention_mask"])
    if device is not None:
        out = {k: v.to(device) for k, v in out.items()}
    out["prompt_length"] = P
    return out


def prompt_mask(batch: dict) -> torch.Tensor:
    """(B, T) bool: the real prompt tokens (the positions an attack perturbs by default)."""
    mask = batch["attention_mask"].bool().clone()
    mask[:, batch["prompt_length"]:] = False
    return mask
