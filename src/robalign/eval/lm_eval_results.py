"""lm-evaluation-harness results files -> robalign's score table (models x benchmarks + standard errors).

What `lm_eval --output_path DIR` writes (lm-eval 0.4.x): ``DIR/<model_name_sanitized>/results_<date>.json``
holding ``results`` ({task: {"alias", "acc,none", "acc_stderr,none", ...}}: every metric keyed
``<metric>,<filter>``, its standard error ``<metric>_stderr,<filter>``, a number or "N/A"),
``groups``/``group_subtasks`` (aggregate rows and their members), ``higher_is_better``
({task: {metric: bool}}), ``configs``, ``config`` (``model``, ``model_args``: a string
``pretrained=X,peft=Y`` or a mapping) and ``model_name`` (from ``model_args``, ``peft`` first) and
``date``. Each file holds one model's run; a model may have several files (one per run): its tasks
are merged, and a task in two of them is taken from the newer run (``date``).

Columns: one per task, the task's chosen metric (default: the first metric lm-eval reports for
it, its task config's primary one); a group with aggregate metrics stands for its subtasks. A
metric lm-eval marks lower-is-better is refused (every ranking here reads higher as better).
The ``_stderr`` values become the per-cell standard errors the rankings resample.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from robalign.errors import UserError

#: lm-eval's order for the model name in model_args (robalign reads it as lm-eval's tracker does).
MODEL_ARG_KEYS = ("peft", "delta", "pretrained", "model", "path", "engine")
_NOT_METRICS = {"name", "alias", "sample_len", "sample_count", " ", ""}


@dataclass
class LmEvalTable:
    models: list[str]
    tasks: list[str]
    metrics: dict[str, str]  # task -> the metric key used ("acc_norm,none")
    values: list[list[float]]
    stderr: list[list[float]]  # NaN where lm-eval reports none ("N/A")
    files: dict[str, list[str]] = field(default_factory=dict)  # model -> files read for it
    notes: list[str] = field(default_factory=list)

    @property
    def has_stderr(self) -> bool:
        return any(not math.isnan(x) for row in self.stderr for x in row)

    def describe(self) -> str:
        """One line: where the table came from and which metric each column is."""
        cols = ", ".join(f"{t}={self.metrics[t]}" for t in self.tasks)
        n_files = sum(len(f) for f in self.files.values())
        return f"lm-eval results: {len(self.models)} models from {n_files} file(s); columns: {cols}"


def find_results_files(paths: list[str]) -> list[Path]:
    """Every results JSON under the given paths: a file as given, a folder searched recursively for
    ``results*.json`` (lm-eval's names; its ``samples_*.jsonl`` are skipped)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            hits = sorted(x for x in p.rglob("results*.json") if x.is_file())
            if not hits:
                raise UserError(f"--from-lm-eval {p}: no results*.json in this folder or below; expected lm_eval --output_path output")
            found += hits
        else:
            raise UserError(f"--from-lm-eval {p}: no such file or folder; expected lm-eval results JSON files or their folder")
    return list(dict.fromkeys(found))


def model_name(doc: dict, path: Path) -> str:
    """The model's name as lm-eval records it: ``model_name``, else from ``config.model_args``."""
    name = doc.get("model_name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    args = (doc.get("config") or {}).get("model_args")
    if isinstance(args, dict):
        for key in MODEL_ARG_KEYS:
            if args.get(key):
                return str(args[key])
    elif isinstance(args, str):
        parts = dict(kv.split("=", 1) for kv in args.split(",") if "=" in kv)
        for key in MODEL_ARG_KEYS:
            if parts.get(key):
                return parts[key].strip()
    raise UserError(f"{path}: no model name: expected a 'model_name' or config.model_args with pretrained=... (lm-eval 0.4 results)")


def _read(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read: {err}") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON (line {err.lineno}: {err.msg}); expected an lm-eval results file") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict) or not doc["results"]:
        raise UserError(f"{path}: no 'results' mapping of tasks; expected an lm-eval results_*.json (not a samples file)")
    return doc


def metric_keys(result: dict) -> list[str]:
    """The metric keys of one task's results, in lm-eval's order (``acc,none``; no stderr keys)."""
    out = []
    for key, value in result.items():
        if key in _NOT_METRICS or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if key.split(",", 1)[0].endswith("_stderr"):
            continue
        out.append(key)
    return out


def stderr_key(metric: str) -> str:
    name, _, filt = metric.partition(",")
    return f"{name}_stderr,{filt}" if filt else f"{name}_stderr"


def _pick(task: str, keys: list[str], wanted: str, where: str) -> str | None:
    """The key of `wanted` (``acc_norm`` or ``acc_norm,none``) among `keys`; None if absent."""
    if wanted in keys:
        return wanted
    matches = [k for k in keys if k.split(",", 1)[0] == wanted]
    if len(matches) > 1:
        raise UserError(f"--lm-eval-metric {where}: task {task!r} has {wanted!r} under several filters ({', '.join(matches)}); "
                        f"name one, e.g. --lm-eval-metric {task}={matches[0]}")
    return matches[0] if matches else None


def parse_metric_choices(specs: list[str]) -> tuple[str | None, dict[str, str]]:
    """``--lm-eval-metric`` values -> (metric for every task or None, {task: metric})."""
    default, per_task = None, {}
    for s in specs or []:
        task, sep, metric = s.partition("=")
        if not sep:
            task, metric = "", s
        task, metric = task.strip(), metric.strip()
        if not metric or (sep and not task):
            raise UserError(f"--lm-eval-metric {s!r}: expected METRIC or TASK=METRIC (e.g. acc_norm or arc_easy=acc_norm,none)")
        if not task:
            if default is not None and default != metric:
                raise UserError(f"--lm-eval-metric: two metrics for every task ({default!r}, {metric!r}); expected one, or TASK=METRIC")
            default = metric
        else:
            if task in per_task and per_task[task] != metric:
                raise UserError(f"--lm-eval-metric: two metrics for task {task!r} ({per_task[task]!r}, {metric!r}); expected one")
            per_task[task] = metric
    return default, per_task


def _default_tasks(doc: dict) -> list[str]:
    """The tasks a file stands for: top-level entries of ``results``, a group with aggregate metrics
    in place of its subtasks (lm-eval lists groups and their members side by side)."""
    results, groups = doc["results"], doc.get("group_subtasks") or {}
    member = {t for subs in groups.values() if isinstance(subs, list) for t in subs}

    def expand(name: str) -> list[str]:
        if name in groups and not metric_keys(results.get(name, {})):
            return [t for sub in groups[name] for t in expand(sub)]
        return [name] if name in results and metric_keys(results[name]) else []

    return [t for top in results if top not in member for t in expand(top)]


def read_lm_eval(paths: list[str], metrics: list[str] | None = None, tasks: list[str] | None = None) -> LmEvalTable:
    """Read lm-eval results files (or folders of them) into a score table; one line per mistake."""
    files = find_results_files(paths)
    by_model: dict[str, dict[str, tuple[float, dict, dict, Path]]] = {}  # model -> task -> (date, result, higher_is_better, file)
    order: dict[str, list[str]] = {}
    sources: dict[str, list[str]] = {}
    notes: list[str] = []
    for f in files:
        doc = _read(f)
        name = model_name(doc, f)
        sources.setdefault(name, []).append(str(f))
        date = doc.get("date") if isinstance(doc.get("date"), (int, float)) else 0.0
        hib = doc.get("higher_is_better") or {}
        seen = by_model.setdefault(name, {})
        wanted = order.setdefault(name, [])
        for t in _default_tasks(doc):
            if t not in wanted:
                wanted.append(t)
        for t, res in doc["results"].items():
            if not isinstance(res, dict):
                raise UserError(f"{f}: results[{t!r}] is {type(res).__name__}; expected a mapping of metrics")
            if t in seen:
                older, newer = sorted([(seen[t][0], str(seen[t][3])), (date, str(f))])
                notes.append(f"{name}: task {t} is in {older[1]} and {newer[1]}; the newer run ({newer[1]}) is used")
                if date < seen[t][0]:
                    continue
            seen[t] = (date, res, hib.get(t) or {}, f)
    models = list(by_model)
    if len(models) < 2:
        raise UserError(f"--from-lm-eval: {len(models)} model(s) in {len(files)} file(s) ({', '.join(models) or 'none'}); "
                        "expected results of at least 2 models to rank")
    if tasks:
        chosen = list(dict.fromkeys(tasks))
    else:
        chosen = list(dict.fromkeys(t for m in models for t in order[m]))
    for m in models:
        missing = [t for t in chosen if t not in by_model[m]]
        if missing:
            hint = "choose the tasks every model has with --lm-eval-tasks" if not tasks else "choose tasks every model has"
            raise UserError(f"--from-lm-eval: model {m!r} has no results for task {missing[0]!r} (read {', '.join(sources[m])}); "
                            f"expected every model to have every task: run it with lm_eval, or {hint}")
    default, per_task = parse_metric_choices(metrics or [])
    unknown = [t for t in per_task if t not in chosen]
    if unknown:
        raise UserError(f"--lm-eval-metric {unknown[0]}=...: no such task among the columns; expected one of: {', '.join(chosen)}")
    col_metric: dict[str, str] = {}
    first = models[0]
    for t in chosen:
        res = by_model[first][t][1]
        keys = metric_keys(res)
        if not keys:
            raise UserError(f"{by_model[first][t][3]}: task {t!r} has no numeric metric; expected e.g. 'acc,none'")
        if t in per_task:
            key = _pick(t, keys, per_task[t], f"{t}={per_task[t]}")
            if key is None:
                raise UserError(f"--lm-eval-metric {t}={per_task[t]}: task {t!r} has no such metric; expected one of: {', '.join(keys)}")
        else:
            key = (_pick(t, keys, default, default) if default else None) or keys[0]
        col_metric[t] = key
    if default and not any(col_metric[t].split(",", 1)[0] == default or col_metric[t] == default for t in chosen):
        raise UserError(f"--lm-eval-metric {default}: no task has this metric; expected one of: "
                        f"{', '.join(sorted({k for t in chosen for k in metric_keys(by_model[first][t][1])}))}")
    values, stderr = [], []
    for m in models:
        row, se_row = [], []
        for t in chosen:
            _, res, hib, f = by_model[m][t]
            key = col_metric[t]
            if key not in res:
                raise UserError(f"{f}: task {t!r} of model {m!r} has no metric {key!r} (the column's metric, from {sources[first][0]}); "
                                f"expected one of: {', '.join(metric_keys(res))}")
            v = res[key]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise UserError(f"{f}: task {t!r}, metric {key!r} is {v!r}; expected a finite number")
            if hib.get(key.split(",", 1)[0]) is False:
                raise UserError(f"{f}: task {t!r}, metric {key!r} is lower-is-better (higher_is_better: false); the rankings read "
                                f"higher as better: choose another metric with --lm-eval-metric {t}=METRIC")
            se = res.get(stderr_key(key))
            se = float(se) if isinstance(se, (int, float)) and not isinstance(se, bool) and math.isfinite(se) and se >= 0 else math.nan
            row.append(float(v))
            se_row.append(se)
        values.append(row)
        stderr.append(se_row)
    return LmEvalTable(models, chosen, col_metric, values, stderr, sources, notes)


def read_lm_eval_args(args) -> tuple[str, tuple[list[str], list[str], list[list[float]], list[list[float]] | None]]:
    """`robalign rank --from-lm-eval`: the table as `read_score_table` returns it, and its source's
    name; prints which metric each column is (and which run a repeated task came from)."""
    import sys

    tasks = [t.strip() for t in args.lm_eval_tasks.split(",")] if args.lm_eval_tasks else None
    if tasks is not None and not all(tasks):
        raise UserError(f"--lm-eval-tasks {args.lm_eval_tasks!r}: an empty task name; expected e.g. arc_easy,hellaswag")
    table = read_lm_eval(args.from_lm_eval, args.lm_eval_metric, tasks)
    print(table.describe())
    for note in table.notes:
        print(f"note: {note}", file=sys.stderr)
    return " ".join(args.from_lm_eval), (table.models, table.tasks, table.values, table.stderr if table.has_stderr else None)
