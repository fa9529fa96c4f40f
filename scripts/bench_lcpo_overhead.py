#!/usr/bin/env python
"""Step-time overhead of LCPO over the plain loss, DPO and SimPO side by side in one run.

Four real PreferenceTrainers (dpo, dpo+lcpo, simpo, simpo+lcpo) on the same model size, data
and batch; each timed step is TRL's training_step (forward, loss, backward) + optimizer step
+ the LCPO reliability update. Variants are interleaved step by step (A B C D A B C D ...) so
machine load drifts hit all of them alike; the ratio of medians is reported.
The paper reports +11% (DPO) and +32-40% (SimPO) for its implementation; the target here is < 3%.

    python scripts/bench_lcpo_overhead.py [--quick] [--size demo|small|test]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for var, val in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                 "TOKENIZERS_PARALLELISM": "false", "HF_HOME": str(REPO / ".cache/hf")}.items():
    os.environ.setdefault(var, val)
sys.path.insert(0, str(REPO / "src"))


def build(loss_type, lcpo, model_dir, data, out, batch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from robalign.config import LCPOArgs
    from robalign.config.training import PreferenceConfig
    from robalign.trainers.preference import PreferenceTrainer

    args = PreferenceConfig(loss_name=loss_type, noise_model="lcpo" if lcpo else "none", lcpo=LCPOArgs(posterior="implicit"),
                            output_dir=str(out), bf16=False, use_cpu=True, gradient_checkpointing=False, report_to=[],
                            per_device_train_batch_size=batch, max_length=64, beta=1.0 if loss_type == "dpo" else 2.0,
                            learning_rate=1e-5, seed=0)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    ref = AutoModelForCausalLM.from_pretrained(model_dir) if loss_type == "dpo" else None
    t = PreferenceTrainer(model=model, ref_model=ref, args=args, train_dataset=data,
                          processing_class=AutoTokenizer.from_pretrained(model_dir))
    t.create_optimizer_and_scheduler(num_training_steps=1000)
    t.current_gradient_accumulation_steps = 1  # set by the training loop, which is not run here
    t.model.train()
    batch_inputs = t.data_collator([t.train_dataset[i] for i in range(batch)])
    return t, batch_inputs


def step(t, inputs):
    t.training_step(t.model, inputs)
    t.optimizer.step()
    t.optimizer.zero_grad(set_to_none=True)
    t.lcpo_step()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps (noisier)")
    p.add_argument("--size", default="demo", choices=["test", "demo", "small"])
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch", type=int, default=16)
    args = p.parse_args(argv)
    steps = args.steps or (15 if args.quick else 60)
    import datasets
    import torch

    from robalign.data.loading import to_conversational
    from robalign.models.factory import make_model

    tmp = Path(tempfile.mkdtemp(prefix="bench_lcpo_"))
    model_dir = REPO / "artifacts/models" / args.size
    if not (model_dir / "config.json").exists():
        model_dir = make_model(args.size, tmp / "model", seed=0)
    prefs = REPO / "artifacts/data/prefs_uniform_0.3.jsonl"
    data = datasets.load_dataset("json", data_files=str(prefs), split="train").select(range(args.batch))
    data = to_conversational(data.remove_columns([c for c in data.column_names if c not in ("prompt", "chosen", "rejected")]))
    variants = {(lt, lc): build(lt, lc, model_dir, data, tmp / f"{lt}{lc}", args.batch) for lt in ("dpo", "simpo") for lc in (False, True)}
    for t, inputs in variants.values():  # warm-up
        for _ in range(3):
            step(t, inputs)
    times = {k: [] for k in variants}
    for _ in range(steps):
        for key, (t, inputs) in variants.items():
            t0 = time.perf_counter()
            step(t, inputs)
            times[key].append(time.perf_counter() - t0)
    print(f"model {args.size}, batch {args.batch} pairs, {steps} interleaved steps per variant, torch threads {torch.get_num_threads()}")
    print(f"{'loss':6s} {'plain s/step':>13s} {'lcpo s/step':>12s} {'ratio lcpo/plain':>17s}")
    for lt in ("dpo", "simpo"):
        a, b = statistics.median(times[(lt, False)]), statistics.median(times[(lt, True)])
        print(f"{lt:6s} {a:13.4f} {b:12.4f} {b / a:17.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
