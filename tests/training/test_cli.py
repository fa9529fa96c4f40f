"""The entry point: one-line errors, dry runs, every recipe in the repo parses."""

from __future__ import annotations


import pytest

from tests.training.conftest import REPO

PREF = """
model:
  model_name_or_path: {model}
data:
  train:
    path: {train}
method:
  name: preference
  loss_type: {loss_type}
  noise_model: lcpo
lcpo:
  eta_0: {eta_0}
training:
  output_dir: {out}
  max_steps: 2
  report_to: []
"""


def _recipe(tmp_path, test_model_dir, data_dir, train="prefs_uniform_0.3.jsonl", loss_type="dpo", eta_0=0.9):
    path = tmp_path / "r.yaml"
    path.write_text(PREF.format(model=test_model_dir, train=data_dir / train, loss_type=loss_type, eta_0=eta_0, out=tmp_path / "out"))
    return path


def _cli(argv, capsys):
    from robalign.cli.main import main

    code = main(argv)
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize("case,needle", [
    ({"train": "sft.jsonl"}, "columns prompt/chosen/rejected"),
    ({"loss_type": "kto"}, "method.loss_type: expected one of dpo, ipo, simpo, cpo, cdpo, rdpo"),
    ({"eta_0": 0.4}, "lcpo.eta_0: expected a reliability in (0.5, 1]"),
    ({"eta_0": 1.2}, "lcpo.eta_0"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, test_model_dir, data_dir, capsys, case, needle):
    recipe = _recipe(tmp_path, test_model_dir, data_dir, **case)
    for argv in (["train", str(recipe)], ["train", str(recipe), "--dry-run"]):
        code, err = _cli(argv, capsys)
        assert code == 2
        assert len(err.splitlines()) == 1 and needle in err, err


def test_module_entry_point_exit_code(tmp_path, test_model_dir, data_dir, capsys):
    from robalign.train import main

    assert main([str(_recipe(tmp_path, test_model_dir, data_dir, loss_type="nope"))]) == 2
    assert "method.loss_type" in capsys.readouterr().err


def test_trl_loss_type_key_is_refused(tmp_path, test_model_dir, data_dir, capsys):
    recipe = _recipe(tmp_path, test_model_dir, data_dir)
    code, err = _cli(["train", str(recipe), "--set", "training.loss_type=[sigmoid]"], capsys)
    assert code == 2 and "training.loss_type" in err and "method.loss_type" in err


def test_dry_run_builds_without_weights(tmp_path, test_model_dir, data_dir, capsys):
    recipe = _recipe(tmp_path, test_model_dir, data_dir)
    code, _ = _cli(["train", str(recipe), "--dry-run"], capsys)
    assert code == 0
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


ALL_RECIPES = sorted(p for p in (REPO / "recipes").rglob("*.yaml") if "accelerate_configs" not in p.parts and not any("cadv" in x for x in p.parts))


@pytest.mark.parametrize("path", ALL_RECIPES, ids=lambda p: str(p.relative_to(REPO / "recipes")))
def test_every_recipe_parses(path, monkeypatch):
    from robalign.config import load_recipe

    monkeypatch.chdir(REPO)
    recipe = load_recipe(path.relative_to(REPO), check_paths=False)
    assert recipe.training["output_dir"]

    if "safety_sft" not in path.parts:  # recipes of this area launch themselves
        assert path.read_text().startswith("#!/usr/bin/env -S python -m robalign.train")
        assert path.stat().st_mode & 0o111, "recipes are executable (accelerate launch --no_python)"


@pytest.mark.parametrize("path", [p for p in ALL_RECIPES if "tiny" not in p.parts and p.name != "lcpo_dpo.yaml"],
                         ids=lambda p: str(p.relative_to(REPO / "recipes")))
def test_paper_scale_recipes_dry_run_offline(path, monkeypatch, capsys):
    from robalign.train import main

    monkeypatch.chdir(REPO)
    assert main([str(path.relative_to(REPO)), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: no weights loaded" in out and "PreferenceConfig" in out


def test_accelerate_configs_load():
    import yaml
    from accelerate.commands.config.config_args import load_config_from_file

    for name in ("ddp", "zero2", "zero3", "zero3_offload", "fsdp"):
        path = REPO / "recipes" / "accelerate_configs" / f"{name}.yaml"
        assert yaml.safe_load(path.read_text())["num_processes"] >= 1
        load_config_from_file(str(path))
