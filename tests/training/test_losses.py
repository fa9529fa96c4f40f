"""The pure loss functions against hand-computed values, and LCPO's defining properties."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from robalign.errors import UserError
from robalign.losses import base_loss, cpo_nll, lcpo_loss, lcpo_posterior, preference_logits
from robalign.noise import ReliabilityState, fit_reliability, weight_auc

# One pair: policy/reference summed log-probs and lengths, small enough to do by hand.
PC, PR, RC, RR = torch.tensor([-4.0]), torch.tensor([-6.0]), torch.tensor([-5.0]), torch.tensor([-5.5])
NC, NR = torch.tensor([2.0]), torch.tensor([4.0])


def sig(x):
    return 1 / (1 + math.exp(-x))


def test_dpo_logit_and_loss_by_hand():
    # h = (-4 - -5) - (-6 - -5.5) = 1 + 0.5 = 1.5; z = beta h = 0.3
    z = preference_logits("dpo", PC, PR, RC, RR, beta=0.2)
    assert z.item() == pytest.approx(0.3)
    assert base_loss("dpo", PC, PR, RC, RR, beta=0.2).item() == pytest.approx(-math.log(sig(0.3)))


def test_ipo_is_length_normalised_like_trl():
    # hbar = (1 / 2) - (-0.5 / 4) = 0.625; z = 2 hbar / beta; loss = (hbar - 1/(2 beta))^2
    z = preference_logits("ipo", PC, PR, RC, RR, beta=0.5, chosen_lengths=NC, rejected_lengths=NR)
    assert z.item() == pytest.approx(2 * 0.625 / 0.5)
    loss = base_loss("ipo", PC, PR, RC, RR, beta=0.5, chosen_lengths=NC, rejected_lengths=NR)
    assert loss.item() == pytest.approx((0.625 - 1.0) ** 2)


def test_simpo_two_order_normalised_link_and_loss():
    # m = beta (pc/nc - pr/nr) = 2 (-2 + 1.5) = -1; gamma 0.5
    z = preference_logits("simpo", PC, PR, beta=2.0, gamma=0.5, chosen_lengths=NC, rejected_lengths=NR)
    a, b = sig(-1 - 0.5), sig(1 - 0.5)
    assert torch.sigmoid(z).item() == pytest.approx(a / (a + b))
    loss = base_loss("simpo", PC, PR, beta=2.0, gamma=0.5, chosen_lengths=NC, rejected_lengths=NR)
    assert loss.item() == pytest.approx(-math.log(sig(-1.5)))


def test_cpo_and_its_nll():
    z = preference_logits("cpo", PC, PR, beta=0.1)
    assert z.item() == pytest.approx(0.1 * 2.0)
    assert cpo_nll(torch.tensor([-4.0, -2.0]), torch.tensor([2.0, 2.0])).item() == pytest.approx(1.5)


def _cpo_pair_loss(pw, pl, nw, nl, beta, alpha, loss_type):
    """CPO / CPO-SimPO per-pair loss with the NLL of the chosen answer (summed for cpo, per token for simpo)."""
    if loss_type == "cpo":
        return -F.logsigmoid(beta * (pw - pl)) - alpha * pw
    m = beta * (pw / nw - pl / nl)
    return -F.logsigmoid(m - 0.5) - alpha * pw / nw


@pytest.mark.parametrize("loss_type", ["cpo", "simpo"])
@pytest.mark.parametrize("alpha", [0.0, 1.0, 0.3])
def test_cpo_link_is_the_whole_pair_loss_difference(loss_type, alpha):
    """The paper's general link: z = L(flipped pair) - L(observed pair), the NLL term included;
    for cpo that is (beta + alpha) * d."""
    beta = 0.1 if loss_type == "cpo" else 2.0
    common = dict(beta=beta, gamma=0.5, chosen_lengths=NC, rejected_lengths=NR)
    z = preference_logits(loss_type, PC, PR, cpo_alpha=alpha, **common)
    observed = _cpo_pair_loss(PC, PR, NC, NR, beta, alpha, loss_type)
    flipped = _cpo_pair_loss(PR, PC, NR, NC, beta, alpha, loss_type)
    assert z.item() == pytest.approx((flipped - observed).item(), abs=1e-6)
    if loss_type == "cpo":
        assert z.item() == pytest.approx((beta + alpha) * 2.0)
    # the base loss is the preference term alone (the NLL is added by the trainer, as TRL does)
    no_nll = _cpo_pair_loss(PC, PR, NC, NR, beta, 0.0, loss_type)
    assert base_loss(loss_type, PC, PR, **common).item() == pytest.approx(no_nll.item(), abs=1e-6)


def test_cpo_alpha_only_for_the_nll_losses():
    with pytest.raises(ValueError, match="cpo_alpha applies to cpo and simpo"):
        preference_logits("dpo", PC, PR, RC, RR, beta=0.1, cpo_alpha=1.0)


def test_weighted_nll_drops_the_share_of_a_pair_believed_flipped():
    logps, lengths = torch.tensor([-4.0, -2.0]), torch.tensor([2.0, 2.0])
    assert cpo_nll(logps, lengths, torch.ones(2)).item() == cpo_nll(logps, lengths).item()
    assert cpo_nll(logps, lengths, torch.tensor([1.0, 0.0])).item() == pytest.approx(4.0 / 4.0)  # TRL's denominator kept


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_cdpo_and_rdpo_by_hand(eps):
    z = 0.3
    cdpo = base_loss("cdpo", PC, PR, RC, RR, beta=0.2, eps=eps).item()
    rdpo = base_loss("rdpo", PC, PR, RC, RR, beta=0.2, eps=eps).item()
    l_pos, l_neg = -math.log(sig(z)), -math.log(sig(-z))
    assert cdpo == pytest.approx((1 - eps) * l_pos + eps * l_neg)
    assert rdpo == pytest.approx(((1 - eps) * l_pos - eps * l_neg) / (1 - 2 * eps))


def test_flipping_a_pair_negates_z():
    for lt in ("dpo", "ipo", "simpo", "cpo"):
        kw = dict(beta=0.7, gamma=0.3, chosen_lengths=NC, rejected_lengths=NC)
        z = preference_logits(lt, PC, PR, RC, RR, **kw)
        zf = preference_logits(lt, PR, PC, RR, RC, **kw)
        assert zf.item() == pytest.approx(-z.item(), abs=1e-6), lt


def test_unknown_loss_type_lists_the_valid_ones():
    with pytest.raises(UserError, match="valid: dpo, ipo, simpo, cpo, cdpo, rdpo"):
        preference_logits("kto", PC, PR, beta=0.1)
    with pytest.raises(UserError, match="valid:"):
        base_loss("nope", PC, PR, beta=0.1)


def test_posterior_formula():
    z = torch.tensor([-1.0, 0.0, 2.0])
    eta = 0.7
    p = torch.sigmoid(z)
    expected = p * eta / (p * eta + (1 - p) * (1 - eta))
    assert torch.allclose(lcpo_posterior(z, eta), expected, atol=1e-6)
    # a per-pair prior of 0.5 is neutral; eta = 0.5 leaves w = p
    assert torch.allclose(lcpo_posterior(z, eta, torch.full((3,), 0.5)), expected, atol=1e-6)
    assert torch.allclose(lcpo_posterior(z, 0.5), p, atol=1e-6)


def test_lcpo_with_eta_one_is_the_dpo_loss():
    torch.manual_seed(0)
    z = torch.randn(16)
    loss, w = lcpo_loss(z, 1.0)
    assert torch.allclose(w, torch.ones(16), atol=1e-5)
    assert torch.allclose(loss, -F.logsigmoid(z), atol=1e-5)


def test_no_gradient_through_the_posterior():
    z = torch.randn(8, requires_grad=True)
    loss, w = lcpo_loss(z, 0.8)
    assert not w.requires_grad
    loss.sum().backward()
    # d/dz BCE(z, w) with w constant = sigmoid(z) - w
    assert torch.allclose(z.grad, torch.sigmoid(z.detach()) - w, atol=1e-6)


def test_em_recovers_a_known_reliability():
    # margins of a calibrated model: true-order margin ~ N(3, 1.5), 25% of labels flipped.
    g = torch.Generator().manual_seed(0)
    n = 4000
    true_margin = 3 + 1.5 * torch.randn(n, generator=g)
    flipped = torch.rand(n, generator=g) < 0.25
    observed = torch.where(flipped, -true_margin, true_margin)
    fit = fit_reliability(observed, eta_0=0.9)
    assert fit.eta.item() == pytest.approx(0.75, abs=0.02)
    assert weight_auc(fit.posterior, flipped) > 0.95


def test_em_with_eta_held_fits_the_temperature_only():
    """lcpo.init: eta_0 — the reference fit keeps eta bit-exactly and still learns the link temperature."""
    g = torch.Generator().manual_seed(1)
    true_margin = 3 + 1.5 * torch.randn(2000, generator=g)
    observed = torch.where(torch.rand(2000, generator=g) < 0.25, -true_margin, true_margin)
    held = fit_reliability(observed, eta_0=0.95, fit_eta=False)
    assert held.eta.tolist() == [0.95]
    free = fit_reliability(observed, eta_0=0.95)
    assert abs(free.eta.item() - 0.95) > 0.1  # the free fit would have moved it
    assert held.temperature != 1.0 and held.log_likelihood < free.log_likelihood


def test_state_update_sums_micro_batches_and_ranks():
    s = ReliabilityState(0.9, alpha=0.5)
    s.accumulate(torch.tensor([1.0, 0.0]))
    s.accumulate(torch.tensor([1.0, 1.0]))
    s.step(lambda t: t * 2)  # two identical ranks: sums and counts double, the mean does not change
    assert s.eta.item() == pytest.approx(0.5 * 0.9 + 0.5 * 0.75)
    frozen = ReliabilityState(0.9, alpha=0.5, update=False)
    frozen.accumulate(torch.zeros(4))
    frozen.step()
    assert frozen.eta.item() == pytest.approx(0.9)


def test_per_annotator_groups_update_separately():
    s = ReliabilityState(0.8, alpha=1.0, n_groups=2, group_names=["a", "b"])
    s.accumulate(torch.tensor([1.0, 0.6, 0.6]), torch.tensor([0, 1, 1]))
    s.step()
    assert s.eta.tolist() == pytest.approx([1.0 - 1e-6, 0.6])
    assert set(s.log_metrics()) >= {"lcpo/eta/a", "lcpo/eta/b", "lcpo/mean_weight"}


def test_weight_auc_by_hand():
    w = torch.tensor([0.9, 0.8, 0.3, 0.85])
    flipped = torch.tensor([False, False, True, True])
    # clean {0.9, 0.8} vs flipped {0.3, 0.85}: pairs won 0.9>0.3, 0.9>0.85, 0.8>0.3 -> 3/4
    assert weight_auc(w, flipped) == pytest.approx(0.75)
