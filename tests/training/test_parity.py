"""noise_model: none reproduces TRL's own trainers on the same batch (real TRL, test-size model)."""

from __future__ import annotations

import math

import pytest
import torch

from tests.training.conftest import base_args, make_recipe, perturbed_model

DPO_CASES = [("dpo", "sigmoid", 0.0), ("ipo", "ipo", 0.0), ("rdpo", "robust", 0.2)]


def _ours(test_model_dir, tmp_path, pref_dataset, loss_type, noise_model="none", beta=0.5, eps=0.0, **extra):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from robalign.config.training import PreferenceConfig, config_from_recipe
    from robalign.trainers.preference import PreferenceTrainer

    lcpo = extra.pop("lcpo", {})
    recipe = make_recipe(test_model_dir, loss_type, noise_model, **lcpo)
    args = config_from_recipe(PreferenceConfig, recipe, base_args(tmp_path / f"ours-{loss_type}", beta=beta, label_smoothing=eps, **extra))
    return PreferenceTrainer(model=perturbed_model(test_model_dir), ref_model=AutoModelForCausalLM.from_pretrained(test_model_dir),
                             args=args, train_dataset=pref_dataset, processing_class=AutoTokenizer.from_pretrained(test_model_dir))


def _loss(trainer, n=8):
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(n)])
    trainer.model.eval()
    with torch.no_grad():
        return trainer.compute_loss(trainer.model, batch).item(), batch


@pytest.mark.parametrize("ours,trl_name,eps", DPO_CASES)
def test_dpo_family_matches_trl_dpotrainer(test_model_dir, tmp_path, pref_dataset, ours, trl_name, eps):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    trl = DPOTrainer(model=perturbed_model(test_model_dir), ref_model=AutoModelForCausalLM.from_pretrained(test_model_dir),
                     args=DPOConfig(**base_args(tmp_path / "trl", beta=0.5, loss_type=[trl_name], label_smoothing=eps)),
                     train_dataset=pref_dataset, processing_class=AutoTokenizer.from_pretrained(test_model_dir))
    mine = _ours(test_model_dir, tmp_path, pref_dataset, ours, eps=eps)
    trl_loss, trl_batch = _loss(trl)
    our_loss, our_batch = _loss(mine)
    assert torch.equal(trl_batch["input_ids"], our_batch["input_ids"])
    assert abs(trl_loss) > 1e-3  # a non-trivial value: the policy differs from the reference
    assert our_loss == pytest.approx(trl_loss, abs=1e-5)


