"""Loading a base model, its LoRA adapter and its tokenizer: the one place robalign does it.

Training (`robalign.train`), both engines, attack-eval and the tournament's attack scorer,
`robalign export`, `chat` (through the engines), the reward-model scorer, the prompt-length checks
and the benches load through here, so they agree on what they load.

The tokenizer rule: ALWAYS THE BASE MODEL'S tokenizer, with or without an adapter. Why:
- an engine holds one base and serves every adapter of it; vLLM renders and decodes with that
  base's tokenizer whatever `LoRARequest` runs, so the HF engine and attack-eval must too, or
  the same adapter would be judged on different token ids depending on the path;
- the generation cache (`robalign.eval.cache`) keys prompts by the base's tokenizer files;
- a LoRA adapter cannot change the vocabulary: its matrices are sized by the base's embedding
  (`robalign.models.adapters.check_adapter` refuses any other size).
A training run saves its tokenizer beside the adapter. When that one renders or decodes
differently from the base's (other vocabulary, special tokens or chat template: a run trained
with `model.tokenizer_name_or_path`), no single choice is right for every path, so it is
refused with one line (`check_adapter_tokenizer`) instead of being silently ignored by some
paths and used by others.

Dtype: the caller's resolved torch dtype name ("float32", "bfloat16", ...), or "auto" for the
checkpoint's own (transformers' meaning; robalign's hardware rule is
`robalign.config.hardware.resolve_torch_dtype`, applied by `load_for_inference` and the engines).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from robalign.errors import UserError

#: Files of a saved tokenizer: an adapter folder holding this one carries its own tokenizer.
TOKENIZER_CONFIG = "tokenizer_config.json"


def load_config(model: str, *, trust_remote_code: bool = False):
    """The model's transformers config (config.json), without its weights."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(str(model), trust_remote_code=trust_remote_code)


def load_tokenizer(model: str, *, trust_remote_code: bool = False):
    """The tokenizer of base `model` (see the module doc: adapters never bring their own)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model), trust_remote_code=trust_remote_code)


def load_generation_config(model: str):
    """The checkpoint's generation_config.json as a GenerationConfig; None when it has none."""
    from transformers import GenerationConfig

    try:
        return GenerationConfig.from_pretrained(str(model))
    except OSError:
        return None


def _signature(tokenizer) -> tuple:
    """What rendering prompts and decoding replies depend on. Not which token pads: TRL sets one
    (the eos) on a tokenizer without it, and the saved copy differs in nothing that is rendered."""
    return (tokenizer.get_vocab(), tokenizer.chat_template, tokenizer.eos_token, tokenizer.bos_token,
            sorted(set(tokenizer.all_special_tokens)))


def check_adapter_tokenizer(adapter: str, tokenizer) -> None:
    """Refuse (one line) an adapter whose saved tokenizer differs from its base's `tokenizer`."""
    if not (Path(adapter) / TOKENIZER_CONFIG).is_file():
        return
    own = load_tokenizer(adapter)
    if _signature(own) != _signature(tokenizer):
        what = "chat template" if own.get_vocab() == tokenizer.get_vocab() and own.chat_template != tokenizer.chat_template \
            else "vocabulary or special tokens"
        raise UserError(f"adapter {adapter} carries a tokenizer whose {what} differs from its base "
                        f"{getattr(tokenizer, 'name_or_path', '?')}'s; robalign renders and decodes every adapter with its "
                        "base's tokenizer (what vLLM does): train with the base's tokenizer, or merge the adapter "
                        "(robalign export --merge) and save the tokenizer it needs with the merged model")


def load_pretrained(model: str, *, dtype: str = "auto", **kwargs):
    """`AutoModelForCausalLM.from_pretrained` with a dtype name, left where transformers puts it and in
    its mode: training hands it to the Trainer, which places it (accelerate, DeepSpeed) and sets train mode."""
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(model), dtype=dtype if dtype == "auto" else getattr(torch, dtype), **kwargs)


def load_causal_lm(model: str, adapter: Optional[str] = None, *, dtype: str = "auto", device: Optional[str] = None,
                   merge: bool = False, adapter_name: str = "default", **kwargs):
    """The base `model` (+ the LoRA `adapter`, merged when `merge`) in eval mode on `device`
    (default: cuda when available). `kwargs` go to `from_pretrained` (attn_implementation,
    trust_remote_code). The adapter is expected to have been checked (`check_adapter`)."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    net = load_pretrained(model, dtype=dtype, **kwargs).to(device)
    if adapter is not None:
        net = attach_adapter(net, adapter, adapter_name)
        if merge:
            net = net.merge_and_unload()
    return net.eval()


def attach_adapter(model, adapter: str, adapter_name: str = "default"):
    """`model` wrapped as a PeftModel with the LoRA `adapter` loaded under `adapter_name`, in eval mode
    (further adapters: `peft_model.load_adapter(path, adapter_name=...)`)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter), adapter_name=adapter_name).eval()


def load_for_inference(base: str, adapter: Optional[str] = None, *, dtype: str = "auto", merge: bool = False,
                       device: Optional[str] = None):
    """(model, tokenizer) for one call site that runs the model itself (attack-eval, the attack scorer).

    The base and adapter are checked first (one-line errors for a missing model, a directory that
    is not an adapter, an adapter trained for another model or with another tokenizer); `dtype`
    "auto" is robalign's hardware rule (fp32 on CPUs without fast bf16)."""
    from robalign.config.hardware import resolve_torch_dtype
    from robalign.models.adapters import check_adapter
    from robalign.sources import check_model_source

    check_model_source(base)
    tokenizer = load_tokenizer(base)
    if adapter is not None:
        check_adapter(adapter, base)
        check_adapter_tokenizer(adapter, tokenizer)
    model = load_causal_lm(base, adapter, dtype=resolve_torch_dtype(dtype), device=device, merge=merge)
    return model, tokenizer


def load_reward_model(path: str):
    """(model, tokenizer) of an `AutoModelForSequenceClassification` reward model, fp32, eval mode;
    a folder that is not one is a one-line error. Its pad id is set when missing: the head finds
    each row's last token through it."""
    import torch
    from transformers import AutoModelForSequenceClassification

    try:
        tok = load_tokenizer(path)
        model = AutoModelForSequenceClassification.from_pretrained(str(path), dtype=torch.float32).eval()
    except OSError as err:
        raise UserError(f"reward model {path}: cannot load an AutoModelForSequenceClassification ({str(err).splitlines()[0]})") from None
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return model, tok
