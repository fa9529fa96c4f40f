"""robalign export (merged and portable adapter), the model card, and generate --format alpaca_eval.

The vLLM load of a merged export runs per family in tests/families; here transformers and the HF
engine check it. The hub upload is the one thing mocked (no hub here): HfApi's create_repo and
upload_folder record their calls instead of uploading.
"""

from __future__ import annotations

import json
import shutil

import pytest

from robalign.cli.main import main as cli


@pytest.fixture(scope="module")
def exported(lora_dir, test_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "merged"
    assert cli(["export", "--model", str(test_model_dir), "--adapter", str(lora_dir), "--out", str(out), "--merge"]) == 0
    return out


def test_merged_export_generates_as_hf_peft(exported, lora_dir, test_model_dir, bench_prompts):
    from transformers import AutoTokenizer

    from robalign.eval.engines import EngineArgs
    from robalign.eval.engines.hf import HFEngine
    from robalign.models.chat import render_chat
    from robalign.eval.sampling import SamplingArgs

    for f in ("config.json", "model.safetensors", "generation_config.json", "tokenizer_config.json", "README.md"):
        assert (exported / f).is_file(), f
    ids = render_chat(AutoTokenizer.from_pretrained(exported), bench_prompts[:16])
    s = SamplingArgs(temperature=0.0, max_tokens=16)
    ref = HFEngine(str(test_model_dir), EngineArgs(backend="hf", dtype="float32")).generate(ids, s, adapter=str(lora_dir))
    got = HFEngine(str(exported), EngineArgs(backend="hf", dtype="float32")).generate(ids, s)
    assert got == ref
    card = (exported / "README.md").read_text()
    assert f"base_model: {test_model_dir.resolve()}" in card and "[None]" not in card and "library_name: transformers" in card


def test_portable_adapter_loads_from_anywhere(lora_dir, test_model_dir, tmp_path, monkeypatch):
    """The exported adapter names its base by absolute path: PEFT loads it from another folder."""
    import os

    from peft import AutoPeftModelForCausalLM

    rel = os.path.relpath(test_model_dir, tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli(["export", "--model", rel, "--adapter", str(lora_dir), "--out", "portable"]) == 0
    cfg = json.loads((tmp_path / "portable" / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == str(test_model_dir.resolve())
    moved = tmp_path / "elsewhere" / "adapter"
    shutil.copytree(tmp_path / "portable", moved)
    monkeypatch.chdir(moved.parent)
    AutoPeftModelForCausalLM.from_pretrained(str(moved))  # resolves the base by itself


def test_export_bad_input_is_one_line(lora_dir, test_model_dir, tmp_path, capsys, monkeypatch):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("mine")
    cases = [
        (["--adapter", str(test_model_dir), "--out", str(tmp_path / "a")], "has no adapter_config.json"),
        (["--adapter", str(lora_dir), "--out", str(tmp_path / "full")], "export --out"),
        (["--adapter", str(lora_dir), "--out", str(tmp_path / "b"), "--push-to-hub"], "--hub-model-id"),
    ]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cases.append((["--adapter", str(lora_dir), "--out", str(tmp_path / "c"), "--push-to-hub", "--hub-model-id", "me/x"], "HF_HUB_OFFLINE=1"))
    for extra, needle in cases:
        assert cli(["export", "--model", str(test_model_dir), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1, err
    assert (tmp_path / "full" / "x.txt").read_text() == "mine" and not (tmp_path / "c").exists()


def test_push_to_hub_uploads_the_export(lora_dir, test_model_dir, tmp_path, monkeypatch):
    """Mocked: only HfApi's network calls (no hub here); the folder handed to the upload is checked."""
    from huggingface_hub import HfApi

    calls = []
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("create", repo_id)))
    monkeypatch.setattr(HfApi, "upload_folder", lambda self, repo_id, folder_path, **kw: calls.append(("upload", repo_id, sorted(
        p.name for p in __import__("pathlib").Path(folder_path).iterdir()))))
    out = tmp_path / "pushed"
    assert cli(["export", "--model", str(test_model_dir), "--adapter", str(lora_dir), "--out", str(out), "--push-to-hub",
                "--hub-model-id", "me/tiny-dpo"]) == 0
    assert calls[0] == ("create", "me/tiny-dpo") and calls[1][1] == "me/tiny-dpo"
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= set(calls[1][2])
    assert "me/tiny-dpo" in (out / "README.md").read_text()


def test_generate_alpaca_eval_format(test_model_dir, lora_dir, tmp_path):
    data = tmp_path / "p.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "dataset": "toy"}) + "\n" for p in ["Sort: 3 1 2", "Max: 4 9 1"]))
    out = tmp_path / "outputs.json"
    assert cli(["generate", "--model", str(test_model_dir), "--adapter", str(lora_dir), "--data", str(data), "--out", str(out),
                "--engine", "hf", "--max-tokens", "8", "--format", "alpaca_eval"]) == 0
    rows = json.loads(out.read_text())
    assert [r["generator"] for r in rows] == ["base", "base", lora_dir.name, lora_dir.name]
    assert all(set(r) == {"instruction", "output", "generator", "dataset"} and isinstance(r["output"], str) for r in rows)
    assert rows[0]["instruction"] == "Sort: 3 1 2"


def test_training_push_to_hub_passes_through_to_trl(test_model_dir, data_dir, tmp_path, monkeypatch, capsys):
    """training.push_to_hub / hub_model_id reach TRL's Trainer, which uploads the run folder with
    robalign's model card. Mocked: only the hub API transformers' Trainer calls (no hub here).
    Offline, the recipe is refused up front with one line (TRL would fail creating the repo)."""
    from concurrent.futures import Future
    from pathlib import Path

    import transformers.trainer
    import yaml

    from robalign.train import main as train_main

    recipe = {
        "model": {"model_name_or_path": str(test_model_dir)},
        "data": {"train": {"path": str(data_dir / "prefs_uniform_0.3.jsonl"), "max_samples": 8}},
        "method": {"name": "preference", "loss_type": "dpo"},
        "training": {"output_dir": str(tmp_path / "run"), "per_device_train_batch_size": 8, "max_steps": 1, "save_steps": 1,
                     "report_to": [], "max_length": 64, "push_to_hub": True, "hub_model_id": "me/tiny-dpo"},
        "peft": {"r": 4, "lora_alpha": 8, "target_modules": "all-linear"},
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert train_main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "training.push_to_hub" in err and "HF_HUB_OFFLINE=1" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()

    calls = []

    class FakeApi:  # the two calls Trainer makes
        def create_repo(self, repo_id, **kw):
            calls.append(("create", repo_id))
            return type("Url", (), {"repo_id": repo_id})()

        def upload_folder(self, repo_id, folder_path, **kw):
            files = sorted(p.name for p in Path(folder_path).iterdir())
            readme = (Path(folder_path) / "README.md").read_text() if (Path(folder_path) / "README.md").exists() else ""
            calls.append(("upload", repo_id, files, readme))
            done = Future()
            done.set_result(None)
            return done if kw.get("run_as_future") else None

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(transformers.trainer, "hf_api", lambda *a, **k: FakeApi())
    assert train_main([str(path)]) == 0
    assert calls[0] == ("create", "me/tiny-dpo")
    final = [c for c in calls if c[0] == "upload"][-1]
    assert final[1] == "me/tiny-dpo" and {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= set(final[2])
    assert f"base_model: {test_model_dir.resolve()}" in final[3] and "[None]" not in final[3]
