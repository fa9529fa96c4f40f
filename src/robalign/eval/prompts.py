"""Prompts as token ids, rendered once with the model's chat template.

Both engines receive the same token ids (vLLM as `TokensPrompt`), so a difference between
their outputs can only come from the forward pass, never from templating or from one side
adding a BOS token the other does not.
"""

from __future__ import annotations

from robalign.errors import UserError
from robalign.models.chat import user_turn


def render_chat(tokenizer, prompts: list[str]) -> list[list[int]]:
    """Each prompt as a single user turn + generation prompt, tokenised without extra specials."""
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(
            f"the tokenizer of {getattr(tokenizer, 'name_or_path', '?')} has no chat template; "
            "expected a chat model (tokenizer_config.json with chat_template)"
        )
    texts = [tokenizer.apply_chat_template(user_turn(p), add_generation_prompt=True, tokenize=False) for p in prompts]
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def decode(tokenizer, ids: list[int]) -> str:
    """Completion text: special tokens (eos, pad) removed."""
    return tokenizer.decode(list(ids), skip_special_tokens=True)
