"""The adversarial loss functions against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from robalign.losses.adversarial import (
    away_loss, floor_logps, cadv_ipo_loss as ipo_loss, mean_logps, per_token_logps, sft_loss, toward_loss, ul_loss,
)


def test_per_token_logps_shift_and_mask():
    logits = torch.log(torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [1 / 3, 1 / 3, 1 / 3]]]))  # (1, 3, 3)
    labels = torch.tensor([[-100, 1, 2]])  # predict 1 at t=0, 2 at t=1
    lp, m = per_token_logps(logits, labels)
    torch.testing.assert_close(lp, torch.tensor([[math.log(0.25), math.log(0.1)]]))
    torch.testing.assert_close(m, torch.tensor([[1.0, 1.0]]))
    lp, m = per_token_logps(logits, torch.tensor([[-100, -100, 2]]))
    assert m.tolist() == [[0.0, 1.0]] and lp[0, 0] == 0


def test_away_loss_is_a_sequence_hinge():
    lp = torch.tensor([[-1.0, -3.0, -7.0], [-6.0, -8.0, 0.0]])
    m = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])  # third token masked
    # row 0: CE = 2 -> 5 - 2 = 3; row 1: CE = 7 >= 5 -> 0
    torch.testing.assert_close(away_loss(lp, m, 5.0), torch.tensor([3.0, 0.0]))
    lp.requires_grad_(True)
    away_loss(lp, m, 5.0).sum().backward()
    assert lp.grad.tolist() == [[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]]  # no push once the target is unlikely


def test_toward_loss_stops_at_cutoff():
    m = torch.ones(2, 2)
    lp = torch.tensor([[-0.2, -0.4], [-2.0, -1.0]])  # CE 0.3 and 1.5
    torch.testing.assert_close(toward_loss(lp, m, 0.5), torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(sft_loss(lp, m), torch.tensor([0.3, 1.5]))


def test_ul_loss_weights():
    lp_t, lp_r, m = torch.tensor([[-1.0]]), torch.tensor([[-2.0]]), torch.ones(1, 1)
    got = ul_loss(lp_t, m, lp_r, m, away_cutoff=5.0, toward_cutoff=0.5, away_weight=0.25, toward_weight=2.0)
    assert got.item() == pytest.approx(0.25 * 4.0 + 2.0 * 1.5)  # away: 5 - CE 1 = 4; toward: CE 2 - 0.5


def test_ipo_loss_hand_computed():
    c, r, rc, rr = torch.tensor([-1.0]), torch.tensor([-3.0]), torch.tensor([-2.0]), torch.tensor([-1.0])
    # h = (c - rc) - (r - rr) = 1 - (-2) = 3
    assert ipo_loss(c, r, rc, rr, beta=0.25).item() == pytest.approx((3 - 2) ** 2)
    assert ipo_loss(c, r, rc, rr, beta=0.5).item() == pytest.approx((3 - 1) ** 2)
    # the reference code's bug (reference log-probs of chosen/rejected swapped): h = 0 - (-1) = 1
    assert ipo_loss(c, r, rr, rc, beta=0.5).item() == pytest.approx(0.0)


def test_floor_and_mean():
    lp = torch.tensor([[-1.0, -9.0]])
    m = torch.ones(1, 2)
    torch.testing.assert_close(floor_logps(lp, m, -5.0), torch.tensor([[-1.0, -5.0]]))
    assert floor_logps(lp, m, None) is lp
    assert mean_logps(lp, m).item() == pytest.approx(-5.0)


def test_batch_cutoff_scope_is_the_reference_codes_hinge():
    """cutoff_scope batch: one hinge on the batch's token-mean CE, as the reference code's `outputs.loss`."""
    lp = torch.tensor([[-1.0, -3.0, -7.0], [-6.0, -8.0, 0.0]])
    m = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    # token-mean CE over the batch: (1 + 3 + 6 + 8) / 4 = 4.5 -> away 5 - 4.5 = 0.5 for every row
    torch.testing.assert_close(away_loss(lp, m, 5.0, "batch"), torch.tensor([0.5, 0.5]))
    lp.requires_grad_(True)
    away_loss(lp, m, 5.0, "batch").mean().backward()
    # unlike the per-example hinge, the row already past the cutoff is still pushed (the batch is not)
    assert lp.grad[1, :2].abs().sum() > 0
    torch.testing.assert_close(toward_loss(lp.detach(), m, 0.5, "batch"), torch.tensor([4.0, 4.0]))
    with pytest.raises(ValueError, match="cutoff scope"):
        away_loss(lp, m, 5.0, "token")


def test_zero_floor_rule_is_the_reference_codes():
    lp = torch.tensor([[-1.0, -9.0, -2.0]])
    m = torch.tensor([[1.0, 1.0, 0.0]])
    torch.testing.assert_close(floor_logps(lp, m, -5.0, "zero"), torch.tensor([[-1.0, 0.0, 0.0]]))
    torch.testing.assert_close(floor_logps(lp, m, -5.0, "clamp"), torch.tensor([[-1.0, -5.0, 0.0]]))
