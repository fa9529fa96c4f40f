"""Shared pieces of the training tests: small preference data, recipes, a perturbed policy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def pref_dataset(data_dir):
    """8 conversational preference pairs (with label_flipped) from the synthetic noisy data."""
    import datasets

    from robalign.data.loading import to_conversational

    ds = datasets.load_dataset("json", data_files=str(data_dir / "prefs_uniform_0.3.jsonl"), split="train").select(range(8))
    ds = ds.remove_columns([c for c in ds.column_names if c not in ("prompt", "chosen", "rejected", "label_flipped")])
    return to_conversational(ds)


def perturbed_model(model_dir, scale: float = 0.05, seed: int = 0):
    """The model with seeded noise on every weight, so policy != reference and margins are non-zero."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return model


def make_recipe(model_dir, loss_type="dpo", noise_model="none", training=None, **lcpo):
    from robalign.config import LCPOArgs, MethodArgs, ModelArgs, Recipe

    return Recipe(model=ModelArgs(model_name_or_path=str(model_dir)), method=MethodArgs(name="preference", loss_type=loss_type,
                  noise_model=noise_model), training=dict(training or {}), lcpo=LCPOArgs(**lcpo))


def base_args(out, **kw):
    base = dict(output_dir=str(out), bf16=False, use_cpu=True, gradient_checkpointing=False, report_to=[], max_length=64,
                per_device_train_batch_size=8, seed=0)
    base.update(kw)
    return base


def run_module(args: list[str], env_extra: dict | None = None, timeout: int = 600, cwd=REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


_CAUSE = ("Error", "error:", "Traceback", "terminate called", "OMP:", "Abort", "abort", "Killed", "what():")


def failure_excerpt(result: subprocess.CompletedProcess, tail: int = 1500) -> str:
    """What a failed run printed that says why: every line naming an error (the first 40, from any
    rank of a torchrun launch, whose own summary alone fills the tail), then the tail of stderr."""
    causes = [line for line in result.stderr.splitlines() if any(c in line for c in _CAUSE)][:40]
    return "\n".join(["causes:", *causes, "tail:", result.stderr[-tail:]])
