"""A cheap fingerprint of a local model's weights, and the record an adapter keeps of its base.

Why: a LoRA adapter applied to another base of the same shapes loads without complaint and
answers garbage; shapes cannot tell two models of one geometry apart (an SFT model and the
untrained model it started from), the weights can. Hashing a whole 16 GB checkpoint would cost
a minute on every `robalign chat`, so the fingerprint hashes, for every tensor of the
safetensors files in name order: its name, dtype, shape and its bytes — all of them when it is
small (<= 3 windows), else three 4 KiB windows at its start, middle and end. Training, merging
a LoRA or resizing changes (nearly) every element of each tensor it touches, so each such
tensor is caught; a copy of the same weights is not. About 12 KiB is read per tensor (a few MB
for a 70B model), independent of file size. Because it hashes tensors, not files, a re-sharded
save of the same weights keeps its fingerprint; a re-cast one (fp32 -> bf16) does not.
Directories without safetensors files (pickled `.bin` weights) have no fingerprint (None).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from robalign.atomic import atomic_write_json
from robalign.errors import UserError

#: Name of the method below; a record made by another method is not compared.
METHOD = "safetensors-tensor-windows-v1"
#: The file a training run writes beside its adapter: the base it was trained on.
RECORD = "robalign_adapter.json"
WINDOW = 4096


def safetensors_header(path: Path) -> tuple[dict, int]:
    """(header JSON, offset where the data region starts): the 8-byte length + JSON prefix of the file."""
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        if n > os.fstat(fh.fileno()).st_size - 8:
            raise ValueError("header longer than the file")
        return json.loads(fh.read(n)), 8 + n


def fingerprint(model_dir: str | Path, pattern: str = "*.safetensors") -> str | None:
    """sha256 hex of the model's sampled weights (see the module doc); None without safetensors files.
    `pattern` picks the weight files (an adapter's: adapter_model*.safetensors)."""
    d = Path(model_dir)
    files = sorted(d.glob(pattern))
    if not files:
        return None
    stats = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _fingerprint(str(d.resolve()), stats)  # cached: a tournament checks many adapters of one base


@lru_cache(maxsize=64)
def _fingerprint(model_dir: str, stats: tuple) -> str:
    tensors = []
    for name, _, _ in stats:
        header, start = safetensors_header(Path(model_dir) / name)
        tensors += [(k, v, name, start) for k, v in header.items() if k != "__metadata__"]
    h = hashlib.sha256()
    handles: dict[str, BinaryIO] = {}
    try:
        for key, info, name, start in sorted(tensors, key=lambda t: t[0]):
            h.update(json.dumps([key, info["dtype"], info["shape"]]).encode())
            a, b = (start + o for o in info["data_offsets"])
            if name not in handles:
                handles[name] = open(Path(model_dir) / name, "rb")
            fh = handles[name]
            spans = [(a, b - a)] if b - a <= 3 * WINDOW else [(a, WINDOW), (a + (b - a - WINDOW) // 2, WINDOW), (b - WINDOW, WINDOW)]
            for pos, size in spans:
                fh.seek(pos)
                h.update(fh.read(size))
    finally:
        for fh in handles.values():
            fh.close()
    return h.hexdigest()


def local_model_dir(base: str | Path) -> Path | None:
    """`base` itself when it is a directory, else its snapshot in the local hub cache (a base just
    trained on was downloaded there), else None. Never downloads."""
    if Path(base).is_dir():
        return Path(base)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(base), local_files_only=True))
    except (ImportError, OSError, ValueError):  # not cached, not a valid repo id
        return None


def record_base(adapter_dir: str | Path, base: str | Path) -> Path | None:
    """Write ``adapter_dir/robalign_adapter.json`` (the base's name, path and weight fingerprint)
    right after a training run saves its adapter, so `check_adapter` can refuse another base of
    the same shapes later. Returns the file, or None when `adapter_dir` holds no adapter (a full
    fine-tune is its own model: nothing to record)."""
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        return None
    local = local_model_dir(base)
    return atomic_write_json(adapter_dir / RECORD, {
        "base_model": str(base),
        "base_model_path": str(local.resolve()) if local else None,
        "fingerprint": fingerprint(local) if local else None,
        "fingerprint_method": METHOD,
    })


def read_record(adapter_dir: str | Path) -> dict | None:
    """The adapter's base record, or None when it has none (adapters saved by other tools)."""
    p = Path(adapter_dir) / RECORD
    if not p.is_file():
        return None
    try:
        rec = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{p}: not valid JSON ({err}); delete it to skip the base-weights check, or retrain the adapter") from None
    if not isinstance(rec, dict):
        raise UserError(f"{p}: expected a JSON object with base_model and fingerprint, got {type(rec).__name__}")
    return rec
