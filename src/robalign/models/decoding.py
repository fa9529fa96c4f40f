"""Decoding with transformers' `generate`: the one decoder of the HF engine and the attack evaluation.

The HF engine decodes from token ids (the rendered chat prompt); the embedding attack's
evaluation decodes from prompt embeddings, because the attacked prompt exists only as
embeddings. `generate` takes either for decoder-only models (from `inputs_embeds` the first step
reads the embeddings, every later step the generated ids, with the KV cache), so both call
`generate_ids`, with the same explicit settings (`greedy_settings`) and the same cut at the
first stop id: one prompt gives the same tokens on both paths, and through the engines'
equality test the same as vLLM.
"""

from __future__ import annotations


def greedy_settings(max_new_tokens: int, stop_ids: list[int], pad_id: int) -> dict:
    """`generate` arguments of greedy decoding, every one explicit: values a checkpoint's
    generation_config.json would otherwise supply (Llama-3 instruct: do_sample with temperature
    0.6; a repetition penalty) cannot change what is decoded. `stop_ids` are every id that ends a
    turn (`robalign.models.chat.stop_token_ids`); `pad_id` fills finished rows of a batch."""
    return dict(
        max_new_tokens=max_new_tokens,
        eos_token_id=list(stop_ids),
        pad_token_id=pad_id,
        num_return_sequences=1,
        do_sample=False,
        repetition_penalty=1.0,
        temperature=None, top_p=None, top_k=None,  # neutral: unused by greedy decoding, and not taken from the checkpoint
    )


def generate_ids(model, attention_mask, settings: dict, *, input_ids=None, inputs_embeds=None) -> list[list[int]]:
    """Completion ids of every output row, each cut before its first stop id (`settings["eos_token_id"]`;
    the pad after it goes with it). Rows are in prompt order, `num_return_sequences` per prompt.

    The prompts are `input_ids` (B, T) or `inputs_embeds` (B, T, D), left padded with
    `attention_mask` (generation continues every row at its end; positions come from the mask).
    `settings` are `generate` arguments: `greedy_settings`, or sampling ones built on them."""
    import torch

    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("generate_ids: pass exactly one of input_ids and inputs_embeds")
    prompt = {"input_ids": input_ids} if input_ids is not None else {"inputs_embeds": inputs_embeds}
    with torch.inference_mode():
        out = model.generate(**prompt, attention_mask=attention_mask, **settings)
    if input_ids is not None:  # from ids, generate returns prompt + completion; from embeddings, the completion only
        out = out[:, input_ids.shape[1]:]
    stop = set(settings["eos_token_id"])
    return [_cut(row, stop) for row in out.tolist()]


def _cut(ids: list[int], stop: set[int]) -> list[int]:
    """`ids` up to (not including) the first stop id."""
    end = next((k for k, t in enumerate(ids) if t in stop), len(ids))
    return ids[:end]
