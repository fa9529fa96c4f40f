"""LCPO on a reference whose margins carry no signal: a warning and the implicit posterior,
never every pair's weight silently halved."""

from __future__ import annotations

import pytest
import torch

from robalign.noise import fit_reliability
from robalign.noise.em import is_uninformative


def test_margins_without_signal_are_recognised():
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(2000, generator=g, dtype=torch.float64)  # margins independent of the labels
    assert is_uninformative(fit_reliability(noise, 0.9))
    flipped = torch.rand(2000, generator=g) < 0.3  # a reference that sees the truth, 30% of labels flipped
    informative = torch.where(flipped, -1.0, 1.0).double() * (2.0 + noise.abs())
    fit = fit_reliability(informative, 0.9)
    assert not is_uninformative(fit) and fit.eta.item() == pytest.approx(0.7, abs=0.03)


def test_trainer_falls_back_to_the_implicit_posterior(test_model_dir, data_dir, tmp_path, capsys):
    """Every pair appears in both orders, so no reference margin can say which label is right
    (margins d and -d for the two copies): the EM must end at the floor on any CPU."""
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from robalign.data.loading import to_conversational
    from robalign.config.training import PreferenceConfig, config_from_recipe
    from robalign.trainers.preference import PreferenceTrainer
    from tests.training.conftest import base_args, make_recipe

    ds = datasets.load_dataset("json", data_files=str(data_dir / "prefs_uniform_0.3.jsonl"), split="train").select(range(32))
    swapped = ds.rename_columns({"chosen": "rejected", "rejected": "chosen"}).map(lambda r: {"label_flipped": not r["label_flipped"]})
    ds = datasets.concatenate_datasets([ds, swapped.select_columns(ds.column_names)])
    ds = to_conversational(ds.remove_columns([c for c in ds.column_names if c not in ("prompt", "chosen", "rejected", "label_flipped")]))
    recipe = make_recipe(test_model_dir, "dpo", "lcpo", posterior="reference", eta_0=0.9)
    trainer = PreferenceTrainer(
        model=AutoModelForCausalLM.from_pretrained(test_model_dir), processing_class=AutoTokenizer.from_pretrained(test_model_dir),
        args=config_from_recipe(PreferenceConfig, recipe, base_args(tmp_path / "out", max_steps=1, save_strategy="no",
                                                                    precompute_ref_batch_size=64)),
        train_dataset=ds)
    err = capsys.readouterr().err
    assert "falling back to lcpo.posterior=implicit" in err and len([x for x in err.splitlines() if "warning" in x]) == 1
    assert trainer.lcpo_args.posterior == "implicit" and trainer.lcpo.eta.item() == 0.9
    assert recipe.lcpo.posterior == "reference"  # the user's recipe (and resolved_recipe.yaml) is not rewritten
