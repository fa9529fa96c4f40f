"""Resolve precision and memory options from the hardware, not from library defaults.

TRL 1.16's DPOConfig turns bf16 and gradient checkpointing on by default. On a CPU run
that either fails ("Your setup doesn't support bf16/gpu") or crawls: a CPU without native bf16
matmuls runs bf16 slower than fp32, and checkpointing recomputes the forward pass to save memory
a CPU run rarely lacks (figures: docs/experiments.md, "Figures behind defaults"). So when the recipe does not say, robalign decides: bf16 on GPUs that support it,
fp32 on CPU; gradient checkpointing on GPU (memory), off on CPU. What the recipe sets is kept.

Under `accelerate launch` the accelerate config's `mixed_precision` (ACCELERATE_MIXED_PRECISION)
is the user's explicit choice and wins over the hardware default: DeepSpeed refuses to start when
its bf16 setting and the trainer's disagree (e.g. zero3.yaml's bf16 against fp32 on CPU).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hardware:
    cuda: bool
    bf16_supported: bool
    cpu_fast_bf16: bool

    @property
    def use_bf16(self) -> bool:
        return self.bf16_supported if self.cuda else self.cpu_fast_bf16


def detect() -> Hardware:
    import torch

    cuda = torch.cuda.is_available()
    bf16 = bool(cuda and torch.cuda.is_bf16_supported())
    return Hardware(cuda=cuda, bf16_supported=bf16, cpu_fast_bf16=cpu_has_fast_bf16())


def cpu_has_fast_bf16() -> bool:
    """AMX or AVX512-BF16 make CPU bf16 worthwhile; without them it is several times slower."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def launcher_precision(environ: dict | None = None) -> str | None:
    """The mixed precision `accelerate launch` was given (config file or --mixed_precision), if any."""
    import os

    value = (environ if environ is not None else os.environ).get("ACCELERATE_MIXED_PRECISION", "").lower()
    return value if value in ("no", "fp16", "bf16") else None


def resolve_training_args(training: dict, hw: Hardware | None = None, launcher: str | None = None) -> dict:
    """Fill bf16/fp16/gradient_checkpointing/use_cpu where the recipe is silent: precision from
    the launcher's mixed_precision when there is one, else from the hardware."""
    hw = hw or detect()
    out = dict(training)
    if "bf16" not in out and "fp16" not in out:
        out["bf16"] = launcher == "bf16" if launcher else hw.use_bf16
        out["fp16"] = launcher == "fp16"
    out.setdefault("bf16", False)
    out.setdefault("fp16", False)
    out.setdefault("gradient_checkpointing", hw.cuda)
    if not hw.cuda:
        out.setdefault("use_cpu", True)
    return out


def resolve_torch_dtype(name: str, hw: Hardware | None = None) -> str:
    if name != "auto":
        return name
    hw = hw or detect()
    return "bfloat16" if hw.use_bf16 else "float32"
