"""Checks that a LoRA adapter directory is one and fits its base model.

Why: vLLM and PEFT both fail late and obscurely on a wrong adapter (a shape error deep in a
kernel), and a mismatched base of the same shapes fails not at all: it answers garbage. We read
only small files (adapter_config.json, the safetensors headers) and compare every LoRA matrix
with the weight of the base model it attaches to; then we compare the base's weight fingerprint
(robalign.models.fingerprint) with the one of the base the adapter was trained on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from robalign.errors import UserError
from robalign.models.fingerprint import METHOD, fingerprint, read_record

#: LoRA ranks vLLM accepts for `max_lora_rank` (vllm.config.lora.MaxLoRARanks).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, from the file's header only (safetensors' lazy `safe_open`: no tensor is read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


def model_weight_shapes(model_dir: Path) -> dict[str, tuple[int, ...]] | None:
    """Shapes of a local HF model's weights (single or sharded safetensors); None if unknown."""
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        return None
    shapes: dict[str, tuple[int, ...]] = {}
    for f in files:
        shapes.update(safetensors_shapes(f))
    return shapes


def read_adapter_config(adapter: str | Path) -> dict:
    """adapter_config.json of `adapter`, or a one-line UserError saying what the directory is instead."""
    p = Path(adapter)
    if not p.exists():
        raise UserError(f"adapter not found: {adapter}")
    if not p.is_dir():
        raise UserError(f"adapter {adapter} is a file; expected a PEFT adapter directory (with adapter_config.json)")
    cfg = p / "adapter_config.json"
    if not cfg.is_file():
        hint = " (it holds a full model: give it as the model, not as an adapter)" if (p / "config.json").is_file() else ""
        raise UserError(
            f"adapter {adapter} has no adapter_config.json{hint}; expected a PEFT adapter directory "
            "(adapter_config.json + adapter_model.safetensors, as a LoRA training run saves it)"
        )
    try:
        return json.loads(cfg.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"adapter {adapter}: adapter_config.json is not valid JSON ({err})") from None


def adapter_rank(config: dict) -> int:
    """Largest LoRA rank used anywhere in the adapter."""
    return max([int(config.get("r", 8)), *[int(v) for v in (config.get("rank_pattern") or {}).values()]])


def vllm_max_lora_rank(ranks: list[int]) -> int:
    """Smallest rank vLLM accepts that covers every adapter."""
    need = max(ranks, default=1)
    for r in VLLM_LORA_RANKS:
        if r >= need:
            return r
    raise UserError(f"LoRA rank {need} is above vLLM's maximum {VLLM_LORA_RANKS[-1]}")


_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<which>A|B)(?:\.[^.]+)?\.weight$")


def check_adapter(adapter: str | Path, base: str | Path) -> dict:
    """Raise UserError unless `adapter` is a PEFT adapter trained for `base`; return its config.

    Two checks, both on small reads: every LoRA matrix must fit the base weight it attaches to
    (`_check_shapes`), and the base's weights must be the ones it was trained on
    (`_check_base_weights`). A hub id as base is left to the engine (nothing local to read).
    """
    from robalign.sources import check_model_source, is_local

    if is_local(str(base)):  # a hub id is the engine's to resolve
        check_model_source(str(base))
    config = read_adapter_config(adapter)
    if not Path(base).is_dir():
        return config
    _check_shapes(adapter, base, config)
    _check_base_weights(adapter, base, config)
    return config


def _check_shapes(adapter: str | Path, base: str | Path, config: dict) -> None:
    """lora_A is (r, in_features) and lora_B is (out_features, r) of the base weight
    (out_features, in_features) it attaches to. A module missing from the base, or a different
    size, means the adapter was trained for another model."""
    where = f"adapter {adapter}"
    trained_on = config.get("base_model_name_or_path")
    base_dir = Path(base)
    base_cfg = json.loads((base_dir / "config.json").read_text()) if (base_dir / "config.json").is_file() else {}
    base_shapes = model_weight_shapes(base_dir)
    files = sorted(Path(adapter).glob("adapter_model*.safetensors"))
    if not files:
        if not list(Path(adapter).glob("adapter_model*.bin")):
            raise UserError(f"{where} has no adapter_model.safetensors; expected the weights next to adapter_config.json")
        return
    if base_shapes is None:
        return
    other = f"; adapter_config.json says it was trained on {trained_on}" if trained_on else ""
    for f in files:
        for key, shape in safetensors_shapes(f).items():
            m = _LORA_KEY.match(key)
            if not m:
                continue
            module = m["module"]
            w = base_shapes.get(f"{module}.weight")
            if w is None:
                raise UserError(
                    f"{where} was trained for a different base model than {base}: module {module} does not exist in it{other}"
                )
            if module.endswith("embed_tokens"):  # lora_A (r, vocab), lora_B (hidden, r): embedding is (vocab, hidden)
                expected = (w[1], None) if m["which"] == "B" else (None, w[0])
            else:
                expected = (w[0], None) if m["which"] == "B" else (None, w[1])
            got = (shape[0], None) if m["which"] == "B" else (None, shape[-1])
            if expected != got:
                size = [d for d in expected if d is not None][0]
                have = [d for d in got if d is not None][0]
                raise UserError(
                    f"{where} was trained for a different base model than {base}: {module} has size {have} in the "
                    f"adapter but {size} in the base (hidden_size {base_cfg.get('hidden_size', '?')}, "
                    f"vocab {base_cfg.get('vocab_size', '?')}){other}"
                )


def _check_base_weights(adapter: str | Path, base: str | Path, config: dict) -> None:
    """Refuse a base of the right shapes but other weights (e.g. an adapter trained on an SFT model
    applied to the untrained model it started from). The fingerprint recorded at training time
    (robalign_adapter.json) decides; without one, a *different existing* local directory named by
    adapter_config.json's base_model_name_or_path is fingerprinted instead (a copy of the same
    weights passes). A hub id there, or no fingerprintable weights: nothing to compare, accepted."""
    have = fingerprint(base)
    if have is None:
        return
    rec = read_record(adapter)
    if rec and rec.get("fingerprint") and rec.get("fingerprint_method") == METHOD:
        trained_on, want = rec.get("base_model") or "?", rec["fingerprint"]
        same_dir = rec.get("base_model_path") and Path(rec["base_model_path"]) == Path(base).resolve()
    else:
        trained_on = config.get("base_model_name_or_path")
        if not trained_on or not Path(trained_on).is_dir() or Path(trained_on).resolve() == Path(base).resolve():
            return
        want, same_dir = fingerprint(trained_on), False
        if want is None:
            return
    if want != have:
        fix = ("was it retrained or overwritten since? retrain the adapter on it, or restore that base"
               if same_dir else "pass the base it was trained on")
        raise UserError(f"adapter {adapter} was trained on base {trained_on} (fingerprint {want[:12]}..), but {base} has "
                        f"different weights{' now' if same_dir else ''} ({have[:12]}..): {fix}")