@pytest.mark.parametrize("ours,trl_name", [("dpo", "sigmoid"), ("ipo", "ipo")])
def test_rpo_alpha_matches_trl_sft_loss_weight(test_model_dir, tmp_path, pref_dataset, ours, trl_name):
    """rpo_alpha is TRL 1.x's loss_type [<loss>, sft] with loss_weights [1, rpo_alpha]: the same number."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    trl = DPOTrainer(model=perturbed_model(test_model_dir), ref_model=AutoModelForCausalLM.from_pretrained(test_model_dir),
                     args=DPOConfig(**base_args(tmp_path / "trl", beta=0.5, loss_type=[trl_name, "sft"], loss_weights=[1.0, 0.7])),
                     train_dataset=pref_dataset, processing_class=AutoTokenizer.from_pretrained(test_model_dir))
    mine = _ours(test_model_dir, tmp_path, pref_dataset, ours, rpo_alpha=0.7)
    plain = _ours(test_model_dir, tmp_path, pref_dataset, ours)
    trl_loss, _ = _loss(trl)
    our_loss, _ = _loss(mine)
    assert our_loss == pytest.approx(trl_loss, abs=1e-5)
    assert our_loss - _loss(plain)[0] > 0.1  # the NLL term is really there


@pytest.mark.parametrize("ours,cpo_alpha", [("simpo", 0.0), ("simpo", 1.0), ("cpo", 1.0), ("cpo", None)])
def test_simpo_and_cpo_match_trl_cpotrainer(test_model_dir, tmp_path, pref_dataset, ours, cpo_alpha):
    from transformers import AutoTokenizer
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    beta, gamma = (2.0, 0.5) if ours == "simpo" else (0.1, 0.0)
    # None: robalign's default (cpo: 1.0, TRL's default too); simpo 1.0 is TRL's CPO-SimPO
    cfg = base_args(tmp_path / "cpo", beta=beta, loss_type="simpo" if ours == "simpo" else "sigmoid",
                    cpo_alpha=1.0 if cpo_alpha is None else cpo_alpha, simpo_gamma=gamma or 0.5)
    tok = AutoTokenizer.from_pretrained(test_model_dir)
    trl = CPOTrainer(model=perturbed_model(test_model_dir), args=CPOConfig(**cfg), train_dataset=pref_dataset, processing_class=tok)
    batch = trl.data_collator([trl.train_dataset[i] for i in range(8)])
    trl.model.eval()
    with torch.no_grad():
        trl_loss, _ = trl.get_batch_loss_metrics(trl.model, batch)
    # CPOTrainer tokenises differently (it appends an extra eos): feed its exact tokens to our trainer.
    cat = trl.concatenated_inputs(batch, is_encoder_decoder=False, padding_value=tok.pad_token_id)
    ours_batch = {"input_ids": cat["concatenated_input_ids"], "attention_mask": cat["concatenated_attention_mask"],
                  "completion_mask": (cat["concatenated_labels"] != -100).long()}
    alpha = {} if cpo_alpha is None else {"cpo_alpha": cpo_alpha}
    mine = _ours(test_model_dir, tmp_path, pref_dataset, ours, beta=beta, simpo_gamma=gamma, **alpha)
    mine.model.eval()
    with torch.no_grad():
        our_loss = mine.compute_loss(mine.model, ours_batch).item()
    assert abs(trl_loss.item()) > 1e-3
    assert our_loss == pytest.approx(trl_loss.item(), abs=1e-5)


@pytest.mark.parametrize("loss_type,extra", [("dpo", {}), ("ipo", {}), ("simpo", {}), ("simpo", {"cpo_alpha": 1.0}),
                                             ("cpo", {}), ("cpo", {"cpo_alpha": 0.0})])
def test_lcpo_reweight_with_eta_one_equals_the_base_loss(test_model_dir, tmp_path, pref_dataset, loss_type, extra):
    """w = 1 for every pair: the preference term and the NLL term (weighted by w) are the plain loss."""
    plain, _ = _loss(_ours(test_model_dir, tmp_path, pref_dataset, loss_type, **extra))
    lcpo, _ = _loss(_ours(test_model_dir, tmp_path, pref_dataset, loss_type, "lcpo", **extra,
                          lcpo={"eta_0": 1.0, "posterior": "implicit", "m_step": "reweight", "update": False}))
    assert lcpo == pytest.approx(plain, abs=1e-5)


@pytest.mark.parametrize("loss_type,alpha", [("dpo", 0.0), ("cpo", 0.0), ("cpo", 1.0), ("simpo", 1.0)])
def test_lcpo_soft_label_with_eta_one_is_the_link_sigmoid_loss(test_model_dir, tmp_path, pref_dataset, loss_type, alpha):
    """The paper's M-step at eta = 1: -log sigmoid(z) of the link of the whole pair loss, NLL term inside it
    (for cpo: z = (beta + cpo_alpha) * d); with cpo_alpha = 0 that is the plain sigmoid loss."""
    from robalign.losses import preference_logits

    kw = {"cpo_alpha": alpha} if loss_type != "dpo" else {}
    trainer = _ours(test_model_dir, tmp_path, pref_dataset, loss_type, "lcpo", **kw,
                    lcpo={"eta_0": 1.0, "posterior": "implicit", "m_step": "soft_label", "update": False})
    lcpo, batch = _loss(trainer)
    with torch.no_grad():
        pol = trainer.policy_logps(trainer.model, batch)
        ref_c, ref_r = trainer.reference_logps(batch)
        z = preference_logits(loss_type, pol["chosen_logps"], pol["rejected_logps"], ref_c, ref_r, beta=trainer.beta,
                              gamma=trainer.gamma, chosen_lengths=pol["chosen_lengths"], rejected_lengths=pol["rejected_lengths"],
                              cpo_alpha=alpha)
    assert lcpo == pytest.approx(-torch.nn.functional.logsigmoid(z).mean().item(), abs=1e-5)
    if alpha == 0.0:
        plain, _ = _loss(_ours(test_model_dir, tmp_path, pref_dataset, loss_type, **kw))
        assert lcpo == pytest.approx(plain, abs=1e-5)


@pytest.mark.parametrize("loss_type,beta,nll_key,alpha", [("cpo", 0.1, "cpo_alpha", 1.0), ("dpo", 0.5, "rpo_alpha", 0.7)])
def test_lcpo_weights_the_nll_term(test_model_dir, tmp_path, pref_dataset, loss_type, beta, nll_key, alpha):
    """Under LCPO a pair believed flipped no longer pulls up its "chosen" answer: the NLL term is w-weighted.
    cpo's cpo_alpha is part of the link the posterior judges; dpo's rpo_alpha (RPO) stays outside it."""
    from robalign.losses import base_loss, cpo_nll, get_loss, preference_logits

    trainer = _ours(test_model_dir, tmp_path, pref_dataset, loss_type, "lcpo", beta=beta, **{nll_key: alpha},
                    lcpo={"eta_0": 0.6, "posterior": "implicit", "m_step": "reweight", "update": False})
    loss, batch = _loss(trainer)
    with torch.no_grad():
        pol = trainer.policy_logps(trainer.model, batch)
        cl, rl, nc = pol["chosen_logps"], pol["rejected_logps"], pol["chosen_lengths"]
        ref_c, ref_r = trainer.reference_logps(batch)  # (None, None) for cpo
        in_link = get_loss(loss_type).nll_in_link
        link = preference_logits(loss_type, cl, rl, ref_c, ref_r, beta=beta, cpo_alpha=alpha if in_link else 0.0)
        w = torch.sigmoid(link + math.log(0.6 / 0.4))
        pref = (w * base_loss(loss_type, cl, rl, ref_c, ref_r, beta=beta)).mean()
        weighted, unweighted = pref + alpha * cpo_nll(cl, nc, w), pref + alpha * cpo_nll(cl, nc)
    assert w.min() < 0.9  # some pairs are suspected flips, so the two readings differ
    assert loss == pytest.approx(weighted.item(), abs=1e-5)
    assert abs(weighted.item() - unweighted.item()) > 1e-3


def test_gradients_reach_the_policy_only(test_model_dir, tmp_path, pref_dataset):
    trainer = _ours(test_model_dir, tmp_path, pref_dataset, "dpo", "lcpo", lcpo={"eta_0": 0.7, "posterior": "implicit"})
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(8)])
    trainer.model.train()
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.model.parameters())
    assert all(p.grad is None for p in trainer.ref_model.parameters())
