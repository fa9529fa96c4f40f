"""An adapter applied to another base of the same shapes is one clear error (issue 15 item 3).

Two real tiny models of one geometry (seeds 0 and 1), real PEFT adapters, the real CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robalign.errors import UserError

REPO = Path(__file__).resolve().parents[2]


def _robalign(*args, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "robalign", *map(str, args)], input=stdin, capture_output=True, text=True,
                          timeout=300, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "src")})


def _lora(base: Path, out: Path) -> Path:
    """A rank-8 LoRA with random B (it changes outputs), saved by PEFT as a training run would."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    model = AutoModelForCausalLM.from_pretrained(base)
    get_peft_model(model, LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def other(tmp_path_factory) -> Path:
    """Same size and tokenizer as the session's test model, other weights (seed 1)."""
    from robalign.models.factory import make_model

    return make_model("test", tmp_path_factory.mktemp("seed1") / "model", seed=1)


@pytest.fixture(scope="module")
def other_copy(other, tmp_path_factory) -> Path:
    return Path(shutil.copytree(other, tmp_path_factory.mktemp("copy") / "model"))


@pytest.fixture(scope="module")
def recorded(other, tmp_path_factory) -> Path:
    """An adapter of `other` with its base recorded (what train.py does after save_model)."""
    from robalign.models.fingerprint import RECORD, record_base

    out = _lora(other, tmp_path_factory.mktemp("rec") / "adapter")
    assert record_base(out, other) == out / RECORD
    return out


@pytest.fixture(scope="module")
def unrecorded(other, tmp_path_factory) -> Path:
    """An adapter of `other` saved by PEFT alone: only adapter_config.json names its base."""
    return _lora(other, tmp_path_factory.mktemp("unrec") / "adapter")


def test_fingerprint_tells_weights_apart_not_paths_or_shards(test_model_dir, other, other_copy, tmp_path):
    from transformers import AutoModelForCausalLM

    from robalign.models.fingerprint import fingerprint

    assert fingerprint(other) == fingerprint(other_copy) != fingerprint(test_model_dir)
    model = AutoModelForCausalLM.from_pretrained(other)
    model.save_pretrained(tmp_path / "sharded", max_shard_size="200KB")
    assert len(list((tmp_path / "sharded").glob("*.safetensors"))) > 1
    assert fingerprint(tmp_path / "sharded") == fingerprint(other)
    with __import__("torch").no_grad():
        model.model.layers[1].mlp.down_proj.weight[-1, -1] += 1.0  # one element, in the last window of one tensor
    model.save_pretrained(tmp_path / "edited")
    assert fingerprint(tmp_path / "edited") != fingerprint(other)
    assert fingerprint(tmp_path) is None  # no safetensors: unknown


def test_record_base_writes_the_fingerprint_only_for_adapters(recorded, other, test_model_dir):
    from robalign.models.fingerprint import METHOD, fingerprint, record_base

    rec = json.loads((recorded / "robalign_adapter.json").read_text())
    assert rec == {"base_model": str(other), "base_model_path": str(other.resolve()), "fingerprint": fingerprint(other),
                   "fingerprint_method": METHOD}
    assert record_base(test_model_dir, other) is None and not (test_model_dir / "robalign_adapter.json").exists()


def test_generate_refuses_another_base_of_the_same_shapes(recorded, other, test_model_dir, data_dir, tmp_path, capsys):
    from robalign.cli.main import main

    args = ["generate", "--adapter", str(recorded), "--data", str(data_dir / "bench" / "sort.jsonl"),
            "--out", str(tmp_path / "o.jsonl"), "--engine", "hf", "--max-tokens", "4"]
    assert main([*args, "--model", str(test_model_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"robalign generate: error: adapter {recorded} was trained on base {other} (fingerprint ")
    assert f"but {test_model_dir} has different weights" in err[0] and "pass the base it was trained on" in err[0]
    assert not (tmp_path / "o.jsonl").exists()


def test_chat_refuses_the_wrong_base_and_answers_on_the_right_one_or_a_copy(recorded, test_model_dir, other, other_copy):
    bad = _robalign("chat", "--model", test_model_dir, "--adapter", recorded, stdin="Sort: 3 1 2\n")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert f"trained on base {other} (fingerprint " in bad.stderr and f"but {test_model_dir} has different weights" in bad.stderr
    for base in (other, other_copy):
        ok = _robalign("chat", "--model", base, "--adapter", recorded, "--max-tokens", "4", stdin="Sort: 3 1 2\n")
        assert ok.returncode == 0 and ok.stdout.startswith("assistant:"), ok.stderr


def test_generate_works_on_the_right_base(recorded, other, data_dir, tmp_path):
    from robalign.cli.main import main

    data = tmp_path / "p.jsonl"
    data.write_text("".join(x + "\n" for x in (data_dir / "bench" / "sort.jsonl").read_text().splitlines()[:2]))
    assert main(["generate", "--model", str(other), "--adapter", str(recorded), "--no-base", "--data", str(data),
                 "--out", str(tmp_path / "o.jsonl"), "--engine", "hf", "--max-tokens", "4"]) == 0
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 2


def test_without_a_record_adapter_config_base_is_fingerprinted(unrecorded, test_model_dir, other, other_copy):
    from robalign.models.adapters import check_adapter

    assert json.loads((unrecorded / "adapter_config.json").read_text())["base_model_name_or_path"] == str(other)
    with pytest.raises(UserError, match=rf"trained on base {other} \(fingerprint [0-9a-f]{{12}}\.\.\), but {test_model_dir} has different"):
        check_adapter(unrecorded, test_model_dir)
    assert check_adapter(unrecorded, other)["r"] == 8
    assert check_adapter(unrecorded, other_copy)["r"] == 8  # same weights elsewhere: fine
    cfg = json.loads((unrecorded / "adapter_config.json").read_text())
    hub = unrecorded.parent / "hub-named"
    shutil.copytree(unrecorded, hub)
    (hub / "adapter_config.json").write_text(json.dumps({**cfg, "base_model_name_or_path": "someorg/some-model"}))
    assert check_adapter(hub, test_model_dir)["r"] == 8  # a hub id: nothing local to compare (today's behaviour)


def test_a_base_overwritten_after_training_is_named(other, test_model_dir, tmp_path):
    from robalign.models.adapters import check_adapter
    from robalign.models.fingerprint import record_base

    base = Path(shutil.copytree(other, tmp_path / "base"))
    adapter = _lora(base, tmp_path / "adapter")
    record_base(adapter, base)
    shutil.copy(test_model_dir / "model.safetensors", base / "model.safetensors")  # "retrained" in place
    with pytest.raises(UserError, match=rf"but {base} has different weights now .*retrained or overwritten since"):
        check_adapter(adapter, base)


def test_serve_attack_eval_and_tournament_refuse_it_before_any_engine(recorded, test_model_dir, other, data_dir, tmp_path, capsys):
    from robalign.cli.main import main
    from robalign.models.loading import load_for_inference

    r = _robalign("serve", "--model", test_model_dir, "--adapter", f"x={recorded}", "--print-command")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "has different weights" in r.stderr
    assert main(["attack-eval", "--model", str(test_model_dir), "--adapter", str(recorded), "--data", str(data_dir / "safety_test.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "robalign attack-eval: error:" in err[0] and "has different weights" in err[0]
    with pytest.raises(UserError, match="has different weights"):  # the tournament's attack scorer loads through it too
        load_for_inference(str(test_model_dir), str(recorded))
    models = [{"name": "base", "model": str(test_model_dir)}, {"name": "lora", "model": str(test_model_dir), "adapter": str(recorded)}]
    p = tmp_path / "t.yaml"
    p.write_text(json.dumps({"output_dir": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache"), "models": models, "ranking": {"n_sims": 100, "eliminate": [0]},
                             "benchmarks": [{"name": "sort", "data": str(data_dir / "bench" / "sort.jsonl"), "scorer": "verify"}]}))
    assert main(["tournament", str(p), "--no-progress"]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert err[-1].startswith(f"robalign tournament: error: {p}: model lora: adapter {recorded} was trained on base {other}")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()  # refused before generating anything
