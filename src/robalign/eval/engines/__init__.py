"""Generation engines: one base model per engine, every adapter of it served by the same engine.

An engine holds ONE base model and serves every adapter of it: vLLM through `LoRARequest`s on a
single `LLM` (`vllm.py`), HF through PEFT's multi-adapter switching (`hf.py`). Engine start costs
~40 s on CPU for vLLM, so callers build one per base model and reuse it for all benchmarks.
Backends are registered in `registry.ENGINES`; options are `EngineArgs` (`args.py`). Both engines
receive prompts as token ids rendered by `robalign.models.chat` with the base's tokenizer
(`robalign.models.loading`), and check lengths with `robalign.models.context`.
"""

from __future__ import annotations

from typing import Optional, Protocol

from robalign.errors import ConfigError
from robalign.eval.engines.args import BACKENDS, EngineArgs
from robalign.eval.engines.registry import ENGINES

__all__ = ["BACKENDS", "ENGINES", "Engine", "EngineArgs", "make_engine"]


class Engine(Protocol):
    """What the generation layer needs from a backend."""

    backend: str
    model: str
    tokenizer: object  # the base model's (robalign.models.loading's rule)
    n_generated: int  # prompts generated so far (tests use it to prove cache hits)

    def generate(self, prompt_ids: list[list[int]], sampling, adapter: Optional[str] = None) -> list[list[list[int]]]:
        """Completion token ids: for every prompt, `sampling.n` lists of ids (eos excluded)."""
        ...

    def close(self) -> None: ...


def make_engine(model: str, args: EngineArgs, adapters: list[str] = ()) -> Engine:
    """Start the engine of `args.backend` for base `model`, able to serve `adapters` (paths)."""
    from robalign.sources import check_model_source

    check_model_source(model)
    cls = ENGINES.get(args.backend)
    if cls is None:
        raise ConfigError(None, "engine.backend", f"one of {BACKENDS}", got=repr(args.backend))
    return cls(model, args, list(adapters))
