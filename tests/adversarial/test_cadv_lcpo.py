"""LCPO composes with C-AdvIPO: `method: cadv_ipo` + `noise_model: lcpo` trains with the same
NoiseModel as the preference trainer (eta logged, saved in the checkpoint)."""

from __future__ import annotations

import json

import yaml


def test_cadv_ipo_with_lcpo_trains(tmp_path, test_model_dir, data_dir):
    from robalign.atomic import atomic_write_jsonl
    from robalign.data.safety_mix import utility_rows
    from robalign.train import main

    utility = tmp_path / "utility.jsonl"
    atomic_write_jsonl(utility, utility_rows(0, 64))
    recipe = {
        "model": {"model_name_or_path": str(test_model_dir)},
        "data": {"safety": {"path": str(data_dir / "safety_train.jsonl")}, "utility": {"path": str(utility)}},
        "method": {"name": "cadv_ipo", "loss_type": "ipo", "noise_model": "lcpo"},
        "lcpo": {"posterior": "implicit", "eta_0": 0.8, "alpha": 0.5},
        "adversarial": {"steps": 2, "epsilon": 1.0, "adv_fraction": 0.25, "benign_fraction": 0.25},
        "training": {"output_dir": str(tmp_path / "run"), "learning_rate": 1e-2, "beta": 0.25, "per_device_train_batch_size": 8,
                     "max_steps": 3, "logging_steps": 1, "save_steps": 3, "report_to": [], "max_length": 64, "seed": 0},
        "peft": {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": "all-linear"},
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main([str(path)]) == 0
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    trained = [r for r in rows if "loss" in r]
    assert len(trained) == 3 and all("ipo/loss" in r and "adv/delta_norm" in r for r in trained)
    etas = [r["lcpo/eta"] for r in trained]
    assert all(0.5 <= e < 1 for e in etas) and etas[0] != 0.8  # updated from the posteriors after each step
    state = json.loads((tmp_path / "run" / "checkpoint-3" / "robalign_state.json").read_text())
    assert state["lcpo"]["eta"] == [etas[-1]] and state["lcpo"]["steps"] == 3
