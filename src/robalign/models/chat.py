"""Chat prompts: the one place a conversation becomes token ids, and ids become a reply.

Every inference path renders here (both engines, the generation cache's prompts, `robalign
chat`, the embedding attack's batches): each receives the same token ids, so a difference
between vLLM and HF outputs can only come from the forward pass, never from templating or from
one side adding a BOS token the other does not. Rendering uses the BASE model's tokenizer
(`robalign.models.loading` states that rule).

Also the chat format of robalign's tiny models: a minimal template with one special token per
role and `<|end|>` as end-of-turn/eos. The prompt rendered with `add_generation_prompt=True` is
an exact prefix of the full conversation, which TRL's DPO/SFT tokenisation relies on.
"""

from __future__ import annotations

from robalign.errors import UserError

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


def exchange_text(tokenizer, prompt: str, answer: str) -> str:
    """A finished (prompt, answer) exchange as text, for models that read whole conversations (a
    reward model): its chat template when it has one (as it was trained), else "prompt\\nanswer"."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([*user_turn(prompt), *assistant_turn(answer)], tokenize=False)
    return f"{prompt}\n{answer}"


def render_chat(tokenizer, prompts: list[str]) -> list[list[int]]:
    """Each prompt as a single user turn + generation prompt, tokenised without extra specials."""
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(
            f"the tokenizer of {getattr(tokenizer, 'name_or_path', '?')} has no chat template; "
            "expected a chat model (tokenizer_config.json with chat_template)"
        )
    return [render_messages(tokenizer, user_turn(p)) for p in prompts]


def chat_text(tokenizer, messages: list[dict]) -> str:
    """The conversation + generation prompt as text. A template that refuses the conversation
    (Gemma-2 and Mistral raise on a system message, both on roles that do not alternate) is one
    line naming the model, not a jinja traceback."""
    from jinja2.exceptions import TemplateError

    try:
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    except TemplateError as err:
        roles = "/".join(m.get("role", "?") for m in messages)
        raise UserError(f"the chat template of {getattr(tokenizer, 'name_or_path', '?')} refuses a conversation of roles "
                        f"{roles}: {err}") from None


def render_messages(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of `chat_text`, without extra specials: the template writes bos where the family
    wants one (a tokenizer that adds bos too would give Llama-3, Mistral and Gemma-2 two)."""
    return tokenizer(chat_text(tokenizer, messages), add_special_tokens=False)["input_ids"]


def decode(tokenizer, ids: list[int]) -> str:
    """Completion text: special tokens (eos, pad) removed."""
    return tokenizer.decode(list(ids), skip_special_tokens=True)


def stop_token_ids(tokenizer, generation_config=None) -> list[int]:
    """Every token that ends a reply: the tokenizer's eos and the generation config's eos ids.

    Why both: chat families end a turn with a token that is not the tokenizer's eos (Gemma-2's
    <end_of_turn> beside <eos>, Phi-3's <|end|> beside <|endoftext|>, Llama-3's <|eot_id|>
    beside <|end_of_text|>); their generation_config.json lists all of them, and decoding that
    stops only at the tokenizer's eos runs past the end of the turn. `generation_config` is a
    transformers GenerationConfig, a model folder, or None (the tokenizer's eos alone)."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    if generation_config is not None and not hasattr(generation_config, "eos_token_id"):
        from robalign.models.loading import load_generation_config

        generation_config = load_generation_config(generation_config)  # None without generation_config.json: the tokenizer's eos decides
    extra = getattr(generation_config, "eos_token_id", None)
    for i in extra if isinstance(extra, (list, tuple)) else [extra]:
        if isinstance(i, int) and i not in ids:
            ids.append(i)
    return ids
