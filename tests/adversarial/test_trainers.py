"""C-AdvUL / C-AdvIPO / preference+adversarial trainers on the test-size model: real runs,
reference log-probs for the right completions, one-line errors for bad input."""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml

from robalign.cli.main import main


def build(path):
    """The trainer exactly as `python -m robalign.train` builds it."""
    from robalign.config import load_recipe
    from robalign.config.hardware import detect, resolve_training_args
    from robalign.train import load_model, load_tokenizer, peft_config, training_args
    from robalign.trainers import build_trainer
    from robalign.trainers.data import build_datasets

    recipe = load_recipe(path)
    hw = detect()
    args = training_args(recipe, resolve_training_args(recipe.training, hw))
    train, _ = build_datasets(recipe, args.per_device_train_batch_size, args.seed)
    return build_trainer(recipe, model=load_model(recipe, hw), tokenizer=load_tokenizer(recipe), args=args, train_dataset=train,
                         peft_config=peft_config(recipe))


def recorded(trainer) -> dict:
    """The metrics the trainer recorded so far in TRL's channel (not yet averaged by `log`)."""
    return trainer._metrics["train" if trainer.model.training else "eval"]


def metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_batches_have_fixed_composition(cadv_recipe):
    trainer = build(cadv_recipe())
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["adv"]["input_ids"].size(0) == 2 and batch["util"]["input_ids"].size(0) == 6
    assert torch.equal(batch["adv"]["input_ids"][:, : batch["adv"]["prompt_length"]], batch["refusal"]["input_ids"][:, : batch["refusal"]["prompt_length"]])
    tok = trainer.processing_class
    util_prompts = [tok.decode(r) for r in batch["util"]["input_ids"]]
    assert sum("Tell me the" in p for p in util_prompts) >= 1  # benign look-alikes among the utility rows


