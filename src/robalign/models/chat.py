"""The chat format of robalign's tiny models.

A minimal template with one special token per role and `<|end|>` as end-of-turn/eos. The
prompt rendered with `add_generation_prompt=True` is an exact prefix of the full
conversation, which TRL's DPO/SFT tokenisation relies on.
"""

from __future__ import annotations

ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
END_TOKEN = "<|end|>"
PAD_TOKEN = "<|pad|>"
BOS_TOKEN = "<|bos|>"
SPECIAL_TOKENS = [PAD_TOKEN, BOS_TOKEN, END_TOKEN, *ROLE_TOKENS]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def user_turn(prompt: str) -> list[dict]:
    """A single-turn conversation, the form TRL's conversational datasets use."""
    return [{"role": "user", "content": prompt}]


def assistant_turn(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]
