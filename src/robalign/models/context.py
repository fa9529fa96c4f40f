"""The prompt-length check: THE rule for how many tokens a prompt may have on a model.

An over-long prompt hangs HF `generate` for minutes (and builds a T x T attention mask: a 1 MB
prompt asks for ~1 TB) and fails vLLM only after its start-up, so every path that generates
(both engines, `robalign generate`/`chat`/`tournament`, attack-eval and the attack scorer)
checks prompt + completion against the model's context first, in tokens after chat
templating, with one shared message. It lives with the models (not the engines) because the
embedding attack and the engines both need it and the attack must not depend on eval/.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from robalign.errors import UserError

# RoPE types whose max_position_embeddings already includes the scaling (as vLLM 0.32 reads them).
_ROPE_PRESCALED = {"su", "longrope", "llama3", "yarn", "deepseek_yarn", "deepseek_llama_scaling"}
_LENGTH_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "max_sequence_length", "max_seq_length", "seq_len")


def config_context(config) -> Optional[tuple[int, str]]:
    """(context length, config key) the way vLLM derives it: the smallest length key of the
    text config, times the RoPE scaling factor for types that do not pre-scale; None if absent."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    found = [(int(v), k) for k in _LENGTH_KEYS if isinstance(v := getattr(text, k, None), int) and v > 0]
    if not found:
        return None
    length, key = min(found)
    rope = getattr(text, "rope_scaling", None) or {}
    if isinstance(rope, dict) and rope.get("rope_type", rope.get("type")) not in _ROPE_PRESCALED | {None, "default"}:
        length = int(length * (rope.get("factor") or 1.0))
    return length, key


@dataclass(frozen=True)
class ContextLimit:
    """How many tokens a prompt may have: `context` minus the `reserve` its completion needs.

    `fix` is what the user can change, named in the caller's own terms (a recipe key or a
    command-line flag), so the one-line error says what to do where the user is.
    """

    context: int
    reserve: int
    fix: str
    reserve_name: str = "max_new_tokens"

    @property
    def budget(self) -> int:
        return self.context - self.reserve

    def _fail(self, what: str, n_more: int) -> UserError:
        more = f" (and {n_more} more prompt(s) too long)" if n_more else ""
        return UserError(f"{what}{more}; the model's context is {self.context} "
                         f"(prompt + {self.reserve_name} {self.reserve} must fit): {self.fix}")

    def check_reserve(self) -> None:
        """max_new_tokens alone must leave room for a prompt: checked before any prompt is read."""
        if self.budget < 1:
            raise UserError(f"{self.reserve_name} {self.reserve} leaves no room for a prompt in the model's context of "
                            f"{self.context} tokens: {self.fix}")

    def check_texts(self, tokenizer, texts: Sequence[str], name: Callable[[int], str]) -> None:
        """Cheap pre-check so megabyte prompts fail without being tokenised whole: a text longer
        than (budget + 2) x the longest vocabulary entry is judged on a prefix of that many
        characters, cut at a space (whole words tokenise as they do in the full text, so the
        prefix has no more tokens than the text). Shorter texts are left to `check_ids`.
        Also silences transformers' "sequence longer than..." warning on this tokenizer: this
        check replaces it with the one-line error."""
        self.check_reserve()
        quiet_length_warning(tokenizer)
        long = [i for i, t in enumerate(texts) if len(t) > self.budget]  # cheap: most prompts stop here
        window = (self.budget + 2) * max(len(k) for k in tokenizer.get_vocab()) if long else 0
        for i in long:
            text = texts[i]
            if len(text) > window:
                space = text.rfind(" ", window // 2, window)
                prefix = text[: space if space > 0 else window]
                n = len(tokenizer(prefix, add_special_tokens=False, verbose=False)["input_ids"])
                if n > self.budget:
                    raise self._fail(f"{name(i)} is over {n} tokens ({len(text)} characters)", 0)

    def check_ids(self, prompt_ids: Sequence[Sequence[int]], name: Callable[[int], str]) -> None:
        """Every tokenised prompt (chat template included) must leave room for its completion."""
        self.check_reserve()
        bad = [i for i, p in enumerate(prompt_ids) if len(p) > self.budget]
        if bad:
            raise self._fail(f"{name(bad[0])} is {len(prompt_ids[bad[0]])} tokens", len(bad) - 1)


def quiet_length_warning(tokenizer) -> None:
    """Mark transformers' "Token indices sequence length is longer..." warning as given on this
    tokenizer: the length check replaces it (a second stderr line would break the one-line rule)."""
    warned = getattr(tokenizer, "deprecation_warnings", None)
    if isinstance(warned, dict):
        warned["sequence-length-is-longer-than-the-specified-maximum"] = True


def context_limit(model: str, max_model_len: Optional[int], max_new_tokens: int, *,
                  tokens_option: str = "sampling.max_tokens", len_option: Optional[str] = "engine.max_model_len",
                  config=None) -> Optional[ContextLimit]:
    """The limit for `model` (a directory or hub id; or its loaded `config`): `max_model_len`
    when set, else the config's length. A max_model_len beyond the model's is refused here
    (vLLM refuses it too, unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1). None when the config
    cannot be read or names no length (the engine then decides)."""
    if config is None:
        from robalign.models.loading import load_config

        try:
            config = load_config(model)
        except (OSError, ValueError):  # unreadable here: the engine's own loading reports it
            return None
    derived = config_context(config)
    if derived is not None and max_model_len is not None and max_model_len > derived[0] \
            and os.environ.get("VLLM_ALLOW_LONG_MAX_MODEL_LEN", "0") in ("", "0"):
        raise UserError(f"{len_option or 'max_model_len'} {max_model_len} exceeds the context of {model} "
                        f"({derived[1]} = {derived[0]} in its config.json); expected at most {derived[0]}")
    context = max_model_len or (derived[0] if derived else None)
    if context is None:
        return None
    fix = f"shorten it or lower {tokens_option}"
    if len_option and derived and context < derived[0]:
        fix += f", or raise {len_option} (the model allows {derived[0]})"
    return ContextLimit(context, max_new_tokens, fix)


def check_batch(context: Optional[int], prompt_ids: Sequence[Sequence[int]], max_new_tokens: int) -> None:
    """The engines' own guard, for callers that did not check first (theirs name the prompt's
    file; this one can only count): costs one len() per prompt."""
    if context is not None:
        ContextLimit(context, max_new_tokens, "shorten it or lower max_tokens").check_ids(
            prompt_ids, lambda i: f"prompt {i + 1} of the {len(prompt_ids)} sent to the engine")
