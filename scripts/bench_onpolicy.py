#!/usr/bin/env python
"""On-policy bench: does preference training on the model's own verified samples lift task
accuracy, how much does label noise cost it, and how much does LCPO win back?

From the demo's SFT model (runs/tiny/sft; `make demo` builds it), samples 8 answers per training
prompt (`robalign data on-policy`, cached), keeps a tenth of the prompts' clean pairs as a
held-out preference set, then for each noise kind (uniform, instance) x flip rate x seed trains
the arms below from the SFT model and prints, per arm: mean greedy task accuracy over the five
benchmark families (± sd over seeds), clean held-out preference accuracy, final eta and the
posterior's weight AUC (flipped vs clean). Then three annotators of different reliability
(flip rates 0.05, 0.2, 0.45): LCPO's per-annotator etas against the truth. Then the issue's goals,
each marked met or not.

    python scripts/bench_onpolicy.py --quick     # 30% uniform, 1 seed, every arm, the annotators
    python scripts/bench_onpolicy.py             # 0.1-0.4 x uniform/instance x 3 seeds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for var, val in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                 "TOKENIZERS_PARALLELISM": "false", "HF_HOME": str(REPO / ".cache/hf")}.items():
    os.environ.setdefault(var, val)
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "scripts"))

from bench_lcpo_recovery import greedy_accuracy  # noqa: E402  (the one greedy-accuracy measure of the benches)

RECIPE = "recipes/tiny/dpo/config_plain.yaml"  # the demo's DPO recipe; data, method and run folder set per arm
# arm -> (recipe overrides, uses noisy labels)
ARMS: dict[str, tuple[list[str], bool]] = {
    "dpo_clean": ([], False),
    "dpo_noisy": ([], True),
    "cdpo@eps": (["method.loss_type=cdpo"], True),
    "rdpo@eps": (["method.loss_type=rdpo"], True),
    "lcpo": (["method.noise_model=lcpo", "lcpo.posterior=reference", "lcpo.m_step=reweight"], True),  # robalign's recommended variant
    "lcpo_paper": (["method.noise_model=lcpo", "lcpo.posterior=implicit", "lcpo.m_step=soft_label"], True),  # the paper's own
}
ANNOTATOR_RATES = (0.05, 0.2, 0.45)


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"bench_onpolicy: {' '.join(cmd[2:6])}... failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    return proc


def make_pairs(work: Path, samples: int, n_prompts: int | None, pairs_per_prompt: int = 1) -> tuple[Path, Path, dict]:
    """Clean on-policy pairs of the SFT model, split by prompt into train (9/10) and held-out eval (1/10)."""
    from robalign.atomic import atomic_write_jsonl

    prompts = REPO / "artifacts/data/prompts.jsonl"
    rows = prompts.read_text().splitlines()
    if n_prompts:
        prompts = work / "prompts.jsonl"
        prompts.parent.mkdir(parents=True, exist_ok=True)
        prompts.write_text("\n".join(rows[:n_prompts]) + "\n")
    clean = work / "onpolicy_clean.jsonl"
    t = time.perf_counter()
    _run([sys.executable, "-m", "robalign", "data", "on-policy", "--model", "runs/tiny/sft", "--prompts", str(prompts),
          "--bench", "artifacts/data/bench", "--samples", str(samples), "--temperature", "1.0", "--max-tokens", "24",
          "--pairs-per-prompt", str(pairs_per_prompt), "--cache", str(REPO / "artifacts/data/onpolicy.cache"), "--out", str(clean)])
    info = json.loads(Path(f"{clean}.info.json").read_text())
    info["seconds"] = time.perf_counter() - t
    pairs = [json.loads(x) for x in clean.read_text().splitlines()]
    order = list(dict.fromkeys(p["prompt"] for p in pairs))  # every tenth prompt, whatever its number of pairs
    held = {q for i, q in enumerate(order) if i % 10 == 9}
    train, evals = work / "train_clean.jsonl", work / "eval_clean.jsonl"
    atomic_write_jsonl(train, [p for p in pairs if p["prompt"] not in held])
    atomic_write_jsonl(evals, [p for p in pairs if p["prompt"] in held])
    return train, evals, info


def noisy_file(train: Path, out: Path, rate: float, kind: str, seed: int, annotator_rates=None) -> Path:
    """The train pairs with labels flipped by `robalign.data.onpolicy.inject_noise` (the CLI's own)."""
    import numpy as np

    from robalign.atomic import atomic_write_jsonl
    from robalign.data.onpolicy import inject_noise

    pairs = [json.loads(x) for x in train.read_text().splitlines()]
    return atomic_write_jsonl(out, inject_noise(pairs, rate, kind, np.random.default_rng(1000 + seed), annotator_rates=annotator_rates))


def train_arm(out: Path, data: Path, evals: Path, rate: float, overrides: list[str], seed: int, extra: list[str]) -> dict:
    if out.exists():
        shutil.rmtree(out)
    sets = [f"data.train.path={data}", f"data.eval.path={evals}", f"training.output_dir={out}", f"training.seed={seed}",
            *overrides, *extra]
    if any(o.startswith("method.loss_type=") for o in overrides):  # cdpo/rdpo at the true flip rate (label_smoothing is theirs alone)
        sets.append(f"training.label_smoothing={rate}")
    cmd = [sys.executable, "-m", "robalign.train", RECIPE]
    for s in sets:
        cmd += ["--set", s]
    t = time.perf_counter()
    proc = _run(cmd)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if "loss" in r]
    evals_ = [r for r in rows if "eval/clean_accuracy" in r]
    last = train_rows[-1] if train_rows else {}
    etas = {k[len("lcpo/eta/"):]: v for k, v in last.items() if k.startswith("lcpo/eta/")}
    res = {"train_s": time.perf_counter() - t, "eta": last.get("lcpo/eta"), "etas": etas or None, "auc": last.get("lcpo/weight_auc"),
           "clean_acc": evals_[-1]["eval/clean_accuracy"] if evals_ else None,
           "fallback": any("falling back" in line for line in proc.stderr.splitlines())}
    res["greedy"] = greedy_accuracy(out)["mean"]
    return res


