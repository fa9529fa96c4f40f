"""Recipes: typed, validated, one clear line per mistake (exit code 2), `--set` overrides."""

from __future__ import annotations

import json

import pytest
import yaml

from robalign.cli.main import main
from robalign.config import load_recipe
from robalign.config.hardware import Hardware, launcher_precision, resolve_training_args
from robalign.errors import ConfigError


@pytest.fixture
def recipe_file(tmp_path, test_model_dir, data_dir):
    def write(**changes):
        recipe = {
            "model": {"model_name_or_path": str(test_model_dir)},
            "data": {"train": {"path": str(data_dir / "prefs_uniform_0.3.jsonl")}, "eval": {"path": str(data_dir / "prefs_eval.jsonl")}},
            "method": {"name": "preference", "loss_type": "dpo", "noise_model": "lcpo"},
            "training": {"output_dir": str(tmp_path / "run"), "learning_rate": "2e-5", "beta": 1.0, "per_device_train_batch_size": 8},
            "peft": {"r": 8, "lora_alpha": 16, "target_modules": "all-linear"},
            "lcpo": {"eta_0": 0.9},
        }
        for dotted, value in changes.items():
            node = recipe
            *head, last = dotted.split("__")
            for k in head:
                node = node.setdefault(k, {})
            if value is DELETE:
                node.pop(last)
            else:
                node[last] = value
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump(recipe))
        return path

    return write


DELETE = object()