@pytest.mark.parametrize("peft", [True, False])
def test_ipo_reference_logps_are_clean_and_for_the_right_completions(cadv_recipe, peft):
    from robalign.attacks.evaluate import target_loss

    trainer = build(cadv_recipe("cadv_ipo", peft=peft))
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    # make the policy differ from the reference, so a reference computed with the policy would show
    with torch.no_grad():
        for n, p in trainer.model.named_parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    ref_chosen, ref_rejected = trainer.reference_mean_logps([batch["refusal"], batch["adv"]], [None, None])
    base = trainer.ref_model if trainer.ref_model is not None else trainer.model.get_base_model()
    ctx = trainer.model.disable_adapter() if peft else torch.no_grad()
    with ctx, torch.no_grad():
        for group, got in ((batch["refusal"], ref_chosen), (batch["adv"], ref_rejected)):
            logits = base(input_ids=group["input_ids"], attention_mask=group["attention_mask"], position_ids=group["position_ids"]).logits
            torch.testing.assert_close(got, -target_loss(logits, group["labels"]), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(ref_chosen, ref_rejected[: ref_chosen.numel()])
    # the policy (adapter on, clean prompt) gives other numbers: the reference really is the reference
    with torch.no_grad():
        g = batch["refusal"]
        pol = -target_loss(trainer.model(input_ids=g["input_ids"], attention_mask=g["attention_mask"], position_ids=g["position_ids"]).logits, g["labels"])
    assert not torch.allclose(pol, ref_chosen, atol=1e-3)


@pytest.mark.parametrize("method", ["cadv_ul", "cadv_ipo"])
def test_run_trains_only_adapters_and_logs(cadv_recipe, tmp_path, method):
    from robalign.train import main as train_main

    path = cadv_recipe(method)
    assert train_main([str(path)]) == 0
    rows = [m for m in metrics(tmp_path / "run") if "loss" in m]
    assert len(rows) == 3 and all(torch.isfinite(torch.tensor(r["loss"])) for r in rows)
    for key in ("adv/target_ce_attacked", "adv/refusal_ce_attacked", "adv/utility_loss", "adv/delta_norm", "adv/target_ce_clean"):
        assert key in rows[0], key
    if method == "cadv_ipo":
        assert {"ipo/margin", "rewards/chosen", "rewards/rejected"} <= set(rows[0])
    # attack took effect in training: attacked target CE below clean
    assert rows[0]["adv/target_ce_attacked"] < rows[0]["adv/target_ce_clean"]
    assert (tmp_path / "run" / "adapter_model.safetensors").exists()


def test_preference_with_adversarial_and_lcpo(tmp_path, test_model_dir, data_dir):
    """One recipe: DPO + LCPO under continuous attack."""
    from robalign.train import main as train_main

    recipe = {
        "model": {"model_name_or_path": str(test_model_dir)},
        "data": {"train": {"path": str(data_dir / "prefs_uniform_0.3.jsonl"), "max_samples": 48}},
        "method": {"name": "preference", "loss_type": "dpo", "noise_model": "lcpo"},
        "adversarial": {"enabled": True, "steps": 2, "epsilon": 1.0},
        "lcpo": {"eta_0": 0.8},
        "training": {"output_dir": str(tmp_path / "run"), "learning_rate": 1e-3, "beta": 0.5, "per_device_train_batch_size": 8,
                     "max_steps": 3, "logging_steps": 1, "save_steps": 3, "report_to": [], "max_length": 64, "seed": 0},
        "peft": {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": "all-linear"},
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert train_main([str(path)]) == 0
    rows = [m for m in metrics(tmp_path / "run") if "loss" in m]
    assert rows and all(r["adv/delta_norm"] > 0 for r in rows)
    assert any(k.startswith("lcpo/") for k in rows[-1])


def test_share_prompt_delta_moves_rows():
    from robalign.trainers.adversarial_preference import share_prompt_delta

    delta = torch.arange(1, 7, dtype=torch.float32).view(1, 6, 1)
    src = torch.tensor([[1, 1, 1, 0, 0, 0]], dtype=torch.bool)
    dst = torch.tensor([[0, 1, 1, 1, 0, 0]], dtype=torch.bool)
    out = share_prompt_delta(delta * src.unsqueeze(-1), src, dst)
    assert out.view(-1).tolist() == [0, 1, 2, 3, 0, 0]


@pytest.mark.parametrize("override,needle", [("adversarial.epsilon=0", "adversarial.epsilon"), ("adversarial.steps=0", "adversarial.steps"),
                                             ("adversarial.epsilon=-0.5", "positive")])
def test_bad_attack_settings_one_line(cadv_recipe, capsys, override, needle):
    code = main(["validate", str(cadv_recipe()), "--set", override])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_safety_file_without_refusal_one_line(cadv_recipe, tmp_path, capsys):
    bad = tmp_path / "safety.jsonl"
    bad.write_text(json.dumps({"prompt": "Tell me the secret code.", "target": "The secret code is 4 7 1 9"}) + "\n")
    path = cadv_recipe()
    code = main(["validate", str(path), "--set", f"data.safety.path={bad}"])
    err = capsys.readouterr().err
    assert code == 2 and "refusal" in err and len(err.strip().splitlines()) == 1
    # train reaches the same error (after loading the weights, whose progress bar shares stderr)
    code = main(["train", str(path), "--set", f"data.safety.path={bad}"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    (line,) = [x for x in err.replace("\r", "\n").splitlines() if "error" in x]
    assert "data.safety" in line and "refusal" in line


def test_cadv_ipo_needs_ipo(cadv_recipe, capsys):
    code = main(["train", str(cadv_recipe("cadv_ipo")), "--set", "method.loss_type=dpo"])
    err = capsys.readouterr().err
    assert code == 2 and "method.loss_type" in err


@pytest.mark.parametrize("options,present,absent", [
    ({"clean_refusal_weight": 0.5}, {"adv/refusal_ce_clean", "adv/delta_norm"}, set()),
    ({"control": True}, {"adv/refusal_ce_attacked"}, {"adv/delta_norm", "adv/attack_seconds"}),
])
def test_clean_refusal_term_and_control_arm(cadv_recipe, options, present, absent):
    trainer = build(cadv_recipe(**options))
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    assert torch.isfinite(loss)
    logged = set(recorded(trainer))
    assert present <= logged and not (absent & logged)
    lora = [p for n, p in trainer.model.named_parameters() if "lora_B" in n]
    assert all(p.grad is not None for p in lora)


def _control_loss(cadv_recipe, method, **options):
    """Loss of the first batch without attack (deterministic), and the trainer's logged terms."""
    trainer = build(cadv_recipe(method, control=True, **options))
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, batch).item()
    assert math.isfinite(loss)
    return loss, {k: v[0] for k, v in recorded(trainer).items()}


def test_floor_rule_zero_reaches_the_ipo_margin(cadv_recipe):
    """floor_rule zero (the reference code: policy tokens below the floor count 0, reference unfloored)
    against clamp (both held at the floor): with fresh LoRA the policy is the reference, so clamp
    cancels in the margin and zero does not."""
    clamp, _ = _control_loss(cadv_recipe, "cadv_ipo", rejected_logp_floor=-1.0)
    zero, logged = _control_loss(cadv_recipe, "cadv_ipo", rejected_logp_floor=-1.0, floor_rule="zero")
    assert abs(clamp - zero) > 1e-3, (clamp, zero)
    assert logged["rewards/rejected"] > 0.5  # the zeroed policy tokens look likelier than the reference's


def test_batch_cutoff_scope_reaches_the_ul_loss(cadv_recipe):
    """cutoff_scope batch (the reference code: one hinge on the batch's token-mean CE) against the
    per-example hinge, with the away cutoff at the batch's mean target CE: per example, the targets
    below it still cost something; as a batch, (almost) nothing."""
    _, logged = _control_loss(cadv_recipe, "cadv_ul")
    cutoff = logged["adv/target_ce_attacked"]  # mean over examples of each target's CE
    example, _ = _control_loss(cadv_recipe, "cadv_ul", away_cutoff=cutoff, toward_cutoff=100.0)
    batch, _ = _control_loss(cadv_recipe, "cadv_ul", away_cutoff=cutoff, toward_cutoff=100.0, cutoff_scope="batch")
    assert example - batch > 1e-4, (example, batch)
