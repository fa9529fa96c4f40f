"""`robalign generate`: completions of a prompts file for a base model and/or LoRA adapters."""

from __future__ import annotations

import argparse

from robalign.cli.dataclass_args import DataclassFlags

#: The engine options of `generate` and `data on-policy` (`EngineArgs`, a tournament's `engine:`).
ENGINE_FLAGS = DataclassFlags(
    "robalign.eval.engines:EngineArgs",
    ("backend", "dtype", "max_model_len", "tensor_parallel_size", "gpu_memory_utilization", "enforce_eager"),
    flags={"backend": "--engine"},
)
#: The decoding options (`SamplingArgs`, a tournament's `sampling:`).
SAMPLING_FLAGS = DataclassFlags(
    "robalign.eval.sampling:SamplingArgs", ("temperature", "top_p", "max_tokens", "n", "seed"), flags={"n": "-n"},
)


def add_engine_args(p: argparse.ArgumentParser) -> None:
    ENGINE_FLAGS.add_to(p, "engine (a tournament's engine: block)")


def engine_args_from(args):
    return ENGINE_FLAGS.build(args)


def register(sub) -> None:
    p = sub.add_parser("generate", help="generate completions for a prompts file (base model and/or LoRA adapters)")
    p.add_argument("--model", required=True, help="base model directory or hub id")
    p.add_argument("--adapter", action="append", default=[], help="LoRA adapter directory; repeatable (one engine serves all)")
    p.add_argument("--no-base", action="store_true", help="with --adapter: skip the base model's own completions")
    p.add_argument("--data", required=True, help="JSONL file with a 'prompt' column (other columns are copied)")
    p.add_argument("--out", required=True, help="output file: JSONL with one row per (model, prompt), or with --format alpaca_eval a JSON list")
    p.add_argument("--format", choices=["jsonl", "alpaca_eval"], default="jsonl",
                   help="alpaca_eval: AlpacaEval's model-outputs JSON, [{instruction, output, generator[, dataset]}] "
                   "(generator: 'base' or the adapter folder's name)")
    SAMPLING_FLAGS.add_to(p, "sampling (a tournament's sampling: block)")
    p.add_argument("--cache", default=None, help="generation cache dir (default: the shared one every tournament uses, "
                   "$ROBALIGN_CACHE_DIR/generations, else .cache/robalign/generations in a checkout, else ~/.cache/robalign/generations)")
    add_engine_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import os

    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # vLLM's INFO lines would bury the progress bars
    from pathlib import Path

    from robalign.atomic import atomic_write_jsonl
    from robalign.errors import UserError
    from robalign.models.adapters import check_adapter
    from robalign.eval.cache import GenerationCache
    from robalign.eval.engines import make_engine
    from robalign.eval.generation import Entry, generate_all
    from robalign.eval.prompts_file import read_jsonl

    sampling = SAMPLING_FLAGS.build(args)
    eng = engine_args_from(args)
    if args.no_base and not args.adapter:
        raise UserError("--no-base needs at least one --adapter")
    from robalign.sources import check_model_source
    from robalign.outputs import check_output_file

    check_output_file(args.out, "generate --out")
    check_model_source(args.model)
    for a in args.adapter:
        check_adapter(a, args.model)
    rows = read_jsonl(args.data)
    entries = ([] if args.no_base else [Entry("base", args.model)]) + [Entry(Path(a).name or a, args.model, a) for a in args.adapter]
    if len({e.name for e in entries}) != len(entries):
        entries = [Entry(e.name if e.adapter is None else e.adapter, e.model, e.adapter) for e in entries]
    cache = GenerationCache(args.cache)
    outs, _ = generate_all(
        entries, {"data": [r["prompt"] for r in rows]}, sampling, cache,
        lambda model, adapters: make_engine(model, eng, adapters), engine=eng,
        max_model_len=eng.max_model_len, describe=lambda _, i: f"prompt {i + 1} of {args.data}", options=("--max-tokens", "--max-model-len"),
    )  # checks every prompt's length before the engine starts
    lines = []
    for e in entries:
        for row, comps in zip(rows, outs[(e.name, "data")]):
            if args.format == "alpaca_eval":  # AlpacaEval reads instruction/output/generator (dataset when present)
                lines.append({"instruction": row["prompt"], "output": comps[0], "generator": e.name,
                              **({"dataset": row["dataset"]} if "dataset" in row else {})})
            else:
                lines.append({**row, "model": args.model, "adapter": e.adapter, "output": comps[0], **({"outputs": comps} if sampling.n > 1 else {})})
    if args.format == "alpaca_eval":
        from robalign.atomic import atomic_write_json

        atomic_write_json(args.out, lines)
    else:
        atomic_write_jsonl(args.out, lines)
    print(f"wrote {len(lines)} completions ({len(entries)} model(s) x {len(rows)} prompts) to {args.out}")
    return 0
