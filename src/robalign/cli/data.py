"""`robalign data`: write the synthetic datasets (SFT, noisy preferences, benchmarks, safety) and
on-policy preference pairs sampled from a model (`data on-policy`)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from robalign.cli.generate import SAMPLING_FLAGS, add_engine_args
from robalign.errors import UserError

# Sampling, not greedy: pairs need different samples of one prompt (--samples of them).
ONPOLICY_SAMPLING = SAMPLING_FLAGS.but(fields=("temperature", "top_p", "max_tokens"), defaults={"temperature": 1.0, "max_tokens": 32})


def register(sub) -> None:
    p = sub.add_parser("data", help="write synthetic datasets with known label noise")
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    common = dict(help="output")

    sft = kinds.add_parser("sft", help="chat SFT data: prompt, completion, family")
    sft.add_argument("--n", type=int, default=20_000)

    prefs = kinds.add_parser("prefs", help="preference pairs with flipped labels (label_flipped keeps the truth)")
    prefs.add_argument("--n", type=int, default=2_000)
    prefs.add_argument("--flip-rate", type=float, default=0.3, help="mean fraction of flipped labels, in [0, 1)")
    prefs.add_argument("--noise", choices=["uniform", "instance"], default="uniform", help="instance: near misses flip more often")
    prefs.add_argument("--annotators", type=int, default=1, help="simulated annotators with different flip rates (adds an `annotator` column)")

    prompts = kinds.add_parser("prompts", help="task prompts with reference answers (prompt, answer, family) for `data on-policy`")
    prompts.add_argument("--n", type=int, default=2_000)

    onp = kinds.add_parser("on-policy", help="preference pairs from a model's own samples, labelled by the task verifiers")
    onp.add_argument("--model", required=True, help="base model directory or hub id")
    onp.add_argument("--adapter", default=None, help="LoRA adapter of --model to sample from")
    onp.add_argument("--prompts", required=True, metavar="FILE.jsonl", help="prompt, answer, family per line (robalign data prompts)")
    onp.add_argument("--bench", default=None, metavar="DIR",
                     help="benchmark split whose prompts must not be trained on (default: bench/ beside --prompts)")
    onp.add_argument("--samples", type=int, default=8, help="samples per prompt")
    ONPOLICY_SAMPLING.add_to(onp, "sampling (-n is --samples, the seed is --seed)")
    onp.add_argument("--pairs-per-prompt", type=int, default=1, help="pairs per prompt, each against a different wrong answer")
    onp.add_argument("--flip-rate", type=float, default=0.0, help="mean fraction of flipped labels, in [0, 1)")
    onp.add_argument("--noise", choices=["uniform", "instance"], default="uniform", help="instance: close wrong answers flip more often")
    onp.add_argument("--annotators", type=int, default=1, help="simulated annotators with rates spread around --flip-rate")
    onp.add_argument("--annotator-rates", default=None, metavar="R1,R2,...",
                     help="one flip rate per simulated annotator (instead of --flip-rate/--annotators)")
    onp.add_argument("--shard-size", type=int, default=256, help="prompts per cached shard (the unit of resume)")
    onp.add_argument("--cache", default=None, help="generation cache dir (default: <out>.cache/); a rerun reuses it")
    add_engine_args(onp)

    kinds.add_parser("bench", help="held-out benchmark split, one file per task family")
    kinds.add_parser("safety", help="harmful prompts (target, refusal) and benign look-alikes, train/test")
    kinds.add_parser("safety-sft", help="safety-SFT mix (harmful -> refusal, look-alikes -> answers, tasks) and a benign utility.jsonl")
    all_ = kinds.add_parser("all", help="everything above into one folder")
    all_.add_argument("--n-sft", type=int, default=20_000)
    all_.add_argument("--n-prefs", type=int, default=2_000)

    for k in (sft, prefs, prompts, onp):
        k.add_argument("--out", required=True, **common, metavar="FILE.jsonl")
    for k in kinds.choices.values():
        if k not in (sft, prefs, prompts, onp):
            k.add_argument("--out", required=True, help="output folder", metavar="DIR")
        k.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    from robalign.atomic import atomic_write_jsonl
    from robalign.data import synthetic
    from robalign.outputs import check_output_dir, check_output_file

    for flag in ("n", "n_sft", "n_prefs", "annotators", "samples", "shard_size", "pairs_per_prompt"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise UserError(f"data {args.kind} --{flag.replace('_', '-')} {value}: expected an integer >= 1")
    if args.seed < 0:
        raise UserError(f"data {args.kind} --seed {args.seed}: expected an integer >= 0")
    if args.kind in ("sft", "prefs", "prompts", "on-policy"):
        check_output_file(args.out, f"data {args.kind} --out")
    else:
        check_output_dir(args.out, f"data {args.kind} --out")

    if args.kind == "sft":
        rows = synthetic.sft_rows(args.seed, args.n)
        atomic_write_jsonl(args.out, rows)
        print(f"wrote {len(rows)} SFT rows -> {args.out}")
    elif args.kind == "prefs":
        if not 0.0 <= args.flip_rate < 1.0:
            raise UserError(f"--flip-rate: expected a rate in [0, 1), got {args.flip_rate}")
        rows = synthetic.preference_rows(args.seed, args.n, args.flip_rate, args.noise, args.annotators)
        atomic_write_jsonl(args.out, rows)
        observed = sum(r["label_flipped"] for r in rows) / max(len(rows), 1)
        print(f"wrote {len(rows)} preference pairs ({args.noise} noise, flip rate {args.flip_rate}, observed {observed:.3f}) -> {args.out}")
    elif args.kind == "prompts":
        rows = synthetic.prompt_rows(args.seed, args.n)
        atomic_write_jsonl(args.out, rows)
        print(f"wrote {len(rows)} task prompts with reference answers -> {args.out}")
    elif args.kind == "on-policy":
        return on_policy(args)
    elif args.kind == "bench":
        for family, rows in synthetic.benchmark_rows(args.seed).items():
            atomic_write_jsonl(Path(args.out) / f"{family}.jsonl", rows)
        print(f"wrote benchmark files -> {args.out}")
    elif args.kind == "safety":
        for split, rows in synthetic.safety_rows(args.seed).items():
            atomic_write_jsonl(Path(args.out) / f"safety_{split}.jsonl", rows)
        print(f"wrote safety train/test -> {args.out}")
    elif args.kind == "safety-sft":
        from robalign.data.safety_mix import write_safety_chain_data

        for name, path in write_safety_chain_data(args.out, args.seed).items():
            print(f"  {name:<24} {path}")
    else:
        written = synthetic.build_all(args.out, args.seed, args.n_sft, args.n_prefs)
        for name, path in written.items():
            print(f"  {name:<24} {path}")
    return 0


def _annotator_rates(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        rates = [float(x) for x in text.split(",")]
    except ValueError:
        rates = []
    if not rates or not all(0.0 <= r < 1.0 for r in rates):
        raise UserError(f"data on-policy --annotator-rates {text}: expected comma-separated flip rates in [0, 1), e.g. 0.05,0.2,0.45")
    return rates


def on_policy(args) -> int:
    """Sample, verify, pair, flip; write the pairs and a `<out>.info.json` (arguments, counts, versions)."""
    import os
    import time

    import numpy as np

    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # vLLM's INFO lines would bury the progress bar
    from robalign.atomic import atomic_write_json, atomic_write_jsonl
    from robalign.cli.generate import engine_args_from
    from robalign.data.onpolicy import PromptSamples, build_pairs, inject_noise
    from robalign.data.tasks import FAMILIES
    from robalign.models.adapters import check_adapter
    from robalign.eval.prompts_file import read_jsonl
    from robalign.sources import check_model_source

    if not 0.0 <= args.flip_rate < 1.0:
        raise UserError(f"data on-policy --flip-rate {args.flip_rate}: expected a rate in [0, 1)")
    rates = _annotator_rates(args.annotator_rates)
    if args.temperature <= 0 and args.samples > 1:
        raise UserError(f"data on-policy --temperature {args.temperature}: expected > 0 with --samples {args.samples} (greedy gives identical copies)")
    sampling = ONPOLICY_SAMPLING.build(args, n=args.samples, seed=args.seed)
    eng = engine_args_from(args)
    check_model_source(args.model)
    if args.adapter:
        check_adapter(args.adapter, args.model)
    rows = read_jsonl(args.prompts, need=("prompt", "answer", "family"))
    for i, r in enumerate(rows, start=1):
        if r["family"] not in FAMILIES:
            raise UserError(f"{args.prompts}: line {i}: family {r['family']!r} has no verifier; expected one of {sorted(FAMILIES)}")
        if not isinstance(r["answer"], str):
            raise UserError(f"{args.prompts}: line {i}: 'answer' must be text, got {r['answer']!r}")
    bench = Path(args.bench) if args.bench else Path(args.prompts).parent / "bench"
    if not bench.is_dir():
        raise UserError(f"data on-policy --bench {bench}: no benchmark folder (one JSONL per family, a 'prompt' column) to keep out of "
                        "the pairs; pass --bench DIR")
    held_out = {r["prompt"] for f in sorted(bench.glob("*.jsonl")) for r in read_jsonl(f, what="benchmark file")}
    leaked = [i for i, r in enumerate(rows, start=1) if r["prompt"] in held_out]
    if leaked:
        raise UserError(f"{args.prompts}: line {leaked[0]}: prompt {rows[leaked[0] - 1]['prompt']!r} is in the benchmark split {bench} "
                        f"({len(leaked)} such line(s)); expected training prompts only")

    t0 = time.perf_counter()
    samples = sample_prompts(args.model, args.adapter, [r["prompt"] for r in rows], sampling, eng,
                             args.cache or f"{args.out}.cache", shard_size=args.shard_size)
    seconds = time.perf_counter() - t0
    items = [PromptSamples(r["prompt"], r["family"], r["answer"], tuple(s)) for r, s in zip(rows, samples)]
    rng = np.random.default_rng(args.seed)
    pairs = build_pairs(items, held_out, rng, args.pairs_per_prompt)
    pairs = inject_noise(pairs, args.flip_rate, args.noise, rng, args.annotators, rates)
    atomic_write_jsonl(args.out, pairs)

    from robalign.data.verifiers import verify

    sample_acc = float(np.mean([verify(it.family, s, it.answer) for it in items for s in it.samples])) if items else 0.0
    from_reference = sum(p["chosen_source"] == "reference" for p in pairs)
    flipped = sum(p["label_flipped"] for p in pairs)
    info = {"command": "robalign data on-policy", "args": {k: v for k, v in vars(args).items() if k != "func"},
            "prompts": len(rows), "pairs": len(pairs), "all_samples_right": sum(all(verify(it.family, s, it.answer) for s in it.samples) for it in items),
            "chosen_from_reference": from_reference, "sample_accuracy": sample_acc, "flipped": flipped,
            "sampling_seconds": round(seconds, 1)}
    from robalign.trainers.run_dir import _git_commit, _versions

    info.update(git_commit=_git_commit(), versions=_versions())
    atomic_write_json(f"{args.out}.info.json", info)
    print(f"wrote {len(pairs)} on-policy pairs from {len(rows)} prompts x {args.samples} samples (sample accuracy {sample_acc:.3f}; "
          f"{info['all_samples_right']} prompts all right, no pair; chosen from the reference in {from_reference}; "
          f"{flipped} labels flipped, {flipped / max(len(pairs), 1):.3f}) -> {args.out}")
    return 0


def sample_prompts(model: str, adapter: Optional[str], prompts: list[str], sampling, engine_args, cache_dir: str | Path,
                   shard_size: int = 256, progress: bool = True, log: Optional[Callable[[str], None]] = None) -> list[list[str]]:
    """`sampling.n` completions of every prompt, through the tournament's generation machinery
    (`robalign.eval.generation.generate_all`): one engine, started only if some shard is missing,
    each shard written to the cache as soon as it is generated, so a rerun after a kill generates
    only the shards it lacks."""
    import sys

    from tqdm.auto import tqdm

    from robalign.data.onpolicy import shard_names
    from robalign.eval.cache import GenerationCache
    from robalign.eval.engines import make_engine
    from robalign.eval.generation import Entry, generate_all

    cache = GenerationCache(cache_dir)
    engines: dict[str, object] = {}

    def factory(base, adapters):  # one engine for every shard
        if base not in engines:
            engines[base] = make_engine(base, engine_args, adapters)
        return engines[base]

    entry = Entry("policy", model, adapter)
    shards = shard_names(len(prompts), shard_size)
    out: list[list[str]] = []
    say = log or (lambda m: print(m, file=sys.stderr, flush=True))
    bar = tqdm(total=len(prompts), desc="on-policy samples", unit="prompt", disable=not progress, file=sys.stderr)
    warned: set[str] = set()
    try:
        for name, start, stop in shards:
            got, warnings = generate_all(
                [entry], {name: prompts[start:stop]}, sampling, cache, factory, engine=engine_args, progress=False,
                close_engines=False, log=lambda m: None if m.startswith("warning: ") else say(m),
                max_model_len=engine_args.max_model_len, describe=lambda _, i, s=start: f"prompt {s + i + 1} of the prompts file",
                options=("--max-tokens", "--max-model-len"))
            for w in warnings:
                if w not in warned:
                    warned.add(w)
                    say(f"warning: {w}")
            out += got[("policy", name)]
            bar.update(stop - start)
    finally:
        bar.close()
        for engine in engines.values():
            engine.close()
    return out
