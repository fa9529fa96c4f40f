"""The shared generation cache: keyed by what decides a generation, not by the output folder.

The identity tests read real model and adapter folders; the tournament test runs real
tournaments on the HF engine (the test model starts in about a second, so this runs in the
fast subset) and counts the prompts the engines generated.
"""

from __future__ import annotations

import json
import shutil


def _identities(model, adapter):
    from robalign.eval.cache import adapter_identity, model_identity

    return model_identity(str(model)), adapter_identity(str(adapter))


def test_files_beside_an_adapter_or_model_that_loading_does_not_read_keep_the_key(test_model_dir, lora_dir, tmp_path):
    base, run = tmp_path / "base", tmp_path / "run"
    shutil.copytree(test_model_dir, base)
    shutil.copytree(lora_dir, run)
    before = _identities(base, run)
    assert before == _identities(test_model_dir, lora_dir)  # a copy elsewhere is the same model: path is not part of it
    assert before[1]["weights"] and set(before[1]["files"]) == {"adapter_config.json"}  # peft's README.md is not read

    # what training runs, attack-eval and people leave in these folders
    for d in (base, run):
        (d / "robustness.json").write_text('{"asr": 0.5}\n')
        (d / "README.md").write_text("# notes\n")
        (d / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
        (d / "run_info.json").write_text("{}\n")
        (d / "training_args.bin").write_bytes(b"\x80\x04pickle")
        (d / "logs").mkdir()
        (d / "logs" / "events.out").write_text("x")
        (d / "checkpoint-5").mkdir()
    shutil.copy(run / "adapter_model.safetensors", run / "checkpoint-5" / "adapter_model.safetensors")
    shutil.copy(base / "model.safetensors", base / "checkpoint-5" / "model.safetensors")
    (run / "adapter_model.safetensors").touch()  # a new mtime alone: same bytes, same key
    assert _identities(base, run) == before

    # what loading reads does change it
    cfg = json.loads((run / "adapter_config.json").read_text())
    (run / "adapter_config.json").write_text(json.dumps({**cfg, "lora_alpha": cfg["lora_alpha"] * 2}))
    template = base / "chat_template.jinja"
    template.write_text(template.read_text().replace("{{", "{{- ", 1))
    after = _identities(base, run)
    assert after[0]["weights"] == before[0]["weights"] and after[0]["files"] != before[0]["files"]
    assert after[1]["weights"] == before[1]["weights"] and after[1]["files"] != before[1]["files"]


def test_engine_identity_holds_what_changes_outputs_only():
    from dataclasses import replace

    from robalign.eval.cache import engine_identity
    from robalign.eval.engines import EngineArgs
    from robalign.eval.sampling import SamplingArgs

    greedy = SamplingArgs()
    e = EngineArgs(backend="hf", dtype="float32")
    same = engine_identity(e, greedy)
    for speed_only in (dict(tensor_parallel_size=2), dict(hf_batch_size=4), dict(enforce_eager=True), dict(seed=7)):
        assert engine_identity(replace(e, **speed_only), greedy) == same, speed_only
    for changes in (dict(dtype="bfloat16"), dict(backend="vllm"), dict(max_model_len=128)):
        assert engine_identity(replace(e, **changes), greedy) != same, changes
    unseeded = SamplingArgs(temperature=0.7, seed=None)  # then the engine's seed decides the samples
    assert engine_identity(replace(e, seed=7), unseeded) != engine_identity(e, unseeded)


def test_default_cache_place(monkeypatch, tmp_path):
    from robalign.env import CACHE_DIR_VAR, robalign_cache_dir, source_checkout
    from robalign.eval.cache import GenerationCache

    monkeypatch.setenv(CACHE_DIR_VAR, str(tmp_path / "c"))
    assert GenerationCache().root == tmp_path / "c" / "generations"
    monkeypatch.delenv(CACHE_DIR_VAR)
    assert robalign_cache_dir() == source_checkout() / ".cache" / "robalign"  # tests run from the checkout


TOURNAMENT = """
output_dir: {out}
models:
  - {{name: base, model: {model}}}
adapter_globs:
  - {{glob: "{runs}/*", model: {model}}}
benchmarks:
  - {{name: sort, data: {bench}/sort.jsonl, scorer: verify, max_items: 4}}
  - {{name: count, data: {bench}/count.jsonl, scorer: verify, max_items: 4}}
sampling: {{max_tokens: 8}}
engine: {{backend: hf, dtype: float32}}
ranking: {{n_sims: 200, eliminate: [0], n_bootstrap: 100}}
"""


def test_cache_survives_other_output_dirs_overwrite_and_attack_eval_output(test_model_dir, lora_dir, data_dir, tmp_path, monkeypatch, capsys):
    """Tournaments in new folders, an --overwrite and attack-eval's report beside the adapter
    generate nothing; other sampling and retrained adapter weights do."""
    from robalign.cli.main import main
    from robalign.eval.config import load_tournament
    from robalign.eval.engines import make_engine
    from robalign.eval.tournament import run_tournament

    monkeypatch.setenv("ROBALIGN_CACHE_DIR", str(tmp_path / "shared"))
    runs = tmp_path / "runs"
    run = runs / "lora"
    shutil.copytree(lora_dir, run)
    path = tmp_path / "t.yaml"
    path.write_text(TOURNAMENT.format(out=tmp_path / "t1", model=test_model_dir, runs=runs, bench=data_dir / "bench"))
    engines = []

    def tournament(*overrides, file=path, overwrite=False):
        cfg = load_tournament(str(file), list(overrides))
        n = len(engines)

        def factory(model, adapters):  # the real engine a tournament starts, counted
            engines.append(make_engine(model, cfg.engine, adapters))
            return engines[-1]

        res = run_tournament(cfg, str(file), engine_factory=factory, progress=False, log=lambda m: None, overwrite=overwrite)
        return res, sum(e.n_generated for e in engines[n:])

    first, generated = tournament()
    assert generated == 2 * 8
    shards = sorted((tmp_path / "shared" / "generations").glob("*.json"))
    assert len(shards) == 4 and not (tmp_path / "t1" / "generations").exists()

    again, generated = tournament("output_dir=" + str(tmp_path / "t2"))  # the README's --set output_dir=runs/t2
    assert generated == 0 and again.scores == first.scores and (tmp_path / "t2" / "scores.csv").is_file()

    # attack-eval's report beside the adapter (with its progress bars), plus a run's usual files
    rc = main(["attack-eval", "--model", str(test_model_dir), "--adapter", str(run), "--data", str(data_dir / "safety_test.jsonl"),
               "--max-samples", "4", "--grid", "1x0.1", "--batch-size", "4", "--max-new-tokens", "4", "--out", str(run / "robustness.json")])
    err = capsys.readouterr().err
    assert rc == 0 and (run / "robustness.json").is_file()
    assert "clean: 100%" in err and "attack K1_e0.1: 100%" in err  # one bar per stage
    (run / "README.md").write_text("notes\n")
    (run / "metrics.jsonl").write_text('{"step": 1}\n')

    # ... and another tournament's --overwrite of t1 replaces t1's results, not the shared cache
    other = tmp_path / "other.yaml"
    other.write_text(path.read_text())
    _, generated = tournament(file=other, overwrite=True)
    assert generated == 0 and sorted((tmp_path / "shared" / "generations").glob("*.json")) == shards
    assert str(other) in (tmp_path / "t1" / "tournament_config.yaml").read_text()  # t1 now holds the other tournament

    # other sampling: every shard again; retrained adapter weights (same folder): only the adapter's
    _, generated = tournament("output_dir=" + str(tmp_path / "t4"), "sampling.max_tokens=6")
    assert generated == 2 * 8
    from safetensors.torch import load_file, save_file

    w = load_file(run / "adapter_model.safetensors")
    save_file({k: v * 2 if "lora_B" in k else v for k, v in w.items()}, run / "adapter_model.safetensors", metadata={"format": "pt"})
    changed, generated = tournament("output_dir=" + str(tmp_path / "t5"))
    assert generated == 8 and changed.scores["base"] == first.scores["base"]


def test_attack_eval_no_progress_is_quiet(test_model_dir, data_dir, capsys):
    from robalign.cli.main import main

    assert main(["attack-eval", "--model", str(test_model_dir), "--data", str(data_dir / "safety_test.jsonl"), "--max-samples", "2",
                 "--grid", "1x0.1", "--max-new-tokens", "2", "--no-progress"]) == 0
    assert "100%" not in capsys.readouterr().err
