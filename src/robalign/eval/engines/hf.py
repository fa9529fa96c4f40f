"""The HF fallback backend: transformers `generate` with PEFT adapters switched in place.

For machines without vLLM, and as the reference the vLLM path is tested against: given the
same token ids and greedy decoding, both must produce the same completions. Prompts are
left-padded in length-sorted batches (less padding, and padding never changes a row's result
beyond float rounding since the mask and position ids exclude it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from robalign.models.context import check_batch, context_limit
from robalign.models.decoding import generate_ids
from robalign.models.loading import attach_adapter, check_adapter_tokenizer, load_causal_lm, load_tokenizer


class HFEngine:
    backend = "hf"

    def __init__(self, model: str, args, adapters: list[str] = ()):
        """`args` is the run's EngineArgs (not imported here: the registry imports this module);
        `adapters` need no preparation: each is loaded when first asked for (PEFT switches them in place)."""
        import torch

        self.model, self.args = str(model), args
        self.tokenizer = load_tokenizer(self.model)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.base = load_causal_lm(self.model, dtype=args.resolved_dtype(), device=self.device)
        limit = context_limit(self.model, args.max_model_len, 0, config=self.base.config)
        self.context = limit.context if limit else None  # HF would run past it for minutes: generate() refuses
        self.peft = None  # a PeftModel wrapping self.base once the first adapter is loaded
        self.adapter_names: dict[str, str] = {}
        self.n_generated = 0
        from robalign.models.chat import stop_token_ids

        self.eos = stop_token_ids(self.tokenizer, self.base.generation_config)  # every id that ends a turn
        self.pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos[0]
        torch.manual_seed(args.seed)

    def _select(self, adapter: Optional[str]):
        """The module to call and a context manager disabling adapters for the base model."""
        import contextlib

        if adapter is None:
            return (self.peft.disable_adapter() if self.peft is not None else contextlib.nullcontext()), (self.peft or self.base)
        path = str(Path(adapter).resolve())
        if path not in self.adapter_names:
            check_adapter_tokenizer(path, self.tokenizer)
            name = f"a{len(self.adapter_names)}"
            if self.peft is None:
                self.peft = attach_adapter(self.base, path, name)
            else:
                self.peft.load_adapter(path, adapter_name=name)
            self.adapter_names[path] = name
        self.peft.set_adapter(self.adapter_names[path])
        return contextlib.nullcontext(), self.peft

    def generate(self, prompt_ids, sampling, adapter: Optional[str] = None):
        import torch

        check_batch(self.context, prompt_ids, sampling.max_tokens)
        ctx, module = self._select(adapter)
        order = sorted(range(len(prompt_ids)), key=lambda i: len(prompt_ids[i]))
        results: list = [None] * len(prompt_ids)
        kw = sampling.to_hf(self.eos, self.pad)
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        bs = self.args.hf_batch_size
        with ctx, torch.inference_mode():
            for start in range(0, len(order), bs):
                idx = order[start : start + bs]
                width = max(len(prompt_ids[i]) for i in idx)
                ids = torch.full((len(idx), width), self.pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):  # left padding: generation continues every row at the end
                    p = prompt_ids[i]
                    ids[row, width - len(p) :] = torch.tensor(p)
                    mask[row, width - len(p) :] = 1
                new = generate_ids(module, mask.to(self.device), kw, input_ids=ids.to(self.device))
                for row, i in enumerate(idx):
                    results[i] = [new[row * sampling.n + k] for k in range(sampling.n)]
        self.n_generated += len(prompt_ids)
        return results

    def close(self) -> None:
        self.base = self.peft = None
