"""`EngineArgs`: the options of every generation engine (the `engine:` block of a tournament,
`robalign generate`'s flags); `backend` chooses among the registered engines (`registry.ENGINES`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, Optional

from robalign.config.schema import field
from robalign.errors import ConfigError
from robalign.eval.engines.registry import ENGINES

BACKENDS = list(ENGINES)


@dataclass
class EngineArgs:
    backend: Literal["vllm", "hf"] = field("vllm", help="Generation engine: vllm (fast, LoRA via LoRARequest) or hf (transformers + PEFT).", choices=BACKENDS)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = field(
        "auto", help="Weights dtype; auto = bfloat16 on GPUs/CPUs with fast bf16, float32 otherwise (CPUs without native bf16 emulate it, which is slower than float32).",
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
