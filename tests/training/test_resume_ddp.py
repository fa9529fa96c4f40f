"""Training runs end to end: run directory contract, resume == uninterrupted, two real processes."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.training.conftest import failure_excerpt, run_module

RECIPE = """
model:
  model_name_or_path: {model}
data:
  train:
    path: {data}/prefs_uniform_0.3.jsonl
    max_samples: 96
method:
  name: preference
  loss_type: dpo
  noise_model: lcpo
lcpo:
  posterior: {posterior}
  alpha: 0.3
training:
  output_dir: {out}
  seed: 0
  beta: 1.0
  learning_rate: 1.0e-3
  max_steps: {steps}
  per_device_train_batch_size: {batch}
  logging_steps: 1
  save_steps: 3
  max_length: 64
  report_to: []
peft:
  r: 4
  lora_alpha: 8
  target_modules: all-linear
"""


def _write(tmp_path, name, test_model_dir, data_dir, posterior="reference", steps=6, batch=8):
    out = tmp_path / f"run-{name}"
    path = tmp_path / f"{name}.yaml"
    path.write_text(RECIPE.format(model=test_model_dir, data=data_dir, out=out, posterior=posterior, steps=steps, batch=batch))
    return path, out


def _adapter(out):
    from safetensors.torch import load_file

    return load_file(str(out / "adapter_model.safetensors"))


def _eta(ckpt):
    from robalign.trainers.checkpointing import read_extra_state

    return torch.tensor(read_extra_state(ckpt)["lcpo"]["eta"], dtype=torch.float64)


@pytest.mark.slow
def test_run_directory_and_resume_equals_uninterrupted(tmp_path, test_model_dir, data_dir):
    from robalign.train import main
    from robalign.trainers.run_dir import COMPLETE_MARKER

    recipe, out = _write(tmp_path, "a", test_model_dir, data_dir)
    assert main([str(recipe)]) == 0
    for name in ("resolved_recipe.yaml", "run_info.json", "metrics.jsonl", "adapter_model.safetensors", "tokenizer.json"):
        assert (out / name).is_file(), name
    info = json.loads((out / "run_info.json").read_text())
    assert info["seed"] == 0 and info["versions"]["trl"] and "hardware" in info
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4, 5, 6]
    assert all({"rewards/accuracies", "lcpo/eta", "lcpo/mean_weight", "lcpo/weight_auc"} <= set(r) for r in train_rows)
    final_weights, final_eta = _adapter(out), _eta(out / "checkpoint-6")
    assert final_eta.item() != pytest.approx(0.9)  # eta moved

    # A run killed while saving checkpoint-6: its marker is missing, the final model too.
    shutil.copytree(out, tmp_path / "uninterrupted")
    (out / "checkpoint-6" / COMPLETE_MARKER).unlink()
    (out / "adapter_model.safetensors").unlink()
    assert main([str(recipe)]) == 2  # refuses to overwrite a run without --resume
    assert main([str(recipe), "--resume"]) == 0
    resumed = _adapter(out)
    assert set(resumed) == set(final_weights)
    for key in final_weights:
        torch.testing.assert_close(resumed[key], final_weights[key], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(_eta(out / "checkpoint-6"), final_eta, atol=1e-9, rtol=0)
    rows2 = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows2 if "loss" in r] == [1, 2, 3, 4, 5, 6]  # no duplicated steps after resume
    assert [r["lcpo/eta"] for r in rows2 if "loss" in r] == pytest.approx([r["lcpo/eta"] for r in train_rows], abs=1e-9)

    # A planted pickle in place of the state file must be refused, not run (exit 2, no side effect).
    from tests.training.test_checkpoint_safety import plant_malicious_state

    (out / "adapter_model.safetensors").unlink()
    (out / "checkpoint-6" / "robalign_state.json").unlink()
    witness = plant_malicious_state(out / "checkpoint-6", tmp_path)
    metrics = (out / "metrics.jsonl").read_bytes()
    assert main([str(recipe), "--resume", "--set", "training.max_steps=7"]) == 2
    assert not witness.exists() and (out / "metrics.jsonl").read_bytes() == metrics


@pytest.mark.slow
def test_two_processes_share_eta_and_match_one_process(tmp_path, test_model_dir, data_dir):
    one, _ = _write(tmp_path, "one", test_model_dir, data_dir, posterior="implicit", steps=4, batch=8)
    two, _ = _write(tmp_path, "two", test_model_dir, data_dir, posterior="implicit", steps=4, batch=4)
    r1 = run_module(["-m", "robalign.train", str(one)], {"ROBALIGN_LCPO_TRACE": str(tmp_path / "trace1")})
    assert r1.returncode == 0, failure_excerpt(r1)
    r2 = run_module(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "robalign.train", str(two)],
                    {"ACCELERATE_USE_CPU": "1", "ROBALIGN_LCPO_TRACE": str(tmp_path / "trace2")})
    assert r2.returncode == 0, failure_excerpt(r2)
    read = lambda p: [json.loads(x) for x in p.read_text().splitlines()]  # noqa: E731
    rank0, rank1 = read(tmp_path / "trace2" / "eta_rank0.jsonl"), read(tmp_path / "trace2" / "eta_rank1.jsonl")
    single = read(tmp_path / "trace1" / "eta_rank0.jsonl")
    assert [r["step"] for r in rank0] == [1, 2, 3, 4]
    assert [r["eta"] for r in rank0] == [r["eta"] for r in rank1]  # bit-identical on both ranks
    # Two processes of 4 = one of 8 up to float reduction order, which differs between CPUs (measured
    # here, AVX-512: 2.6e-5 of a 3e-3 move with bf16 autocast, 1.3e-4 in fp32; 1e-5 held on AVX2). A
    # broken all-reduce (a local mean, a sum) changes the move by 50-100%: 10% of it separates the two.
    move = lambda rows: [r["eta"][0] - 0.9 for r in rows]  # noqa: E731  (eta_0 = 0.9)
    assert move(rank0) == pytest.approx(move(single), rel=0.1, abs=1e-6)
    assert [r["mean_weight"] for r in rank0] == pytest.approx([r["mean_weight"] for r in single], abs=1e-3)
