"""`robalign tournament`: generate -> score -> rank -> report, from one config.

Stages (each with its progress bar):
1. resolve the contestants and check every adapter against its base (one-line errors);
2. generate every (model, benchmark) shard that is not cached (one engine per base model);
3. score each benchmark for every model -> scores.csv (models x benchmarks) + items.jsonl;
4. rank with robalign.ranking: Swiss E[S] at every elimination level, failure sensitivity,
   rank probabilities, Bradley-Terry (per benchmark and per item) with bootstrap CIs, Elo,
   mean score/rank and the Kendall tau between the methods;
5. write leaderboard.json/md, plots/*.png and report.html, print the leaderboard.
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from robalign.atomic import atomic_write_jsonl, atomic_write_text
from robalign.config.schema import to_dict
from robalign.data.loading import is_local
from robalign.errors import UserError
from robalign.eval.adapters import check_adapter, trained_on_other_base
from robalign.eval.cache import GenerationCache
from robalign.eval.config import TournamentConfig, resolve_models
from robalign.eval.generation import Entry, generate_all
from robalign.eval.prompts_file import read_jsonl
from robalign.eval.scorers import BenchScore, score_benchmark


@dataclass
class TournamentResult:
    output_dir: Path
    leaderboard: dict
    scores: dict[str, dict[str, float]]
    warnings: list[str]


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def check_models(entries: list[Entry], file: str | None) -> list[str]:
    """One-line errors for missing models and bad adapters; warnings for adapters of another base."""
    warnings = []
    for e in entries:
        looks_local = is_local(e.model)
        if not looks_local and os.environ.get("HF_HUB_OFFLINE") == "1":
            raise UserError(f"{file}: model {e.name}: {e.model} is not a local directory, and HF_HUB_OFFLINE=1 forbids downloading it")
        if looks_local and not Path(e.model).is_dir():
            raise UserError(f"{file}: model {e.name}: base model directory not found: {e.model}")
        if looks_local and not (Path(e.model) / "config.json").is_file():
            raise UserError(f"{file}: model {e.name}: {e.model} holds no model (no config.json); is its training run finished?")
        if e.adapter:
            cfg = check_adapter(e.adapter, e.model)
            w = trained_on_other_base(cfg, e.model)
            if w:
                warnings.append(f"{e.name}: {w}")
    return warnings


def load_benchmarks(cfg: TournamentConfig) -> dict[str, list[dict]]:
    rows = {}
    for b in cfg.benchmarks:
        r = read_jsonl(b.data, what=f"benchmark {b.name} data")
        rows[b.name] = r[: b.max_items] if b.max_items else r
    return rows


def score_matrix_csv(names: list[str], benches: list[str], scores: dict[str, dict[str, float]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", *benches])
    for n in names:
        w.writerow([n, *[f"{scores[n][b]:.6g}" for b in benches]])
    return buf.getvalue()


def run_tournament(
    cfg: TournamentConfig,
    file: str | None = None,
    *,
    engine_factory: Optional[Callable] = None,
    close_engines: bool = True,
    progress: bool = True,
    log: Callable[[str], None] = _log,
) -> TournamentResult:
    from tqdm.auto import tqdm

    from robalign.eval.engines import make_engine

    out = Path(cfg.output_dir)
    entries = resolve_models(cfg, file)
    warnings = check_models(entries, file)
    too_big = [t for t in cfg.ranking.eliminate if t > len(entries) - 2]
    if too_big:  # checked before any generation: the ranking would refuse it at the very end
        from robalign.errors import ConfigError

        raise ConfigError(file, "ranking.eliminate", f"levels <= {len(entries) - 2} with {len(entries)} models (2 must stay to play); "
                          f"set e.g. --set ranking.eliminate=[0,{max(0, len(entries) - 2)}]", got=repr(cfg.ranking.eliminate))
    bench_rows = load_benchmarks(cfg)
    names, benches = [e.name for e in entries], [b.name for b in cfg.benchmarks]
    log(f"tournament: {len(entries)} models x {len(benches)} benchmarks -> {out}")

    # 2. generate
    factory = engine_factory or (lambda model, adapters: make_engine(model, cfg.engine, adapters))
    cache = GenerationCache(cfg.cache_dir or out / "generations")
    gen_benches = {b.name: [r["prompt"] for r in bench_rows[b.name]] for b in cfg.benchmarks if b.needs_generation}
    outputs, gen_warn = generate_all(
        entries, gen_benches, cfg.sampling, cache, factory,
        backend=cfg.engine.backend, progress=progress, close_engines=close_engines, log=log,
    ) if gen_benches else ({}, [])
    warnings += gen_warn

    # 3. score
    results: dict[str, dict[str, BenchScore]] = {}
    for b in tqdm(cfg.benchmarks, desc="score", unit="bench", disable=not progress, file=sys.stderr):
        per_model = {e.name: outputs.get((e.name, b.name)) for e in entries}
        results[b.name] = score_benchmark(b, bench_rows[b.name], per_model, entries, cfg.engine, cache, engine_factory)
    scores = {n: {b: results[b][n].value for b in benches} for n in names}
    for n in names:
        for b in benches:
            v = scores[n][b]
            if not isinstance(v, (int, float)) or math.isnan(v) or math.isinf(v):
                raise UserError(f"score of model {n} on benchmark {b} is {v}; expected a finite number (check the scorer's inputs in items.jsonl)")
    items = []
    for b in cfg.benchmarks:
        rows = bench_rows[b.name]
        for e in entries:
            res = results[b.name][e.name]
            outs = outputs.get((e.name, b.name))
            for i, s in enumerate(res.items):
                row = {"model": e.name, "benchmark": b.name, "index": i}
                if outs is not None:
                    row.update(prompt=rows[i]["prompt"], output=outs[i][0])
                    if len(outs[i]) > 1:
                        row["outputs"] = outs[i]
                row["score"] = s
                if i < len(res.details):
                    row.update(res.details[i])
                items.append(row)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "scores.csv", score_matrix_csv(names, benches, scores))
    atomic_write_jsonl(out / "items.jsonl", items)

    # 4. rank, 5. report
    from robalign.report.leaderboard import rank_all, write_leaderboard
    from robalign.report.write import write_report

    board = rank_all(cfg, entries, benches, scores, results, progress=progress)
    board["warnings"] = warnings
    board["settings"].update(sampling=to_dict(cfg.sampling), engine=to_dict(cfg.engine))
    write_leaderboard(out, board)
    write_report(out, board, entries, title=cfg.title)
    return TournamentResult(out, board, scores, warnings)
