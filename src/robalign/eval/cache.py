"""On-disk generation cache: one file per (model, adapter, prompts, sampling, backend) shard.

Why shards: a tournament re-run with one new adapter must only generate for that adapter,
and a crash or Ctrl-C must lose at most the work in flight. Each shard is written atomically
once generated, and its key hashes everything that changes the outputs: the model and
adapter files (names, sizes, modification times: retraining invalidates), the exact prompt
strings, the sampling settings and the backend.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

from robalign.atomic import atomic_write_json

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".model", ".txt")


def fingerprint(path: Optional[str]) -> Optional[str]:
    """Identity of a model/adapter: a local dir's weight/config files (name, size, mtime); a hub id as is."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_dir():
        return str(path)
    h = hashlib.sha256(str(p.resolve()).encode())
    for f in sorted(p.iterdir()):
        if f.is_file() and f.suffix in _WEIGHT_SUFFIXES:
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def prompts_hash(prompts: list[str]) -> str:
    return hashlib.sha256(json.dumps(prompts, ensure_ascii=False).encode()).hexdigest()[:16]


def shard_key(model: str, adapter: Optional[str], prompts: list[str], sampling: dict, backend: str) -> str:
    blob = json.dumps(
        {"model": fingerprint(model), "adapter": fingerprint(adapter), "prompts": prompts_hash(prompts), "sampling": sampling, "backend": backend},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class GenerationCache:
    """`root/<key>.json` = {"meta": {...}, "outputs": [[completion, ...] per prompt]}."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str, n_prompts: int) -> Optional[list[list[str]]]:
        p = self.path(key)
        if not p.is_file():
            return None
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, OSError):
            return None  # unreadable shard (should not happen with atomic writes): regenerate it
        outs = data.get("outputs")
        return outs if isinstance(outs, list) and len(outs) == n_prompts else None

    def put(self, key: str, meta: dict, outputs: list[list[str]]) -> Path:
        return atomic_write_json(self.path(key), {"meta": meta, "outputs": outputs}, indent=None)
