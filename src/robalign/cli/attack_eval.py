"""`robalign attack-eval`: embedding-attack success rate, refusals, over-refusal and utility.

The computation lives in `robalign.attacks.evaluate.robustness_report` (its docstring lists the
JSON keys); this module only parses arguments, loads the model and writes the JSON.
"""

from __future__ import annotations

from robalign.cli.dataclass_args import DataclassFlags


def register(sub) -> None:
    p = sub.add_parser("attack-eval", help="embedding-attack robustness: ASR per budget, refusals, over-refusal, utility")
    p.add_argument("--model", required=True, help="model folder or hub id (the base when --adapter is given)")
    p.add_argument("--adapter", default=None, help="LoRA adapter folder applied on --model")
    p.add_argument("--data", required=True, metavar="SAFETY.jsonl", help="harmful prompts with target/refusal (+ kind=benign look-alikes with answer)")
    p.add_argument("--grid", default=None, metavar="KxEPS,...", help="attack budgets, e.g. 10x0.5,30x1.0 (eps relative to the mean used-token embedding norm); default: 10x0.1,30x1.0,60x1.0")
    DataclassFlags("robalign.config.adversarial:AdversarialArgs", ("norm",)).add_to(p)
    p.add_argument("--bench", default=None, metavar="DIR", help="folder of <family>.jsonl benchmark files: adds utility accuracy")
    p.add_argument("--max-samples", type=int, default=None, help="evaluate only the first N safety rows")
    p.add_argument("--batch-size", type=int, default=40)
    p.add_argument("--max-new-tokens", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, metavar="report.json", help="write the report here (atomically); beside an adapter it does not "
                   "invalidate the adapter's cached generations (only weights and config are part of the cache key)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (one per stage: clean, each attack budget, benign, utility)")
    p.set_defaults(func=run)


def load_model(model: str, adapter: str | None):
    """Base model with the adapter merged in (the attack differentiates one plain module), in the
    hardware's dtype, and its tokenizer; a missing path is one line naming its flag."""
    from pathlib import Path

    from robalign.sources import is_local
    from robalign.errors import UserError
    from robalign.models.loading import load_for_inference

    for flag, path in (("--model", model), ("--adapter", adapter)):
        if path and is_local(path) and not Path(path).exists():
            raise UserError(f"{flag}: not found: {path}")
    return load_for_inference(model, adapter, merge=True)


def run(args) -> int:
    from robalign.atomic import atomic_write_json
    from robalign.attacks.evaluate import DEFAULT_GRID, parse_grid, read_bench_dir, robustness_report, split_rows
    from robalign.config.recipe import DatasetSpec
    from robalign.data.loading import check_columns, load_dataset_spec
    from robalign.errors import UserError

    grid = parse_grid(args.grid) if args.grid is not None else list(DEFAULT_GRID)
    if args.out is not None:  # before the attack runs, not after
        from robalign.outputs import check_output_file

        check_output_file(args.out, "attack-eval --out")
    if args.max_samples is not None and args.max_samples < 1:
        raise UserError(f"--max-samples: expected a positive integer, got {args.max_samples}")
    ds = load_dataset_spec(DatasetSpec(path=args.data, max_samples=args.max_samples), None, "--data")
    check_columns(ds, "safety", None, "--data", args.data)
    from robalign.data.loading import check_rows

    check_rows(ds, "safety", None, "--data", args.data)
    rows = ds.to_list()
    split_rows(rows, args.data)  # fail on bad data before loading a model
    bench = read_bench_dir(args.bench) if args.bench else None
    if args.no_progress:  # none at all: transformers' weight-loading bar too
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    model, tokenizer = load_model(args.model, args.adapter)
    report = robustness_report(
        model, tokenizer, rows, grid, bench, norm=args.norm, batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens, seed=args.seed, source=args.data, progress=not args.no_progress,
    )
    report = {"model": args.model, "adapter": args.adapter, "data": args.data, **report}
    c = report["clean"]
    print(f"clean: ASR {c['asr']:.3f}  refusal {c['refusal_rate']:.3f}  other {c['other_rate']:.3f}  target CE {c['target_ce']:.3f}")
    for a in report["attacks"]:
        print(f"K={a['steps']:<3} eps={a['epsilon']:<5g} ASR {a['asr']:.3f}  refusal {a['refusal_rate']:.3f}  other {a['other_rate']:.3f}  "
              f"target CE {a['target_ce']:.3f} (clean {a['target_ce_clean']:.3f})  {a['seconds']:.1f}s")
    if report["benign"]:
        b = report["benign"]
        print(f"benign look-alikes: over-refusal {b['over_refusal_rate']:.3f}  accuracy {b['accuracy']:.3f}  (n={b['n']})")
    if report["utility"]:
        print(f"utility accuracy {report['utility']['accuracy']:.3f}  " + " ".join(f"{k} {v:.2f}" for k, v in report["utility"]["per_family"].items()))
    if args.out:
        atomic_write_json(args.out, report)
        print(f"wrote {args.out}")
    return 0
