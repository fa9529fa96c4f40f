"""Where a model is: one check for every verb that loads a base model by path or hub id.

Why: transformers reports a missing local folder as the hub's "Repo id must be in the form...",
an empty folder as a sentencepiece/tokenizer conversion error, and a LoRA adapter given as the
model as a missing config.json — all as tracebacks. This turns each into one line that says what
the path is instead and what was expected.
"""

from __future__ import annotations

import os
from pathlib import Path

from robalign.data.loading import is_local
from robalign.errors import UserError


def check_model_source(model: str, what: str = "--model") -> None:
    """Raise a one-line UserError unless `model` is a local model folder or a plausible hub id."""
    if str(model).strip() == "":
        raise UserError(f"{what}: empty model path; expected a model folder (with config.json) or a hub id")
    if not is_local(model):
        if os.environ.get("HF_HUB_OFFLINE") == "1" and not _cached(model):
            raise UserError(f"{what} {model}: not a local folder, and HF_HUB_OFFLINE=1 forbids downloading it "
                            "(pass a local model folder)")
        return
    p = Path(model).expanduser()
    if not p.exists():
        raise UserError(f"{what} {model}: no such model folder; expected a folder with config.json (as make-model or a training run writes)")
    if not p.is_dir():
        raise UserError(f"{what} {model} is a file; expected a model folder (with config.json)")
    if (p / "config.json").is_file():
        return
    if (p / "adapter_config.json").is_file():
        raise UserError(f"{what} {model} holds a LoRA adapter, not a model; pass its base model as {what} and this folder as --adapter")
    raise UserError(f"{what} {model} holds no model (no config.json); expected a model folder (is its training run finished?)")


def _cached(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an id the hub library rejects is not cached either
        return False
