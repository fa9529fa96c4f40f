"""LCPO recovers a known flip rate (posterior: reference) on a model that has learned the tasks.

The untrained test model's margins carry no information, so a module fixture first runs the
real SFT entry point on the test-size model (250 steps). Measured on this setup (seed 0, 400
pairs, 30% uniform flips): EM eta 0.638 (true 0.70), posterior AUC 0.864; on the demo-size SFT
model the same fit gives 0.708 (bench_lcpo_recovery.py). Tolerance 0.1 covers the weaker model.
"""

from __future__ import annotations

import pytest

SFT = """
model:
  model_name_or_path: {model}
data:
  train:
    path: {data}/sft.jsonl
method:
  name: sft
training:
  output_dir: {out}
  seed: 0
  learning_rate: 3.0e-3
  lr_scheduler_type: cosine
  warmup_steps: 10
  per_device_train_batch_size: 32
  max_steps: 250
  logging_steps: 50
  save_strategy: "no"
  report_to: []
  max_length: 64
"""

TRUE_ETA, TOL = 0.7, 0.1


@pytest.fixture(scope="module")
def sft_model(tmp_path_factory, test_model_dir, data_dir):
    from robalign.train import main

    root = tmp_path_factory.mktemp("sft")
    recipe = root / "sft.yaml"
    recipe.write_text(SFT.format(model=test_model_dir, data=data_dir, out=root / "out"))
    assert main([str(recipe)]) == 0
    return root / "out"


@pytest.mark.slow
def test_reference_posterior_recovers_the_flip_rate(sft_model, data_dir, tmp_path):
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from robalign.data.loading import to_conversational
    from robalign.trainers.config import PreferenceConfig
    from robalign.trainers.preference import PreferenceTrainer
    from tests.training.conftest import base_args, make_recipe

    ds = datasets.load_dataset("json", data_files=str(data_dir / "prefs_uniform_0.3.jsonl"), split="train")
    ds = to_conversational(ds.remove_columns([c for c in ds.column_names if c not in ("prompt", "chosen", "rejected", "label_flipped")]))
    trainer = PreferenceTrainer(
        model=AutoModelForCausalLM.from_pretrained(sft_model), processing_class=AutoTokenizer.from_pretrained(sft_model),
        args=PreferenceConfig(**base_args(tmp_path / "out", max_steps=10, learning_rate=1e-5, beta=1.0, logging_steps=5,
                                          save_strategy="no", precompute_ref_batch_size=100)),
        train_dataset=ds, recipe=make_recipe(sft_model, "dpo", "lcpo", posterior="reference", m_step="reweight"))
    fit = trainer.lcpo_fit
    assert fit["eta"][0] == pytest.approx(TRUE_ETA, abs=TOL)
    assert fit["weight_auc"] > 0.8
    trainer.train()
    assert trainer.lcpo.eta.item() == pytest.approx(TRUE_ETA, abs=TOL)  # online updates keep it there
