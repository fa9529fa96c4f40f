"""`robalign data`: write the synthetic datasets (SFT, noisy preferences, benchmarks, safety)."""

from __future__ import annotations

from robalign.errors import UserError


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

    kinds.add_parser("bench", help="held-out benchmark split, one file per task family")
    kinds.add_parser("safety", help="harmful prompts (target, refusal) and benign look-alikes, train/test")
    kinds.add_parser("safety-sft", help="safety-SFT mix (harmful -> refusal, look-alikes -> answers, tasks) and a benign utility.jsonl")
    all_ = kinds.add_parser("all", help="everything above into one folder")
    all_.add_argument("--n-sft", type=int, default=20_000)
    all_.add_argument("--n-prefs", type=int, default=2_000)

    for k in (sft, prefs):
        k.add_argument("--out", required=True, **common, metavar="FILE.jsonl")
    for k in kinds.choices.values():
        if k not in (sft, prefs):
            k.add_argument("--out", required=True, help="output folder", metavar="DIR")
        k.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from robalign.atomic import atomic_write_jsonl
    from robalign.data import synthetic
    from robalign.outputs import check_output_dir, check_output_file

    for flag in ("n", "n_sft", "n_prefs", "annotators"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise UserError(f"data {args.kind} --{flag.replace('_', '-')} {value}: expected an integer >= 1")
    if args.seed < 0:
        raise UserError(f"data {args.kind} --seed {args.seed}: expected an integer >= 0")
    if args.kind in ("sft", "prefs"):
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
