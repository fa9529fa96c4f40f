"""LCPO recovers a known flip rate (posterior: reference) on a model that has learned the tasks.

The untrained test model's margins carry no information, so a module fixture first runs the
real SFT entry point on the test-size model (250 steps), then keeps training (100-step rounds
at a gentler lr, up to a cap) until the model prefers the right answer to the near miss on at
least MIN_ACCURACY of the clean pairs: the test needs a reference that has learned the tasks,
not the exact outcome of one short run, which differs between CPUs (float kernels).

What is asserted, and why it holds for any such reference: the truth is the file's realised
reliability (1 - its fraction of flipped labels), not the nominal rate. On these 400 pairs the
files at nominal 0.1 / 0.2 have realised reliability 0.89 / 0.7825. Measured on 9 SFT models
(3 seeds x 250, 350, 450 steps; reference accuracy 0.665-0.78 by `_true_order_accuracy`): EM
eta 0.834-0.849 / 0.720-0.747 (a weak reference reads its own errors as flips, so eta is low
by 0.04-0.06), gap between the two 0.091-0.126, posterior AUC 0.83-0.905, online drift over
the 10 training steps 0.000-0.026, and the coin-flip test far from firing (LR statistic 36-110
against its cut 5.99). The nominal-0.3 file (realised 0.66) is not used: there the LR statistic
of these references is 8.5-21, near enough to the cut that a weaker SFT run could fall back to the
implicit posterior. On the demo-size SFT model the nominal-0.3 fit gives 0.708 (bench_lcpo_recovery.py).
"""

from __future__ import annotations

import json

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
  learning_rate: {lr}
  lr_scheduler_type: cosine
  warmup_steps: 10
  per_device_train_batch_size: 32
  max_steps: {steps}
  logging_steps: 50
  save_strategy: "no"
  report_to: []
  max_length: 64
"""

TOL = 0.1
MIN_ACCURACY = 0.65  # the untrained test model scores 0.57 (near misses are a little less likely); SFT'd ones 0.665-0.78
MORE_STEPS, MORE_LR, MAX_ROUNDS = 100, 1.0e-3, 3


def _true_order_accuracy(model_dir, pairs) -> float:
    """Fraction of clean pairs whose right answer has a higher summed log-prob (eos included) than the near miss."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from robalign.attacks.batch import encode

    tok, model = AutoTokenizer.from_pretrained(model_dir), AutoModelForCausalLM.from_pretrained(model_dir).eval()
    prompts = [p["prompt"] for p in pairs]

    @torch.no_grad()
    def summed_logps(completions):
        b = encode(tok, prompts, completions, add_eos=True)
        logp = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], position_ids=b["position_ids"]).logits[:, :-1].log_softmax(-1)
        labels = b["labels"][:, 1:]
        return (logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * (labels != -100)).sum(-1)

    margins = summed_logps([p["chosen"] for p in pairs]) - summed_logps([p["rejected"] for p in pairs])
    return float((margins > 0).float().mean())


@pytest.fixture(scope="module")
def sft_model(tmp_path_factory, test_model_dir, data_dir):
    from robalign.train import main

    root = tmp_path_factory.mktemp("sft")
    clean = [json.loads(line) for line in (data_dir / "prefs_uniform_0.0.jsonl").read_text().splitlines()]
    assert not any(p["label_flipped"] for p in clean)
    model, steps, lr, accuracies = test_model_dir, 250, 3.0e-3, []
    for round_ in range(1 + MAX_ROUNDS):
        out = root / f"round{round_}"
        recipe = root / f"round{round_}.yaml"
        recipe.write_text(SFT.format(model=model, data=data_dir, out=out, lr=lr, steps=steps))
        assert main([str(recipe)]) == 0
        model, steps, lr = out, MORE_STEPS, MORE_LR
        accuracies.append(_true_order_accuracy(model, clean))
        if accuracies[-1] >= MIN_ACCURACY:
            return model
    pytest.fail(f"SFT did not reach reference accuracy {MIN_ACCURACY} on the clean pairs within the cap: {accuracies}")


def _reference_trainer(sft_model, prefs_file, out, **lcpo):
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from robalign.data.loading import to_conversational
    from robalign.config.training import PreferenceConfig, config_from_recipe
    from robalign.trainers.preference import PreferenceTrainer
    from tests.training.conftest import base_args, make_recipe

    ds = datasets.load_dataset("json", data_files=str(prefs_file), split="train")
    ds = to_conversational(ds.remove_columns([c for c in ds.column_names if c not in ("prompt", "chosen", "rejected", "label_flipped")]))
    return PreferenceTrainer(
        model=AutoModelForCausalLM.from_pretrained(sft_model), processing_class=AutoTokenizer.from_pretrained(sft_model),
        args=config_from_recipe(PreferenceConfig, make_recipe(sft_model, "dpo", "lcpo", **{"posterior": "reference", "m_step": "reweight", **lcpo}),
                                base_args(out, max_steps=10, learning_rate=1e-5, beta=1.0, logging_steps=5, save_strategy="no",
                                          precompute_ref_batch_size=100)),
        train_dataset=ds)


@pytest.mark.slow
def test_reference_posterior_recovers_the_flip_rate(sft_model, data_dir, tmp_path):
    eta = {}
    for rate in ("0.1", "0.2"):
        trainer = _reference_trainer(sft_model, data_dir / f"prefs_uniform_{rate}.jsonl", tmp_path / rate)
        flipped = trainer.train_dataset["label_flipped"]
        truth = 1 - sum(flipped) / len(flipped)
        fit = trainer.lcpo_fit
        assert "fallback" not in fit, fit  # the reference carries signal: LCPO keeps the reference posterior
        assert fit["eta"][0] == pytest.approx(truth, abs=TOL), rate
        assert fit["weight_auc"] > 0.75, fit  # flipped pairs get clearly lower weights (chance: 0.5)
        eta[rate] = fit["eta"][0]
    assert eta["0.1"] - eta["0.2"] > 0.05  # more flips, lower reliability (the realised gap is 0.1075)
    trainer.train()  # the 0.2 file
    assert trainer.lcpo.eta.item() == pytest.approx(eta["0.2"], abs=0.05)  # online updates keep it there


@pytest.mark.slow
def test_init_eta_0_with_update_false_keeps_eta_0_exactly(sft_model, data_dir, tmp_path):
    """lcpo.init: eta_0 + update: false: the reference posterior still fits its temperature, but eta is
    eta_0 bit-exactly before and after training (the default init would fit eta ~0.8 on these pairs)."""
    trainer = _reference_trainer(sft_model, data_dir / "prefs_uniform_0.2.jsonl", tmp_path / "held",
                                 eta_0=0.95, init="eta_0", update=False)
    assert trainer.lcpo_fit["eta"] == [0.95] and "fallback" not in trainer.lcpo_fit
    assert trainer.lcpo.temperature != 1.0  # T is fitted
    trainer.train()
    assert trainer.lcpo.eta.tolist() == [0.95]
    fitted = _reference_trainer(sft_model, data_dir / "prefs_uniform_0.2.jsonl", tmp_path / "fit", eta_0=0.95, update=False)
    assert abs(fitted.lcpo_fit["eta"][0] - 0.95) > 0.08  # init: fit (the default) moves it: the choice matters
