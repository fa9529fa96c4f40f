"""`robalign rank --from-lm-eval`: lm-evaluation-harness results files (lm-eval 0.4.x schema, as
`lm_eval --output_path DIR` writes them: DIR/<model_name_sanitized>/results_<date>.json) -> the
score table, its `_stderr` values -> the intervals; every mistake one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robalign.cli.main import main
from robalign.eval.lm_eval_results import read_lm_eval

FAST = ["--n-sims", "2000", "--n-bootstrap", "100", "--resample-sims", "200", "--n-resamples", "20"]


def _task(name: str, metrics: dict[str, float | str]) -> dict:
    return {"name": name, "alias": name, "sample_len": 1000, **metrics}


def _acc(acc: float, acc_norm: float | None = None, se: float | str = 0.01) -> dict:
    m = {"acc,none": acc, "acc_stderr,none": se}
    if acc_norm is not None:
        m.update({"acc_norm,none": acc_norm, "acc_norm_stderr,none": se})
    return m


def lm_eval_results(model_args, results: dict, *, date: float = 1.7e9, groups: dict | None = None,
                    higher_is_better: dict | None = None, with_model_name: bool = True) -> dict:
    """A results file as lm-eval 0.4.x's EvaluationTracker.save_results_aggregated writes it."""
    name = None
    if with_model_name:
        parts = model_args if isinstance(model_args, dict) else dict(kv.split("=", 1) for kv in model_args.split(","))
        name = parts.get("peft") or parts.get("pretrained")
    hib = higher_is_better or {t: {k.split(",")[0]: True for k in r if "," in k and "_stderr" not in k} for t, r in results.items()}
    doc = {
        "results": results,
        "group_subtasks": groups or {t: [] for t in results},
        "configs": {t: {"task": t, "output_type": "multiple_choice", "metric_list": [{"metric": "acc"}]} for t in results},
        "versions": {t: 1.0 for t in results},
        "n-shot": {t: 0 for t in results},
        "higher_is_better": hib,
        "n-samples": {t: {"original": 1000, "effective": 1000} for t in results},
        "config": {
            "model": "vllm", "model_args": model_args, "batch_size": "auto", "batch_sizes": [], "device": None,
            "use_cache": None, "limit": None, "bootstrap_iters": 100000, "gen_kwargs": None, "random_seed": 0,
            "numpy_seed": 1234, "torch_seed": 1234, "fewshot_seed": 1234,
        },
        "git_hash": "a1b2c3d", "date": date, "pretty_env_info": "PyTorch version: 2.13.0",
        "transformers_version": "5.19.0", "lm_eval_version": "0.4.13", "upper_git_hash": None,
        "tokenizer_pad_token": ["<pad>", "0"], "tokenizer_eos_token": ["</s>", "2"], "tokenizer_bos_token": ["<s>", "1"],
        "eot_token_id": 2, "max_length": 4096, "task_hashes": {}, "model_source": "vllm",
        "system_instruction": None, "system_instruction_sha": None, "fewshot_as_multiturn": False,
        "chat_template": None, "chat_template_sha": None, "total_evaluation_time_seconds": "123.4",
    }
    if groups and any(g in results and any("," in k for k in results[g]) for g in groups):
        doc["groups"] = {g: results[g] for g in groups if g in results}
    if name is not None:
        doc["model_name"] = name
        doc["model_name_sanitized"] = name.replace("/", "__")
    return doc


def _write(root: Path, doc: dict, stamp: str = "2026-11-30T10-00-00.000000") -> Path:
    sub = root / doc.get("model_name_sanitized", "unknown")
    sub.mkdir(parents=True, exist_ok=True)
    path = sub / f"results_{stamp}.json"
    path.write_text(json.dumps(doc, indent=2))
    (sub / f"samples_arc_easy_{stamp}.jsonl").write_text('{"doc_id": 0}\n')  # lm-eval writes these beside: skipped
    return path


def _three_models(root: Path) -> None:
    mmlu = {"mmlu": ["mmlu_stem", "mmlu_humanities"]}
    for k, (name, good) in enumerate([("org/strong", 0.2), ("org/middle", 0.1), ("org/weak", 0.0)]):
        results = {
            "arc_easy": _task("arc_easy", _acc(0.6 + good, 0.55 + good)),
            "gsm8k": _task("gsm8k", {"exact_match,strict-match": 0.3 + good, "exact_match_stderr,strict-match": 0.012,
                                     "exact_match,flexible-extract": 0.35 + good, "exact_match_stderr,flexible-extract": 0.013}),
            "mmlu": _task("mmlu", _acc(0.5 + good)),
            "mmlu_stem": _task("mmlu_stem", _acc(0.45 + good)),
            "mmlu_humanities": _task("mmlu_humanities", _acc(0.55 + good, se="N/A")),
        }
        args = f"pretrained={name},dtype=bfloat16" if k != 1 else {"pretrained": "org/base", "peft": name}
        _write(root, lm_eval_results(args, results, groups=mmlu))


