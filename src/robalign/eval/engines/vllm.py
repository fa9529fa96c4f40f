"""The vLLM backend: one `vllm.LLM` per base model, adapters as `LoRARequest`s.

vLLM starts worker processes: scripts that build this engine must run under
``if __name__ == "__main__":``. LoRA is enabled only when adapters are given or `max_lora_rank` is
set (it costs memory and a little speed); by default the largest rank among the adapters sets
`max_lora_rank`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from robalign.models.adapters import adapter_rank, read_adapter_config, vllm_max_lora_rank
from robalign.models.context import check_batch, context_limit
from robalign.models.loading import check_adapter_tokenizer, load_tokenizer


class VLLMEngine:
    backend = "vllm"

    def __init__(self, model: str, args, adapters: list[str] = ()):
        """`args` is the run's EngineArgs (not imported here: the registry imports this module)."""
        args.apply_env()
        from vllm import LLM

        self.model, self.args = str(model), args
        self.tokenizer = load_tokenizer(self.model)  # prompts are rendered and replies decoded with the base's
        for a in adapters:  # before the ~40 s start
            check_adapter_tokenizer(a, self.tokenizer)
        self.checked = {str(Path(a).resolve()) for a in adapters}
        self.lora_ids: dict[str, int] = {}
        kwargs = {}
        if adapters or args.max_lora_rank is not None:  # LoRA on: adapters known now, or a rank for later ones
            ranks = [adapter_rank(read_adapter_config(a)) for a in adapters]
            kwargs.update(
                enable_lora=True,
                max_loras=args.max_loras,
                max_lora_rank=args.max_lora_rank or vllm_max_lora_rank(ranks),
            )
        if args.max_model_len is not None:
            context_limit(self.model, args.max_model_len, 0)  # one line, before the start, for a length beyond the model's
            kwargs["max_model_len"] = args.max_model_len
        self.llm = LLM(
            model=self.model,
            dtype=args.resolved_dtype(),
            tensor_parallel_size=args.tensor_parallel_size,
            gpu_memory_utilization=args.gpu_memory_utilization,
            enforce_eager=args.enforce_eager,
            seed=args.seed,
            generation_config="vllm",  # do not take sampling defaults from the checkpoint
            **kwargs,
        )
        self.context = self.llm.model_config.max_model_len  # vLLM's own figure; generate() checks against it
        self.lora_enabled = bool(kwargs.get("enable_lora"))
        self.n_generated = 0
        from robalign.models.chat import stop_token_ids

        self.eos = stop_token_ids(self.tokenizer, self.model)  # the turn-end ids of the checkpoint's generation config too

    def _lora(self, adapter: Optional[str]):
        if adapter is None:
            return None
        if not self.lora_enabled:
            raise RuntimeError("this vLLM engine was started without adapters; pass them to make_engine()")
        from vllm.lora.request import LoRARequest

        path = str(Path(adapter).resolve())
        if path not in self.checked:
            check_adapter_tokenizer(path, self.tokenizer)
            self.checked.add(path)
        if path not in self.lora_ids:
            self.lora_ids[path] = len(self.lora_ids) + 1  # ids start at 1 (0 = no adapter)
        return LoRARequest(Path(path).name or "adapter", self.lora_ids[path], path)

    def generate(self, prompt_ids, sampling, adapter: Optional[str] = None):
        if not prompt_ids:
            return []
        check_batch(self.context, prompt_ids, sampling.max_tokens)  # vLLM would fail mid-run instead
        outs = self.llm.generate(
            [{"prompt_token_ids": list(p)} for p in prompt_ids],
            sampling.to_vllm(self.eos),
            lora_request=self._lora(adapter),
            use_tqdm=False,
        )
        self.n_generated += len(prompt_ids)
        return [[[t for t in c.token_ids if t not in self.eos] for c in o.outputs] for o in outs]

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            except Exception:  # shutting down is best effort; the process exit cleans up too
                pass
