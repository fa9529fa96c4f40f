"""The training run directory contract: what every run writes next to its checkpoints.

    <output_dir>/resolved_recipe.yaml   the recipe after overrides and hardware resolution
    <output_dir>/run_info.json          seed, package versions, git commit, command line, hardware
    <output_dir>/metrics.jsonl          one JSON object per logging step (see callbacks.py)
    <output_dir>/checkpoint-N/          Trainer checkpoints; complete ones carry COMPLETE_MARKER
    <output_dir>/                       the final model or adapter + tokenizer (HF format)

Why a completion marker instead of trusting `checkpoint-*` folders: the Trainer writes a
checkpoint file by file, so a run killed mid-save leaves a folder that looks like the newest
checkpoint but lacks the optimizer or RNG state. `--resume` only considers checkpoints whose
marker was written (atomically, after every rank finished saving).
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import yaml

from robalign.atomic import atomic_write_json, atomic_write_text

COMPLETE_MARKER = "robalign_checkpoint.json"
_CKPT = re.compile(r"^checkpoint-(\d+)$")
PACKAGES = ["robalign", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "deepspeed", "tokenizers"]


def write_resolved_recipe(out_dir: str | Path, resolved: dict) -> Path:
    return atomic_write_text(Path(out_dir) / "resolved_recipe.yaml", yaml.safe_dump(resolved, sort_keys=False))


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def run_info(seed: int, hardware, world_size: int, argv: list[str] | None = None) -> dict:
    import torch

    return {
        "seed": seed,
        "command": " ".join([Path(sys.executable).name, *(argv if argv is not None else sys.argv)]),
        "git_commit": _git_commit(),
        "versions": _versions(),
        "python": platform.python_version(),
        "hardware": {
            "cuda": hardware.cuda,
            "bf16_supported": hardware.bf16_supported,
            "cpu_fast_bf16": hardware.cpu_fast_bf16,
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "gpus": torch.cuda.device_count() if hardware.cuda else 0,
            "world_size": world_size,
            "platform": platform.platform(),
        },
    }


def write_run_info(out_dir: str | Path, info: dict) -> Path:
    return atomic_write_json(Path(out_dir) / "run_info.json", info)


def mark_complete(checkpoint_dir: str | Path, step: int, extra: dict | None = None) -> Path:
    return atomic_write_json(Path(checkpoint_dir) / COMPLETE_MARKER, {"global_step": step, **(extra or {})})


def last_complete_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest `checkpoint-N` folder whose completion marker exists (None if there is none)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return None
    found = []
    for p in out_dir.iterdir():
        m = _CKPT.match(p.name)
        if m and p.is_dir() and (p / COMPLETE_MARKER).is_file():
            found.append((int(m.group(1)), p))
    return max(found)[1] if found else None


def read_marker(checkpoint_dir: str | Path) -> dict:
    return json.loads((Path(checkpoint_dir) / COMPLETE_MARKER).read_text())