def test_reads_lm_eval_files_into_columns_with_metrics_and_stderr(tmp_path):
    _three_models(tmp_path / "results")
    t = read_lm_eval([str(tmp_path / "results")])
    assert sorted(t.models) == ["org/middle", "org/strong", "org/weak"]  # model_name (peft first, as lm-eval)
    assert t.tasks == ["arc_easy", "gsm8k", "mmlu"]  # the group stands for its subtasks
    assert t.metrics == {"arc_easy": "acc,none", "gsm8k": "exact_match,strict-match", "mmlu": "acc,none"}
    row = t.values[t.models.index("org/strong")]
    assert row == pytest.approx([0.8, 0.5, 0.7])
    assert t.stderr[0] == pytest.approx([0.01, 0.012, 0.01])

    t2 = read_lm_eval([str(tmp_path / "results")], metrics=["acc_norm", "gsm8k=exact_match,flexible-extract"],
                      tasks=["arc_easy", "gsm8k", "mmlu_stem", "mmlu_humanities"])
    assert t2.metrics == {"arc_easy": "acc_norm,none", "gsm8k": "exact_match,flexible-extract", "mmlu_stem": "acc,none",
                          "mmlu_humanities": "acc,none"}  # acc_norm where a task has it, the default elsewhere
    s = t2.models.index("org/strong")
    assert t2.values[s] == pytest.approx([0.75, 0.55, 0.65, 0.75])
    assert t2.stderr[s][:3] == pytest.approx([0.01, 0.013, 0.01]) and t2.stderr[s][3] != t2.stderr[s][3]  # "N/A" -> NaN


def test_model_name_from_model_args_and_newer_run_wins(tmp_path):
    root = tmp_path / "r"
    old = lm_eval_results("pretrained=org/a", {"arc_easy": _task("arc_easy", _acc(0.1))}, date=1.0e9, with_model_name=False)
    new = lm_eval_results("pretrained=org/a", {"arc_easy": _task("arc_easy", _acc(0.9))}, date=2.0e9, with_model_name=False)
    other = lm_eval_results({"pretrained": "org/b"}, {"arc_easy": _task("arc_easy", _acc(0.5)), "piqa": _task("piqa", _acc(0.5))},
                            with_model_name=False)
    more = lm_eval_results("pretrained=org/a", {"piqa": _task("piqa", _acc(0.4))}, date=1.5e9, with_model_name=False)
    files = [_write(root / "a", new, "2"), _write(root / "a", old, "1"), _write(root / "b", other), _write(root / "a", more, "3")]
    t = read_lm_eval([str(f) for f in files])
    assert t.models == ["org/a", "org/b"] and t.tasks == ["arc_easy", "piqa"]
    assert t.values == [[0.9, 0.4], [0.5, 0.5]]  # tasks merged over runs; arc_easy from the newer run
    assert len(t.notes) == 1 and "the newer run" in t.notes[0]


def test_rank_from_lm_eval_ranks_and_uses_the_stderr(tmp_path, capsys):
    _three_models(tmp_path / "results")
    out = tmp_path / "lb"
    assert main(["rank", "--from-lm-eval", str(tmp_path / "results"), *FAST, "--lm-eval-metric", "acc_norm", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "columns: arc_easy=acc_norm,none, gsm8k=exact_match,strict-match, mmlu=acc,none" in printed
    assert "resampling every score from its standard error" in printed
    doc = json.loads((out / "leaderboard.json").read_text())
    assert [r["model"] for r in doc["rows"]] == ["org/strong", "org/middle", "org/weak"]
    assert doc["rounds"] == [["arc_easy"], ["gsm8k"], ["mmlu"]] and doc["uncertainty"]["source"] == "stderr"


@pytest.mark.parametrize(
    "change,extra,needle",
    [
        (lambda d: d["results"].pop("gsm8k"), [], "model 'org/weak' has no results for task 'gsm8k'"),
        (None, ["--lm-eval-metric", "gsm8k=exact_match"], "under several filters"),
        (None, ["--lm-eval-metric", "arc_easy=f1"], "task 'arc_easy' has no such metric; expected one of: acc,none, acc_norm,none"),
        (None, ["--lm-eval-metric", "bleu"], "--lm-eval-metric bleu: no task has this metric"),
        (None, ["--lm-eval-metric", "hellaswag=acc"], "no such task among the columns"),
        (None, ["--lm-eval-tasks", "arc_easy,piqa"], "has no results for task 'piqa'"),
        (lambda d: d["higher_is_better"]["arc_easy"].update(acc=False), [], "is lower-is-better"),
        (lambda d: d.pop("results"), [], "no 'results' mapping of tasks"),
        (lambda d: (d.pop("model_name"), d["config"].update(model_args="dtype=float32")), [], "no model name"),
        (lambda d: d["results"]["arc_easy"].update({"acc,none": None}), [], "metric 'acc,none' is None; expected a finite number"),
    ],
)
def test_bad_lm_eval_input_exits_2_with_one_line(tmp_path, capsys, change, extra, needle):
    _three_models(tmp_path / "results")
    if change is not None:
        path = next((tmp_path / "results" / "org__weak").glob("results_*.json"))
        doc = json.loads(path.read_text())
        change(doc)
        path.write_text(json.dumps(doc))
    assert main(["rank", "--from-lm-eval", str(tmp_path / "results"), *FAST, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("robalign rank: error: ") and needle in err, err


def test_from_lm_eval_argument_mistakes(tmp_path, capsys):
    assert main(["rank", "--from-lm-eval", str(tmp_path / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["rank", "--from-lm-eval", str(tmp_path / "empty")]) == 2
    assert "no results*.json" in capsys.readouterr().err
    assert main(["rank"]) == 2
    assert "expected a score CSV or --from-lm-eval" in capsys.readouterr().err
    one = _write(tmp_path / "one", lm_eval_results("pretrained=x", {"arc_easy": _task("arc_easy", _acc(0.5))}))
    assert main(["rank", "--from-lm-eval", str(one)]) == 2
    assert "at least 2 models" in capsys.readouterr().err
