"""Environment defaults every entry point applies before heavy imports.

Why: run from a source checkout, robalign keeps every cache inside the checkout's ignored
`.cache/` (as `make` does), so commands run directly — `robalign train`, `python -m
robalign.train`, `accelerate launch` — leave nothing in the home folder or the system temp folder.
A variable the user set wins; an installed (non-checkout) robalign uses the libraries' defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_VARS = {
    "HF_HOME": "hf", "HF_DATASETS_CACHE": "hf/datasets", "VLLM_CACHE_ROOT": "vllm", "TORCHINDUCTOR_CACHE_DIR": "inductor",
    "TRITON_CACHE_DIR": "triton", "MPLCONFIGDIR": "mpl", "XDG_CACHE_HOME": "xdg",
}


def source_checkout() -> Path | None:
    """The repository root when robalign runs from its source tree (editable install), else None."""
    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    try:
        return root if pyproject.is_file() and 'name = "robalign"' in pyproject.read_text(encoding="utf-8") else None
    except OSError:
        return None


#: Where robalign keeps its own caches (the generation cache under generations/).
CACHE_DIR_VAR = "ROBALIGN_CACHE_DIR"


def robalign_cache_dir() -> Path:
    """robalign's own cache folder: $ROBALIGN_CACHE_DIR if set, else the checkout's
    `.cache/robalign`, else (an installed package) `$XDG_CACHE_HOME/robalign`, i.e.
    `~/.cache/robalign` by default. Shared by every command and every output folder."""
    if os.environ.get(CACHE_DIR_VAR):
        return Path(os.environ[CACHE_DIR_VAR]).expanduser()
    root = source_checkout()
    if root is not None:
        return root / ".cache" / "robalign"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "robalign"


def apply_defaults() -> None:
    root = source_checkout()
    if root is not None:
        for var, sub in CACHE_VARS.items():
            os.environ.setdefault(var, str(root / ".cache" / sub))
    # DeepSpeed (imported by transformers/peft) probes for an accelerator and prints a warning on
    # every CPU-only start: tell it the answer when there is plainly no GPU.
    if "DS_ACCELERATOR" not in os.environ and not os.path.exists("/dev/nvidia0") and not os.path.exists("/dev/kfd"):
        os.environ["DS_ACCELERATOR"] = "cpu"
