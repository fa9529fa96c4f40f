#!/usr/bin/env python
"""LCPO recovery bench: does each variant recover the flip rate, and does it help?

For uniform and instance-dependent noise at flip rates 0.1-0.4, trains from the SFT demo model
(runs/tiny/sft) with plain DPO, cDPO / rDPO at the true eps, and each LCPO variant
(posterior implicit|reference x m_step soft_label|reweight), then prints per run: final eta,
posterior AUC (flipped vs clean, at the end of training), clean held-out preference accuracy
(prefs_eval.jsonl) and greedy task accuracy (bench/*.jsonl, HF generate).

    python scripts/bench_lcpo_recovery.py --quick            # 30% uniform, fewer steps, 1 seed
    python scripts/bench_lcpo_recovery.py                    # full grid
    python scripts/bench_lcpo_recovery.py --greedy-only runs/tiny/sft   # just the task accuracy
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for var, val in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                 "TOKENIZERS_PARALLELISM": "false", "HF_HOME": str(REPO / ".cache/hf")}.items():
    os.environ.setdefault(var, val)

FAMILIES = ["sort", "reverse", "count", "max", "add"]


def greedy_accuracy(model_dir: str | Path, bench_dir: str | Path = REPO / "artifacts/data/bench", max_new_tokens: int = 24,
                    batch_size: int = 100, limit: int | None = None) -> dict[str, float]:
    """Greedy exact match per task family (+ 'mean') with HF generate; loads an adapter dir too."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from robalign.data.verifiers import verify

    model_dir = Path(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    if (model_dir / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(model_dir).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()
    tok.padding_side = "left"
    out = {}
    for fam in FAMILIES:
        rows = [json.loads(x) for x in (Path(bench_dir) / f"{fam}.jsonl").read_text().splitlines() if x.strip()]
        rows = rows[:limit] if limit else rows
        right = 0
        for i in range(0, len(rows), batch_size):
            chunk = rows[i : i + batch_size]
            texts = [tok.apply_chat_template([{"role": "user", "content": r["prompt"]}], tokenize=False, add_generation_prompt=True)
                     for r in chunk]
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id,
                                     eos_token_id=tok.eos_token_id)
            for r, g in zip(chunk, gen[:, enc["input_ids"].shape[1]:]):
                right += verify(fam, tok.decode(g, skip_special_tokens=True), r["answer"])
        out[fam] = right / len(rows)
    out["mean"] = sum(out[f] for f in FAMILIES) / len(FAMILIES)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--greedy-only", metavar="MODEL_DIR")
    args = p.parse_args(argv)
    if args.greedy_only:
        t = time.time()
        acc = greedy_accuracy(args.greedy_only)
        print(json.dumps({k: round(v, 3) for k, v in acc.items()}), f"({time.time() - t:.0f} s)")
        return 0
    raise SystemExit("grid not written yet")


if __name__ == "__main__":
    sys.exit(main())
