"""Flat TRL / alignment-handbook configs: read as recipes (mapped onto the blocks, shown by
`validate --print-recipe`), written out by `robalign convert`, or refused with one line."""

from __future__ import annotations

import json

import pytest
import yaml

from robalign.cli.main import main


def _prefs(path, n, tag):
    rows = [{"prompt": f"{tag} {i}", "chosen": "a", "rejected": "b", "source": tag, "score_chosen": 5.0} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _flat(tmp_path, model, **over):
    """A TRL `trl dpo --config` / alignment-handbook DPO recipe: one flat mapping."""
    cfg = {
        "model_name_or_path": str(model), "torch_dtype": "float32",
        "dataset_mixture": {"datasets": [
            {"id": _prefs(tmp_path / "a.jsonl", 10, "a"), "split": "train", "columns": ["prompt", "chosen", "rejected"], "weight": 0.5},
            {"id": _prefs(tmp_path / "b.jsonl", 4, "b"), "columns": ["prompt", "chosen", "rejected"]},
        ], "seed": 42},
        "loss_type": "sigmoid", "beta": 0.05, "learning_rate": 5.0e-6, "per_device_train_batch_size": 2, "max_steps": 1,
        "use_peft": True, "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.05, "lora_target_modules": ["q_proj", "v_proj"],
        "output_dir": str(tmp_path / "run"), "report_to": [], "bf16": False, "logging_steps": 1,
    }
    cfg.update(over)
    f = tmp_path / "trl_dpo.yaml"
    f.write_text(yaml.safe_dump(cfg))
    return f


def test_flat_trl_config_is_mapped_onto_the_blocks(tmp_path, test_model_dir, capsys):
    f = _flat(tmp_path, test_model_dir)
    assert main(["validate", str(f), "--print-recipe"]) == 0
    out = capsys.readouterr().out
    printed = yaml.safe_load(out[: out.rindex("ok: ")])
    assert printed["model"]["model_name_or_path"] == str(test_model_dir) and printed["model"]["torch_dtype"] == "float32"
    assert printed["method"] == {"name": "preference", "loss_type": "dpo", "noise_model": "none"}
    assert printed["peft"] == {"r": 4, "lora_alpha": 8, "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"]}
    assert printed["training"]["beta"] == 0.05 and "loss_type" not in printed["training"]
    mix = printed["data"]["train"]
    assert mix["path"] is None and mix["seed"] == 42 and [m["weight"] for m in mix["mixture"]] == [0.5, 1.0]
    assert "preference/dpo, LoRA r=4" in out and "train 9 rows" in out  # 5 of a's 10 rows + all 4 of b's

    from robalign.config import load_recipe
    from robalign.trainers.data import load_split

    ds = load_split(load_recipe(str(f)), "train")
    assert sorted(ds.column_names) == ["chosen", "prompt", "rejected"]  # `columns` dropped source and score_chosen
    assert sum(p[0]["content"].startswith("a ") for p in ds["prompt"]) == 5


@pytest.mark.parametrize("loss,extra,expected", [("robust", {"label_smoothing": 0.1}, "rdpo"), ("sigmoid", {"label_smoothing": 0.1}, "cdpo"),
                                                 ("ipo", {}, "ipo")])
def test_trl_loss_types_map(tmp_path, test_model_dir, loss, extra, expected):
    from robalign.config import load_recipe

    f = _flat(tmp_path, test_model_dir, loss_type=loss, **extra)
    assert load_recipe(str(f)).method.loss_type == expected


def test_trl_sft_loss_weight_is_rpo_alpha(tmp_path, test_model_dir):
    from robalign.config import load_recipe

    recipe = load_recipe(str(_flat(tmp_path, test_model_dir, loss_type=["sigmoid", "sft"], loss_weights=[1.0, 0.5])))
    assert recipe.method.loss_type == "dpo" and recipe.training["rpo_alpha"] == 0.5


@pytest.mark.parametrize(
    "over,key,needle",
    [
        ({"loss_type": "hinge"}, "loss_type", "sigmoid (-> dpo), ipo (-> ipo), robust (-> rdpo)"),
        ({"loss_type": ["sigmoid", "sft"], "loss_weights": [2.0, 1.0]}, "loss_weights", "[1.0, a] beside loss_type [sigmoid, sft]"),
        ({"chat_template": "{{ x }}"}, "chat_template", "the tokenizer's own chat template"),
        ({"load_in_4bit": True}, "load_in_4bit", "quantised training is not implemented"),
        ({"preprocessing_num_workers": 12}, "preprocessing_num_workers", "robalign convert"),
        ({"use_peft": False}, "lora_", "use_peft: true beside LoRA settings"),
        ({"dataset_name": "org/x"}, "dataset_mixture", "one source of training data"),
        ({"warmup_ration": 0.1}, "training.warmup_ration", "unknown key"),
        ({"dataset_mixture": {"datasets": [{"id": "x.jsonl", "weight": 2}]}}, "mixture[0].weight", "(0, 1]"),
    ],
)
def test_flat_config_mistakes_are_one_line(tmp_path, test_model_dir, capsys, over, key, needle):
    f = _flat(tmp_path, test_model_dir, **over)
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and key in err and needle in err, err


def test_convert_writes_a_recipe_that_validates(tmp_path, test_model_dir, capsys):
    f = _flat(tmp_path, test_model_dir, preprocessing_num_workers=12, loss_type="robust", label_smoothing=0.2)
    out = tmp_path / "recipe.yaml"
    assert main(["convert", str(f), "--out", str(out)]) == 0
    text = out.read_text()
    assert "# dropped preprocessing_num_workers" in text
    recipe = yaml.safe_load(text)
    assert set(recipe) == {"model", "data", "method", "training", "peft"} and recipe["method"]["loss_type"] == "rdpo"
    capsys.readouterr()
    assert main(["validate", str(out)]) == 0 and "preference/rdpo, LoRA r=4" in capsys.readouterr().out
    assert main(["convert", str(f), "--out", str(out)]) == 2  # never overwrites
    assert "file exists" in capsys.readouterr().err
    assert main(["convert", str(out)]) == 2
    assert "already a robalign recipe" in capsys.readouterr().err


def test_old_handbook_dataset_mixer_with_splits(tmp_path, test_model_dir):
    from robalign.config import load_recipe

    a = _prefs(tmp_path / "a.jsonl", 10, "a")
    f = _flat(tmp_path, test_model_dir, dataset_mixture=None)
    cfg = yaml.safe_load(f.read_text())
    cfg.pop("dataset_mixture")
    cfg.update(dataset_mixer={a: 0.3}, dataset_splits=["train"])
    f.write_text(yaml.safe_dump(cfg))
    r = load_recipe(str(f))
    assert [(m.path, m.split, m.weight) for m in r.data.train.mixture] == [(a, "train", 0.3)]
