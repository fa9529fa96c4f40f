"""Load a base model (+ LoRA adapter) for inference in one call.

    from robalign.eval.inference import load_for_inference
    model, tok = load_for_inference("runs/tiny/sft", "runs/tiny/dpo")

The adapter is checked against the base first (a one-line error for a directory that is not an
adapter, or an adapter trained for another model), the dtype comes from the hardware (fp32 on
CPUs without fast bf16), and the model is returned in eval mode.
"""

from __future__ import annotations

from typing import Optional


def load_for_inference(base: str, adapter: Optional[str] = None, *, dtype: str = "auto", merge: bool = False, device: Optional[str] = None):
    """Return (model, tokenizer). ``merge=True`` folds the LoRA weights into the base (faster decoding, no switching)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from robalign.config.hardware import resolve_torch_dtype
    from robalign.eval.adapters import check_adapter

    if adapter is not None:
        check_adapter(adapter, base)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, resolve_torch_dtype(dtype))).to(device)
    tokenizer = AutoTokenizer.from_pretrained(base)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
        if merge:
            model = model.merge_and_unload()
    return model.eval(), tokenizer
