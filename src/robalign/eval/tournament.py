"""`robalign tournament`: generate -> score -> rank -> report, from one config.

Stages (each with its progress bar):
1. resolve the contestants and check every adapter against its base (one-line errors);
2. generate every (model, benchmark) shard that is not in the shared generation cache
   (robalign.eval.cache: keyed by weights, prompts, sampling and engine, not by output_dir;
   one engine per base model);
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
from robalign.errors import UserError
from robalign.models.adapters import check_adapter
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


def check_models(entries: list[Entry], file: str | None) -> None:
    """One-line errors for missing models and bad adapters (one trained on another base, even of the
    same shapes, included), all before any engine starts."""
    from robalign.sources import check_model_source

    for e in entries:
        try:
            check_model_source(e.model, "base model")
            if e.adapter:
                check_adapter(e.adapter, e.model)
        except UserError as err:
            raise UserError(f"{file}: model {e.name}: {err}") from None


def load_benchmarks(cfg: TournamentConfig) -> dict[str, list[dict]]:
    rows = {}
    for b in cfg.benchmarks:
        if b.data is None:  # lm_eval: the task reads its own dataset
            rows[b.name] = []
            continue
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


SOURCE_FILE = "tournament_config.yaml"
_TOURNAMENT_FILES = (SOURCE_FILE, "scores.csv", "items.jsonl", "leaderboard.json", "generations")


def claim_output_dir(cfg: TournamentConfig, file: str | None, overwrite: bool) -> bool:
    """May this tournament write `cfg.output_dir`? True when it must be emptied first (--overwrite).

    The same tournament (the same config file, edited or not) re-runs in its folder and a killed
    run resumes (generations come from the shared cache, whatever the folder). Another
    tournament's results, or files robalign did not write, are refused with one line unless
    --overwrite (which never empties a folder that is not a tournament's)."""
    from robalign.outputs import check_output_dir, is_empty_dir, refuse_unless_overwrite

    what = f"{file}: output_dir" if file else "output_dir"
    out = check_output_dir(cfg.output_dir, what)
    if is_empty_dir(out):
        return False
    ours = any((out / f).exists() for f in _TOURNAMENT_FILES)
    stamp = out / SOURCE_FILE
    source = os.path.abspath(file) if file else None
    if stamp.is_file() and source is not None:
        import yaml

        try:
            recorded = (yaml.safe_load(stamp.read_text(encoding="utf-8")) or {}).get("source")
        except (yaml.YAMLError, UnicodeDecodeError, AttributeError):
            recorded = None
        if recorded == source:
            return False
    if not ours:  # never emptied, even with --overwrite: it may be anyone's folder
        raise UserError(f"{what}: {out} holds files robalign did not write; choose an empty or new output_dir")
    refuse_unless_overwrite(out, what, "another tournament's results", overwrite, hint="or --set output_dir=... for a new folder")
    return True


def _child_holding(folder: Path, path: Path) -> Optional[str]:
    """Name of the child of `folder` that is or holds `path` (a cache_dir set inside output_dir), else None."""
    try:
        rel = path.resolve().relative_to(folder.resolve())
    except ValueError:
        return None
    return rel.parts[0] if rel.parts else None


def run_tournament(
    cfg: TournamentConfig,
    file: str | None = None,
    *,
    engine_factory: Optional[Callable] = None,
    close_engines: bool = True,
    progress: bool = True,
    log: Callable[[str], None] = _log,
    overwrite: bool = False,
) -> TournamentResult:
    """Run the tournament in `cfg.output_dir`, locked against a second writer (see claim_output_dir)."""
    from robalign.outputs import DirLock, clear_dir

    out = Path(cfg.output_dir)
    entries = resolve_models(cfg, file)
    check_models(entries, file)
    from robalign.ranking.swiss import max_eliminate

    max_t = max_eliminate(len(entries), cfg.ranking.reference_exact)
    too_big = [t for t in cfg.ranking.eliminate if t > max_t]
    if too_big:  # checked before any generation: the ranking would refuse it at the very end
        from robalign.errors import ConfigError

        why = "1 must play round 2" if cfg.ranking.reference_exact else "2 must stay to play"
        raise ConfigError(file, "ranking.eliminate", f"levels <= {max_t} with {len(entries)} models ({why}); "
                          f"set e.g. --set ranking.eliminate=[0,{max(0, max_t)}]", got=repr(cfg.ranking.eliminate))
    bench_rows = load_benchmarks(cfg)
    from robalign.eval.scorers import SCORERS

    for b in cfg.benchmarks:  # a model-based scorer runs after generation: its own checks run now
        if SCORERS[b.scorer].check is not None:
            SCORERS[b.scorer].check(b, bench_rows[b.name], entries)
    clear = claim_output_dir(cfg, file, overwrite)
    fresh = not out.exists()
    cache_inside = _child_holding(out, Path(cfg.cache_dir)) if cfg.cache_dir else None
    with DirLock(out, f"{file}: output_dir" if file else "output_dir"):
        if clear:
            clear_dir(out, keep=cache_inside)  # --overwrite replaces results, never cached generations
        import yaml

        atomic_write_text(out / SOURCE_FILE, yaml.safe_dump({"source": os.path.abspath(file) if file else None,
                                                             "config": to_dict(cfg)}, sort_keys=False))
        try:
            return _run(cfg, file, entries, bench_rows, engine_factory=engine_factory, close_engines=close_engines,
                        progress=progress, log=log)
        except UserError:
            if fresh and not (cache_inside and (out / cache_inside).exists()):
                import shutil

                shutil.rmtree(out, ignore_errors=True)  # nothing worth keeping: leave no half-made folder
            raise


def _run(cfg: TournamentConfig, file: str | None, entries: list[Entry], bench_rows: dict[str, list[dict]], *,
         engine_factory, close_engines, progress, log) -> TournamentResult:
    from tqdm.auto import tqdm

    from robalign.eval.engines import make_engine

    out = Path(cfg.output_dir)
    warnings: list[str] = []
    names, benches = [e.name for e in entries], [b.name for b in cfg.benchmarks]
    log(f"tournament: {len(entries)} models x {len(benches)} benchmarks -> {out}")

    # 2. generate
    factory = engine_factory or (lambda model, adapters: make_engine(model, cfg.engine, adapters))
    cache = GenerationCache(cfg.cache_dir)  # None: the shared default (robalign.eval.cache.default_cache_dir)
    gen_benches = {b.name: [r["prompt"] for r in bench_rows[b.name]] for b in cfg.benchmarks if b.needs_generation}
    files = {b.name: b.data for b in cfg.benchmarks}
    outputs, gen_warn = generate_all(
        entries, gen_benches, cfg.sampling, cache, factory,
        engine=cfg.engine, progress=progress, close_engines=close_engines, log=log,
        max_model_len=cfg.engine.max_model_len, describe=lambda b, i: f"prompt {i + 1} of benchmark {b} ({files[b]})",
    ) if gen_benches else ({}, [])  # every prompt's length is checked against each base before any engine starts
    warnings += gen_warn

    # 3. score
    results: dict[str, dict[str, BenchScore]] = {}
    for b in tqdm(cfg.benchmarks, desc="score", unit="bench", disable=not progress, file=sys.stderr):
        per_model = {e.name: outputs.get((e.name, b.name)) for e in entries}
        results[b.name] = score_benchmark(b, bench_rows[b.name], per_model, entries, cfg.engine, cache, engine_factory, out_dir=out)
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
    from robalign.eval.leaderboard import rank_all
    from robalign.report.leaderboard import write_leaderboard
    from robalign.report.write import write_report

    board = rank_all(cfg, entries, benches, scores, results, progress=progress)
    board["warnings"] = warnings
    board["settings"].update(sampling=to_dict(cfg.sampling), engine=to_dict(cfg.engine))
    write_leaderboard(out, board)
    write_report(out, board, entries, title=cfg.title)
    return TournamentResult(out, board, scores, warnings)
