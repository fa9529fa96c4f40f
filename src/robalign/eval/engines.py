"""Engine options and the engine interface shared by the vLLM and HF backends.

An engine holds ONE base model and serves every adapter of it: vLLM through `LoRARequest`s
on a single `LLM`, HF through PEFT's multi-adapter switching. Engine start costs ~40 s on CPU
for vLLM, so callers build one per base model and reuse it for all benchmarks.

It also holds THE prompt-length check (`ContextLimit`): an over-long prompt hangs HF
`generate` for minutes (and builds a T x T attention mask: a 1 MB prompt asks for ~1 TB) and
fails vLLM only after its start-up, so every path that generates checks prompt + completion
against the model's context first, in tokens after chat templating, with one shared message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Literal, Optional, Protocol, Sequence

from robalign.config.schema import field
from robalign.errors import ConfigError, UserError

BACKENDS = ["vllm", "hf"]


@dataclass
class EngineArgs:
    backend: Literal["vllm", "hf"] = field("vllm", help="Generation engine: vllm (fast, LoRA via LoRARequest) or hf (transformers + PEFT).", choices=BACKENDS)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = field(
        "auto", help="Weights dtype; auto = bfloat16 on GPUs/CPUs with fast bf16, float32 otherwise (bf16 is 3-7x slower on AVX2-only CPUs).",
        choices=["auto", "float32", "bfloat16", "float16"],
    )
    max_model_len: Optional[int] = field(None, help="Context length (prompt + completion); default: the model's.")
    tensor_parallel_size: int = field(1, help="GPUs per model (vLLM tensor parallelism).")
    gpu_memory_utilization: float = field(0.9, help="vLLM: fraction of GPU memory for weights + KV cache (on CPU: of RAM, see cpu_kvcache_space).")
    enforce_eager: bool = field(False, help="vLLM: no CUDA graphs / compilation (faster start, slower decode).")
    max_loras: int = field(1, help="vLLM: adapters in one batch (we generate one adapter at a time).")
    max_lora_rank: Optional[int] = field(None, help="vLLM: largest LoRA rank; default: from the adapters' configs.")
    cpu_kvcache_space: Optional[int] = field(
        None, help="CPU only: GiB for vLLM's KV cache (env VLLM_CPU_KVCACHE_SPACE); null = the environment's value, else 1. "
        "(Unset, vLLM claims 90% of RAM and refuses to start when other processes use memory.)")
    cpu_reserved_cpus: Optional[int] = field(
        None, help="CPU only: cores vLLM keeps for itself (env VLLM_CPU_NUM_OF_RESERVED_CPU); null = the environment's value, else 0 "
        "(vLLM's default reserves one core: half of a 2-core machine).")
    hf_batch_size: int = field(32, help="hf backend: prompts per generate() call.")
    seed: int = field(0, help="Engine seed.")

    def validate(self, file=None, path: str = "engine") -> None:
        if self.tensor_parallel_size < 1:
            raise ConfigError(file, f"{path}.tensor_parallel_size", "an integer >= 1", got=repr(self.tensor_parallel_size))
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ConfigError(file, f"{path}.gpu_memory_utilization", "a number in (0, 1]", got=repr(self.gpu_memory_utilization))
        if self.max_model_len is not None and self.max_model_len < 2:
            raise ConfigError(file, f"{path}.max_model_len", "an integer >= 2", got=repr(self.max_model_len))
        if self.hf_batch_size < 1:
            raise ConfigError(file, f"{path}.hf_batch_size", "an integer >= 1", got=repr(self.hf_batch_size))

    def apply_env(self) -> None:
        """Set vLLM's CPU variables before the engine starts: the config's values, else the
        environment's, else robalign's CPU defaults (1 GiB KV cache, no reserved core)."""
        import torch

        if self.cpu_kvcache_space is not None:
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(self.cpu_kvcache_space)
        if self.cpu_reserved_cpus is not None:
            os.environ["VLLM_CPU_NUM_OF_RESERVED_CPU"] = str(self.cpu_reserved_cpus)
        if not torch.cuda.is_available():
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
            os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")

    def resolved_dtype(self) -> str:
        from robalign.config.hardware import resolve_torch_dtype

        return resolve_torch_dtype(self.dtype)


class Engine(Protocol):
    """What the generation layer needs from a backend."""

    backend: str
    model: str
    n_generated: int  # prompts generated so far (tests use it to prove cache hits)

    def generate(self, prompt_ids: list[list[int]], sampling, adapter: Optional[str] = None) -> list[list[list[int]]]:
        """Completion token ids: for every prompt, `sampling.n` lists of ids (eos excluded)."""
        ...

    def close(self) -> None: ...


def make_engine(model: str, args: EngineArgs, adapters: list[str] = ()) -> "Engine":
    """Start the engine for base `model` able to serve `adapters` (paths)."""
    from robalign.models.locate import check_model_source

    check_model_source(model)
    if args.backend == "vllm":
        from robalign.eval.vllm_engine import VLLMEngine

        return VLLMEngine(model, args, adapters)
    if args.backend == "hf":
        from robalign.eval.hf_engine import HFEngine

        return HFEngine(model, args)
    raise ConfigError(None, "engine.backend", f"one of {BACKENDS}", got=repr(args.backend))


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
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(model)
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
