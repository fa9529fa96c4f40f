"""Load a base model (+ LoRA adapter) for inference in one call.

    from robalign.eval.inference import load_for_inference
    model, tok = load_for_inference("runs/tiny/sft", "runs/tiny/dpo")

The adapter is checked against the base first (a one-line error for a directory that is not an
adapter, or an adapter trained for another model), the dtype comes from the hardware (fp32 on
CPUs without fast bf16), the tokenizer is the adapter's own when it carries one, and the model
is returned in eval mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional


def load_for_inference(base: str, adapter: Optional[str] = None, *, dtype: str = "auto", merge: bool = False, device: Optional[str] = None):
    """Return (model, tokenizer). ``merge=True`` folds the LoRA weights into the base (faster decoding, no switching)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from robalign.config.hardware import resolve_torch_dtype
    from robalign.eval.adapters import check_adapter
    from robalign.models.locate import check_model_source

    check_model_source(base)
    if adapter is not None:
        check_adapter(adapter, base)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, resolve_torch_dtype(dtype))).to(device)
    # a training run saves its tokenizer beside the adapter (it may have added tokens): prefer it
    has_own = adapter is not None and (Path(adapter) / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(adapter if has_own else base)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
        if merge:
            model = model.merge_and_unload()
    return model.eval(), tokenizer
