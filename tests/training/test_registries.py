"""The two registries: a loss registered inside a test trains end to end (validation, the
trainer, LCPO), and the docs' tables are the registries' own."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
import yaml

from tests.training.conftest import REPO


def _hinge_link(pair, params):
    return params.beta * ((pair.chosen_logps - pair.ref_chosen_logps) - (pair.rejected_logps - pair.ref_rejected_logps))


def _hinge_base(pair, z, params):
    return F.relu(1.0 - z)  # SLiC-style hinge on the DPO logit


@pytest.fixture
def toy_loss():
    from robalign.losses import LossSpec, register_loss, unregister_loss

    spec = register_loss(LossSpec("toy_hinge", "A hinge on the DPO logit, registered by a test.", link=_hinge_link, base=_hinge_base,
                                  needs_reference=True, length_normalised=False))
    yield spec
    unregister_loss("toy_hinge")


def test_a_registered_loss_is_one_function_pair(toy_loss):
    from robalign.losses import base_loss, preference_logits

    pc, pr, rc, rr = torch.tensor([-4.0]), torch.tensor([-6.0]), torch.tensor([-5.0]), torch.tensor([-5.5])
    z = preference_logits("toy_hinge", pc, pr, rc, rr, beta=0.2)  # h = 1.5
    assert z.item() == pytest.approx(0.3)
    assert base_loss("toy_hinge", pc, pr, rc, rr, beta=0.2).item() == pytest.approx(0.7)


@pytest.mark.parametrize("noise_model", ["none", "lcpo"])
def test_a_loss_registered_in_the_test_trains(toy_loss, noise_model, tmp_path, test_model_dir, data_dir, capsys):
    from robalign.cli.main import main
    from safetensors.torch import load_file

    recipe = {
        "model": {"model_name_or_path": str(test_model_dir)},
        "data": {"train": {"path": str(data_dir / "prefs_uniform_0.3.jsonl"), "max_samples": 16}},
        "method": {"name": "preference", "loss_type": "toy_hinge", "noise_model": noise_model},
        "lcpo": {"posterior": "implicit"},
        "training": {"output_dir": str(tmp_path / "run"), "learning_rate": 1e-2, "beta": 0.5, "per_device_train_batch_size": 8,
                     "max_steps": 2, "logging_steps": 1, "save_steps": 2, "report_to": [], "max_length": 64, "seed": 0},
        "peft": {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": "all-linear"},
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["validate", str(path)]) == 0
    assert f"preference/toy_hinge{'+lcpo' if noise_model == 'lcpo' else ''}" in capsys.readouterr().out
    assert main(["train", str(path)]) == 0, capsys.readouterr().err[-2000:]
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 2 and all(0 < v < 10 for v in losses)  # a hinge of the DPO logit near 0 is about 1
    assert ("lcpo/eta" in rows[0]) == (noise_model == "lcpo")
    adapter = load_file(str(tmp_path / "run" / "adapter_model.safetensors"))
    assert any(k.endswith("lora_B.weight") and v.abs().max() > 0 for k, v in adapter.items())  # LoRA B starts at 0: the loss moved it


def test_an_unregistered_loss_is_refused_with_the_registry_list(tmp_path, test_model_dir, data_dir, capsys):
    from robalign.cli.main import main

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"model": {"model_name_or_path": str(test_model_dir)},
                                    "data": {"train": {"path": str(data_dir / "prefs_uniform_0.3.jsonl")}},
                                    "method": {"name": "preference", "loss_type": "toy_hinge"},
                                    "training": {"output_dir": str(tmp_path / "run")}}))
    assert main(["validate", str(path)]) == 2
    from robalign.losses import LOSSES

    assert list(LOSSES)[:7] == ["dpo", "ipo", "simpo", "cpo", "cdpo", "rdpo", "unlikelihood"]
    assert f"method.loss_type: expected one of {', '.join(LOSSES)}, got 'toy_hinge'" in capsys.readouterr().err


def _generated(doc: str, marker: str) -> str:
    text = doc.split(f"<!-- generated: {marker} -->\n", 1)[1]
    return "\n".join(line for line in text.split("\n\n", 1)[0].splitlines() if line.startswith("|"))


def test_the_docs_tables_are_the_registries():
    import robalign.losses  # noqa: F401 (registers the built-in losses)
    from robalign.config.methods import markdown_table as methods_table
    from robalign.losses.registry import markdown_table as losses_table

    doc = (REPO / "docs" / "architecture.md").read_text()
    assert _generated(doc, "robalign.config.methods.markdown_table()") == methods_table()
    assert _generated(doc, "robalign.losses.registry.markdown_table()") == losses_table()


def test_every_loss_only_key_is_a_field_of_the_preference_config():
    import dataclasses

    from robalign.config.rules import loss_only_keys
    from robalign.config.training import PreferenceConfig

    fields = {f.name for f in dataclasses.fields(PreferenceConfig)}
    assert set(loss_only_keys()) <= fields and set(loss_only_keys()) == {"label_smoothing", "simpo_gamma", "cpo_alpha", "rpo_alpha"}