def _stats(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def _fmt(v, w=6, sd=None):
    if v is None:
        return " " * (w - 1) + "-"
    return f"{v:{w}.3f}" + (f" ± {sd:.3f}" if sd is not None else "")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="30%% uniform flips, 1 seed, every arm, and the annotators")
    p.add_argument("--kinds", default=None, help="comma-separated: uniform,instance")
    p.add_argument("--rates", default=None, help="comma-separated flip rates")
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--arms", default=None, help="comma-separated subset of: " + ", ".join(ARMS))
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--pairs-per-prompt", type=int, default=1, help="pairs per prompt, each against a different wrong sample")
    p.add_argument("--prompts", type=int, default=None, help="use the first N prompts of artifacts/data/prompts.jsonl")
    p.add_argument("--no-annotators", action="store_true")
    p.add_argument("--set", dest="extra", action="append", default=[], help="extra recipe override for every run")
    p.add_argument("--out", default=str(REPO / "runs/bench_onpolicy"))
    args = p.parse_args(argv)
    if not (REPO / "runs/tiny/sft/config.json").exists() or not (REPO / "artifacts/data/prompts.jsonl").exists():
        print("bench_onpolicy: needs the demo's SFT model and data (runs/tiny/sft, artifacts/data): run `make demo` first", file=sys.stderr)
        return 2
    kinds = args.kinds.split(",") if args.kinds else (["uniform"] if args.quick else ["uniform", "instance"])
    rates = [float(x) for x in args.rates.split(",")] if args.rates else ([0.3] if args.quick else [0.1, 0.2, 0.3, 0.4])
    seeds = args.seeds or (1 if args.quick else 3)
    arms = args.arms.split(",") if args.arms else list(ARMS)
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train, evals, info = make_pairs(work, args.samples, args.prompts, args.pairs_per_prompt)
    n_train = len(train.read_text().splitlines())
    print(f"on-policy pairs of runs/tiny/sft: {info['prompts']} prompts x {args.samples} samples, sample accuracy "
          f"{info['sample_accuracy']:.3f}, {info['pairs']} pairs ({info['chosen_from_reference']} chosen from the reference); "
          f"train {n_train}, held-out {info['pairs'] - n_train}; {info['seconds']:.0f} s")
    sft = greedy_accuracy(REPO / "runs/tiny/sft")["mean"]
    print(f"SFT mean greedy accuracy {sft:.3f}; arms trained with {RECIPE} + overrides {args.extra or 'none'}; seeds {seeds}\n")
    print(f"{'noise':8s} {'flip':>5s} {'arm':11s} {'greedy (± sd)':>15s} {'clean_acc':>9s} {'eta':>6s} {'1-flip':>6s} {'AUC':>6s}")
    results: list[dict] = []
    clean_cache: dict[int, dict] = {}

    def arm_runs(kind, rate, arm):
        overrides, noisy = ARMS[arm]
        rs = []
        for s in range(seeds):
            if not noisy:  # the clean arm does not depend on the noise: trained once per seed
                if s not in clean_cache:
                    clean_cache[s] = train_arm(work / f"clean-s{s}", train, evals, 0.0, overrides, s, args.extra)
                rs.append(dict(clean_cache[s]))
                continue
            data = noisy_file(train, work / f"{kind}{rate}-s{s}.jsonl", rate, kind, s)
            realised = statistics.fmean(json.loads(x)["label_flipped"] for x in data.read_text().splitlines())
            r = train_arm(work / f"{kind}{rate}-{arm}-s{s}", data, evals, rate, overrides, s, args.extra)
            r["realised_flip"] = realised
            rs.append(r)
        return rs

    for kind in kinds:
        for rate in rates:
            for arm in arms:
                rs = arm_runs(kind, rate, arm)
                for s, r in enumerate(rs):
                    results.append({"kind": kind, "rate": rate, "arm": arm, "seed": s, **r})
                g, sd = _stats([r["greedy"] for r in rs])
                truth = _stats([r.get("realised_flip") for r in rs])[0]
                print(f"{kind:8s} {rate:5.1f} {arm:11s} {_fmt(g, 6, sd):>15s} {_fmt(_stats([r['clean_acc'] for r in rs])[0], 9)} "
                      f"{_fmt(_stats([r['eta'] for r in rs])[0])} {_fmt(None if truth is None else 1 - truth)} "
                      f"{_fmt(_stats([r['auc'] for r in rs])[0])}" + (" (fallback to implicit)" if any(r["fallback"] for r in rs) else ""),
                      flush=True)

    ann = []
    if not args.no_annotators:
        print(f"\nthree annotators, flip rates {ANNOTATOR_RATES} (uniform), LCPO one eta per annotator:")
        for s in range(seeds):
            data = noisy_file(train, work / f"annotators-s{s}.jsonl", 0.0, "uniform", s, annotator_rates=ANNOTATOR_RATES)
            rows = [json.loads(x) for x in data.read_text().splitlines()]
            r = train_arm(work / f"annotators-lcpo-s{s}", data, evals, 0.0, ARMS["lcpo"][0], s, args.extra)
            for i in range(len(ANNOTATOR_RATES)):
                mine = [x["label_flipped"] for x in rows if x["annotator"] == f"annotator_{i}"]
                truth = 1 - statistics.fmean(mine)
                eta = (r["etas"] or {}).get(f"annotator_{i}")
                ann.append({"seed": s, "annotator": i, "true_eta": truth, "eta": eta})
                print(f"  seed {s} annotator_{i}: eta {_fmt(eta)}  truth {truth:.3f}  (nominal {1 - ANNOTATOR_RATES[i]:.2f})")
            results.append({"kind": "annotators", "arm": "lcpo", "seed": s, **r})

    print("\ngoals:")
    by = lambda kind, rate, arm: [r for r in results if r.get("kind") == kind and r.get("rate") == rate and r["arm"] == arm]  # noqa: E731
    clean_g = _stats([r["greedy"] for r in clean_cache.values()])[0]
    if clean_g is not None:
        print(f"  clean DPO - SFT = {clean_g - sft:+.3f} (goal >= +0.050): {'met' if clean_g - sft >= 0.05 else 'NOT met'}")
    for kind in kinds:
        if 0.3 in rates and "lcpo" in arms and "dpo_noisy" in arms and clean_g is not None:
            noisy_g = _stats([r["greedy"] for r in by(kind, 0.3, "dpo_noisy")])[0]
            lcpo_g = _stats([r["greedy"] for r in by(kind, 0.3, "lcpo")])[0]
            gap = clean_g - noisy_g
            rec = (lcpo_g - noisy_g) / gap if gap > 0 else float("nan")
            print(f"  {kind} 0.3: clean {clean_g:.3f}, noisy DPO {noisy_g:.3f}, LCPO {lcpo_g:.3f}: recovers {rec:.2f} of the gap "
                  f"(goal >= 0.5): {'met' if rec >= 0.5 else 'NOT met'}")
        for rate in rates:
            etas = [r["eta"] for r in by(kind, rate, "lcpo") if r["eta"] is not None]
            truth = [1 - r["realised_flip"] for r in by(kind, rate, "lcpo")]
            if etas:
                err = max(abs(e - t) for e, t in zip(etas, truth))
                print(f"  {kind} {rate}: LCPO eta worst |eta - truth| {err:.3f} (goal <= 0.05): {'met' if err <= 0.05 else 'NOT met'}")
    if ann and all(a["eta"] is not None for a in ann):
        err = max(abs(a["eta"] - a["true_eta"]) for a in ann)
        ordered = all([a["eta"] for a in ann if a["seed"] == s] == sorted([a["eta"] for a in ann if a["seed"] == s], reverse=True)
                      for s in range(seeds))
        print(f"  annotators: etas ordered {ordered}, worst |eta - truth| {err:.3f} (goal: ordered and <= 0.05): "
              f"{'met' if ordered and err <= 0.05 else 'NOT met'}")
    from robalign.atomic import atomic_write_jsonl

    atomic_write_jsonl(work / "results.jsonl", results)
    print(f"\n{len(results)} runs in {time.perf_counter() - t0:.0f} s; per-run rows in {work / 'results.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
