"""vLLM vs HF `generate` throughput on the `small` model (29.5M parameters), with and without a LoRA adapter.

Both engines get the same chat-rendered token ids, greedy decoding and the same max_tokens;
throughput = generated tokens / wall time of the generate call (engine start reported apart:
it is paid once per base model per tournament). HF runs first, before vLLM starts, so the two
never share the cores. The adapter is a rank-8 LoRA on every projection with random weights
(it changes every output). Also prints the greedy agreement between the engines.

    python scripts/bench_generate.py            # 256 prompts x 64 tokens
    python scripts/bench_generate.py --quick    # 64 prompts x 32 tokens
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

for var, val in {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
                 "VLLM_CPU_KVCACHE_SPACE": "1"}.items():
    os.environ.setdefault(var, val)

REPO = Path(__file__).resolve().parents[1]


def small_model_and_adapter(root: Path) -> tuple[Path, Path]:
    from robalign.models.factory import make_model

    model = root / "small"
    if not (model / "config.json").is_file():
        make_model("small", model, seed=0)
    adapter = root / "small-lora-r8"
    if not (adapter / "adapter_config.json").is_file():
        import torch
        from peft import LoraConfig, get_peft_model
        from robalign.models.loading import load_causal_lm

        torch.manual_seed(0)
        base = load_causal_lm(model, dtype="float32", device="cpu")
        cfg = LoraConfig(r=8, lora_alpha=16, init_lora_weights=False,
                         target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        get_peft_model(base, cfg).save_pretrained(adapter)
    return model, adapter


def prompts(n: int) -> list[str]:
    from robalign.data.tasks import FAMILIES
    import random

    rng = random.Random(0)
    fams = sorted(FAMILIES)
    return [FAMILIES[fams[i % len(fams)]](rng).prompt for i in range(n)]


def timed(engine, ids, sampling, adapter):
    t0 = time.perf_counter()
    outs = engine.generate(ids, sampling, adapter=adapter)
    dt = time.perf_counter() - t0
    return outs, sum(len(o[0]) for o in outs) / dt, dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="64 prompts x 32 tokens")
    ap.add_argument("--prompts", type=int, default=None)
    ap.add_argument("--max-tokens", type=int, default=None)
    ap.add_argument("--hf-batch-size", type=int, default=64)
    ap.add_argument("--models-dir", default=str(REPO / "artifacts" / "models"))
    args = ap.parse_args()
    n = args.prompts or (64 if args.quick else 256)
    max_tokens = args.max_tokens or (32 if args.quick else 64)

    from robalign.eval.engines import EngineArgs, make_engine
    from robalign.models.chat import render_chat
    from robalign.eval.sampling import SamplingArgs

    model, adapter = small_model_and_adapter(Path(args.models_dir))
    sampling = SamplingArgs(temperature=0.0, max_tokens=max_tokens)
    results = {}

    hf = make_engine(str(model), EngineArgs(backend="hf", dtype="float32", hf_batch_size=args.hf_batch_size))
    ids = render_chat(hf.tokenizer, prompts(n))
    for name, a in (("base", None), ("adapter", str(adapter))):
        hf.generate(ids[:4], SamplingArgs(max_tokens=4), adapter=a)  # warm-up (and loads the adapter)
        results[("hf", name)] = timed(hf, ids, sampling, a)
    hf.close()
    del hf

    t0 = time.perf_counter()
    v = make_engine(str(model), EngineArgs(backend="vllm", dtype="float32", max_lora_rank=8))
    start = time.perf_counter() - t0
    for name, a in (("base", None), ("adapter", str(adapter))):
        v.generate(ids[:4], SamplingArgs(max_tokens=4), adapter=a)  # warm-up (loads the adapter)
        results[("vllm", name)] = timed(v, ids, sampling, a)
    v.close()

    print(f"\nsmall model (29.5M params), {n} prompts x {max_tokens} new tokens, greedy, fp32, HF batch {args.hf_batch_size}; "
          f"vLLM engine start {start:.0f} s (once per base model)")
    print("| setting | HF tok/s | vLLM tok/s | vLLM / HF | greedy outputs equal |")
    print("|:---|---:|---:|---:|---:|")
    summary = {}
    for name in ("base", "adapter"):
        (h_out, h_tps, _), (v_out, v_tps, _) = results[("hf", name)], results[("vllm", name)]
        equal = sum(a == b for a, b in zip(h_out, v_out))
        print(f"| {name} | {h_tps:,.0f} | {v_tps:,.0f} | {v_tps / h_tps:.2f}x | {equal}/{n} |")
        summary[name] = {"hf_tok_s": h_tps, "vllm_tok_s": v_tps, "ratio": v_tps / h_tps, "greedy_equal": equal, "n": n}
    changed = sum(a != b for a, b in zip(results[("vllm", "base")][0], results[("vllm", "adapter")][0]))
    print(f"adapter changed {changed}/{n} vLLM outputs")
    print(json.dumps({"prompts": n, "max_tokens": max_tokens, "vllm_start_s": start, **summary}))


if __name__ == "__main__":
    main()
