"""The engine registry: backend name -> engine class, the way vLLM registers its backends.

Adding a backend is one module with a class `Engine(model, args, adapters)` (see
`robalign.eval.engines.Engine`) and one entry here; `EngineArgs.backend`'s choices and
`make_engine` derive from this table. The classes import their libraries (vllm, torch) only when
an engine starts, so importing the table is cheap.
"""

from __future__ import annotations

from robalign.eval.engines.hf import HFEngine
from robalign.eval.engines.vllm import VLLMEngine

ENGINES: dict[str, type] = {"vllm": VLLMEngine, "hf": HFEngine}
