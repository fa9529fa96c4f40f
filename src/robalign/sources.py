"""Where a model, tokenizer or dataset reference points: a local path or a hub id, and one check of each.

Every layer needs this rule: `config` checks a recipe's paths before anything runs, `data` loads
datasets, `models` loads models and adapters, `eval` and the CLI check flags. It is plain path
logic (no dataset or model is opened), so it sits below all of them instead of in `data` or
`models`, which `config` must not import.

Why the model check: transformers reports a missing local folder as the hub's "Repo id must be
in the form...", an empty folder as a sentencepiece/tokenizer conversion error, and a LoRA
adapter given as the model as a missing config.json — all as tracebacks. `check_model_source`
turns each into one line that says what the path is instead and what was expected.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from robalign.errors import ConfigError, UserError

#: Local data files by suffix, with the `datasets` builder that reads each.
LOCAL_SUFFIXES = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_local(path: str) -> bool:
    """A path we must find on disk (vs a hub id)."""
    return (
        path.startswith((".", "/", "~"))
        or Path(path).suffix in LOCAL_SUFFIXES
        or os.path.exists(path)
        or not _HUB_ID.match(path)
    )


def check_source(path: str, file: str | None, key: str) -> None:
    """Fail early with one line when a local path is missing. (Anything not shaped like a hub id
    'org/name' counts as local, so a malformed hub id is reported as a missing file.)"""
    if is_local(path) and not Path(path).expanduser().exists():
        raise ConfigError(file, key, f"file not found: {path}")


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