def run_cli(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err


def test_valid_recipe_loads_with_types(recipe_file):
    r = load_recipe(recipe_file())
    assert r.training["learning_rate"] == 2e-5  # YAML 1.1 reads 2e-5 as a string: coerced to float
    assert r.lcpo.eta_0 == 0.9 and r.method.noise_model == "lcpo"
    assert r.peft["target_modules"] == "all-linear"


def test_validate_ok(recipe_file, capsys):
    code = main(["validate", str(recipe_file())])
    out = capsys.readouterr().out
    assert code == 0 and "preference/dpo+lcpo" in out and "train 400 rows" in out


@pytest.mark.parametrize(
    "changes, key, expected",
    [
        ({"training__learning_rat": 1e-5}, "training.learning_rat", "did you mean 'learning_rate'"),
        ({"modle": {"x": 1}}, "modle", "did you mean 'model'"),
        ({"lcpo__eta0": 0.9}, "lcpo.eta0", "did you mean 'eta_0'"),
        ({"peft__rank": 8}, "peft.rank", "unknown key"),
        ({"training__learning_rate": "fast"}, "training.learning_rate", "expected a number, got 'fast'"),
        ({"training__num_train_epochs": [1]}, "training.num_train_epochs", "expected a number"),
        ({"lcpo__update": "yes"}, "lcpo.update", "expected true or false"),
        ({"lcpo__posterior": "magic"}, "lcpo.posterior", "expected one of 'implicit', 'reference'"),
        ({"method__loss_type": "kto"}, "method.loss_type", "expected one of dpo, ipo, simpo, cpo, cdpo, rdpo"),
        ({"lcpo__eta_0": 0.4}, "lcpo.eta_0", "(0.5, 1]"),
        ({"lcpo__eta_0": 1.2}, "lcpo.eta_0", "(0.5, 1]"),
        ({"data__train__path": "missing/prefs.jsonl"}, "data.train.path", "file not found: missing/prefs.jsonl"),
        ({"model__model_name_or_path": "./no_such_model"}, "model.model_name_or_path", "file not found"),
        ({"training__output_dir": DELETE}, "training.output_dir", "missing key"),
        ({"adversarial__epsilon": 0}, "adversarial.epsilon", "positive"),
        ({"adversarial__steps": 0}, "adversarial.steps", "at least 1"),
        # fidelity rules: options that would otherwise be ignored or silently clamped
        ({"lcpo__eta_min": 0.3}, "lcpo.eta_min", "[0.5, eta_0=0.9]"),
        ({"lcpo__eta_min": 0.95}, "lcpo.eta_min", "[0.5, eta_0=0.9]"),
        ({"lcpo__posterior": "implicit", "lcpo__init": "fit"}, "lcpo.init", "eta_0 with posterior: implicit"),
        ({"lcpo__init": "guess"}, "lcpo.init", "expected one of 'fit', 'eta_0'"),
        ({"method__loss_type": "cdpo", "training__label_smoothing": 0.1}, "method.loss_type", "cdpo and rdpo assume a fixed flip rate"),
        ({"method__loss_type": "rdpo"}, "method.loss_type", "which LCPO learns instead"),
        ({"training__cpo_alpha": 1.0}, "training.cpo_alpha", "no such setting for loss_type 'dpo': it applies to cpo and simpo only"),
        ({"training__simpo_gamma": 0.5}, "training.simpo_gamma", "applies to simpo only"),
        ({"method__loss_type": "simpo", "training__rpo_alpha": 1.0}, "training.rpo_alpha", "applies to dpo and ipo and cdpo and rdpo only"),
        ({"training__label_smoothing": 0.1}, "training.label_smoothing", "applies to cdpo and rdpo only"),
    ],
)
def test_bad_recipe_gives_one_line(recipe_file, capsys, changes, key, expected):
    path = recipe_file(**changes)
    code, err = run_cli(capsys, "validate", str(path))
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert str(path) in err and key in err and expected in err, err


def test_dataset_without_needed_columns(recipe_file, data_dir, capsys):
    path = recipe_file(data__train__path=str(data_dir / "sft.jsonl"))
    code, err = run_cli(capsys, "validate", str(path))
    assert code == 2 and len(err.splitlines()) == 1
    assert "data.train" in err and "prompt/chosen/rejected" in err and "found: completion, family, prompt" in err


def test_missing_and_malformed_files(tmp_path, capsys):
    code, err = run_cli(capsys, "validate", str(tmp_path / "nope.yaml"))
    assert code == 2 and "file not found" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    code, err = run_cli(capsys, "validate", str(bad))
    assert code == 2 and "bad.yaml: line" in err and len(err.splitlines()) == 1


def test_set_overrides(recipe_file, capsys):
    path = recipe_file()
    r = load_recipe(path, ["training.learning_rate=1e-4", "lcpo.posterior=implicit", "peft=null", "training.report_to=[tensorboard]"])
    assert r.training["learning_rate"] == 1e-4 and r.lcpo.posterior == "implicit" and r.peft is None
    assert r.training["report_to"] == ["tensorboard"]
    code, err = run_cli(capsys, "validate", str(path), "--set", "lcpo.eta_0=0.2")
    assert code == 2 and "lcpo.eta_0" in err
    with pytest.raises(ConfigError, match="key.path=value"):
        load_recipe(path, ["no_equals_sign"])


def test_hub_ids_are_only_checked_for_form(recipe_file):
    r = load_recipe(recipe_file(data__train__path="HuggingFaceH4/ultrafeedback_binarized", model__model_name_or_path="meta-llama/Meta-Llama-3-8B-Instruct"))
    assert r.data.train.path == "HuggingFaceH4/ultrafeedback_binarized"


def test_save_to_disk_and_parquet_datasets(recipe_file, data_dir, tmp_path, capsys):
    import datasets

    ds = datasets.load_dataset("json", data_files=str(data_dir / "prefs_uniform_0.3.jsonl"), split="train")
    ds.to_parquet(str(tmp_path / "prefs.parquet"))
    datasets.DatasetDict({"train": ds, "test": ds.select(range(10))}).save_to_disk(str(tmp_path / "dd"))
    for changes in ({"data__train__path": str(tmp_path / "prefs.parquet")}, {"data__train__path": str(tmp_path / "dd"), "data__eval__path": str(tmp_path / "dd"), "data__eval__split": "test"}):
        assert main(["validate", str(recipe_file(**changes))]) == 0
    code, err = run_cli(capsys, "validate", str(recipe_file(data__train__path=str(tmp_path / "dd"), data__train__split="dev")))
    assert code == 2 and "data.train.split" in err and "['test', 'train']" in err


def test_hardware_resolution_keeps_explicit_values():
    cpu = Hardware(cuda=False, bf16_supported=False, cpu_fast_bf16=False)
    gpu = Hardware(cuda=True, bf16_supported=True, cpu_fast_bf16=False)
    assert resolve_training_args({}, cpu) == {"bf16": False, "fp16": False, "gradient_checkpointing": False, "use_cpu": True}
    assert resolve_training_args({}, gpu)["bf16"] is True and resolve_training_args({}, gpu)["gradient_checkpointing"] is True
    assert resolve_training_args({"gradient_checkpointing": True}, cpu)["gradient_checkpointing"] is True
    assert json.dumps(resolve_training_args({"fp16": True}, gpu)) == json.dumps({"fp16": True, "bf16": False, "gradient_checkpointing": True})
    # accelerate launch's mixed_precision (its config file) wins where the recipe is silent: DeepSpeed
    # refuses to start when its bf16 and the trainer's disagree; the recipe still wins over both
    assert resolve_training_args({}, cpu, "bf16")["bf16"] is True
    assert resolve_training_args({}, gpu, "no")["bf16"] is False
    assert resolve_training_args({}, gpu, "fp16")["fp16"] is True and resolve_training_args({}, gpu, "fp16")["bf16"] is False
    assert resolve_training_args({"bf16": False}, cpu, "bf16")["bf16"] is False
    assert launcher_precision({"ACCELERATE_MIXED_PRECISION": "BF16"}) == "bf16" and launcher_precision({}) is None
