"""Pairwise preference links and base losses as small pure tensor functions.

Every method is written through one logit z with p = sigmoid(z) = P(the observed order
chosen > rejected is right under the model), so that flipping a pair negates z. With the
policy's summed log-probs pi_w, pi_l, the reference's r_w, r_l, response lengths n_w, n_l:

    h = (pi_w - r_w) - (pi_l - r_l)                    reference-normalised margin
    d = pi_w - pi_l                                    raw policy margin (no reference)
    dpo, cdpo, rdpo:  z = beta * h                     (DPO eq. 7)
    ipo:              z = 2 * hbar / beta              hbar = h with each side divided by its length
                                                       when lengths are given (TRL's normalised IPO)
    simpo:            m = beta * (pi_w / n_w - pi_l / n_l)
                      z = log sigmoid(m - gamma) - log sigmoid(-m - gamma)   (the two-order
                      normalisation sigmoid(m-g) / (sigmoid(m-g) + sigmoid(-m-g)) as a logit)
    cpo:              z = (beta + cpo_alpha) * d       (CPO eq. 3 with its NLL term, see below)

CPO's and CPO-SimPO's per-pair loss includes cpo_alpha times the NLL of the chosen response,
so the link of the whole loss, p = sigmoid(L(flipped pair) - L(observed pair)) (the LCPO paper's
general link), adds cpo_alpha * d for cpo (summed log-probs) and cpo_alpha * (pi_w / n_w -
pi_l / n_l) for simpo (per-token, as SimPO's margin). With cpo_alpha = 0 the link is the
preference term's own logit, which is also what the base losses below take.

The base losses are the observed-label losses of each paper, computed from the same pieces
(so that `noise_model: none` matches TRL's DPOTrainer / CPOTrainer exactly):

    dpo    -log sigmoid(z)
    cdpo   (1 - eps) * -log sigmoid(z) + eps * -log sigmoid(-z)                  (label smoothing)
    rdpo   [(1 - eps) * -log sigmoid(z) - eps * -log sigmoid(-z)] / (1 - 2 eps)  (Chowdhury et al. 2024)
    ipo    (hbar - 1 / (2 beta))^2                                               (IPO eq. 17)
    simpo  -log sigmoid(m - gamma)                                               (SimPO eq. 6)
    cpo    -log sigmoid(beta * d)   (+ cpo_alpha * NLL of the chosen response, see `cpo_nll`;
                                     TRL's CPOTrainer adds the same term to simpo, and so does robalign)

All functions return unreduced (B,) tensors; the trainer reduces.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from robalign.errors import UserError

REFERENCE_FREE = frozenset({"simpo", "cpo"})
LENGTH_NORMALISED = frozenset({"simpo", "ipo"})
#: Losses that take TRL CPOConfig's `cpo_alpha` NLL term on the chosen response (CPOTrainer adds it to both).
NLL_TERM = frozenset({"cpo", "simpo"})


def _need(loss_type: str, **tensors) -> None:
    missing = [k for k, v in tensors.items() if v is None]
    if missing:
        raise ValueError(f"loss_type {loss_type!r} needs {', '.join(missing)}")


def reference_margin(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, chosen_lengths=None, rejected_lengths=None):
    """h = (pi_w - r_w) - (pi_l - r_l), each side divided by its length when lengths are given. (B,)"""
    chosen = chosen_logps - ref_chosen_logps
    rejected = rejected_logps - ref_rejected_logps
    if chosen_lengths is not None and rejected_lengths is not None:
        chosen = chosen / chosen_lengths.clamp(min=1)
        rejected = rejected / rejected_lengths.clamp(min=1)
    return chosen - rejected


def simpo_margin(chosen_logps, rejected_logps, chosen_lengths, rejected_lengths, beta: float):
    """m = beta * (pi_w / n_w - pi_l / n_l): SimPO's length-normalised reward margin. (B,)"""
    return beta * (chosen_logps / chosen_lengths.clamp(min=1) - rejected_logps / rejected_lengths.clamp(min=1))


def preference_logits(
    loss_type: str,
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor | None = None,
    ref_rejected_logps: torch.Tensor | None = None,
    *,
    beta: float,
    gamma: float = 0.0,
    chosen_lengths: torch.Tensor | None = None,
    rejected_lengths: torch.Tensor | None = None,
    cpo_alpha: float = 0.0,
) -> torch.Tensor:
    """Per-example logit z of "the observed order is right" (p = sigmoid(z)), shape (B,).

    Logps are summed over response tokens, lengths are response token counts. See the
    module docstring for the link of each loss_type. ``cpo_alpha`` (cpo and simpo only) adds
    the NLL term's share to the link; base losses take the link with ``cpo_alpha = 0``.
    """
    if cpo_alpha and loss_type not in NLL_TERM:
        raise ValueError(f"cpo_alpha applies to {' and '.join(sorted(NLL_TERM))}, not {loss_type!r}")
    if loss_type in ("dpo", "cdpo", "rdpo"):
        _need(loss_type, ref_chosen_logps=ref_chosen_logps, ref_rejected_logps=ref_rejected_logps)
        return beta * reference_margin(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps)
    if loss_type == "ipo":
        _need(loss_type, ref_chosen_logps=ref_chosen_logps, ref_rejected_logps=ref_rejected_logps)
        h = reference_margin(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, chosen_lengths, rejected_lengths)
        return 2.0 * h / beta
    if loss_type == "simpo":
        _need(loss_type, chosen_lengths=chosen_lengths, rejected_lengths=rejected_lengths)
        m = simpo_margin(chosen_logps, rejected_logps, chosen_lengths, rejected_lengths, beta)
        z = F.logsigmoid(m - gamma) - F.logsigmoid(-m - gamma)
        if cpo_alpha:
            z = z + simpo_margin(chosen_logps, rejected_logps, chosen_lengths, rejected_lengths, cpo_alpha)
        return z
    if loss_type == "cpo":
        return (beta + cpo_alpha) * (chosen_logps - rejected_logps)
    raise UserError(f"unknown loss_type {loss_type!r}; valid: {', '.join(LOSS_TYPES)}")


def sigmoid_loss(z: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(z): DPO (and CPO's preference term)."""
    return -F.logsigmoid(z)


def cdpo_loss(z: torch.Tensor, eps: float) -> torch.Tensor:
    """Conservative DPO / label smoothing: (1-eps) l(z) + eps l(-z), eps a fixed flip rate."""
    return (1.0 - eps) * -F.logsigmoid(z) + eps * -F.logsigmoid(-z)


def rdpo_loss(z: torch.Tensor, eps: float) -> torch.Tensor:
    """Robust DPO: [(1-eps) l(z) - eps l(-z)] / (1 - 2 eps), unbiased under flip rate eps < 0.5."""
    if not 0.0 <= eps < 0.5:
        raise ValueError(f"rdpo needs a flip rate eps in [0, 0.5), got {eps}")
    return ((1.0 - eps) * -F.logsigmoid(z) - eps * -F.logsigmoid(-z)) / (1.0 - 2.0 * eps)


def ipo_loss(hbar: torch.Tensor, beta: float) -> torch.Tensor:
    """IPO eq. 17: (hbar - 1/(2 beta))^2, beta being the paper's tau."""
    return (hbar - 1.0 / (2.0 * beta)) ** 2


def simpo_loss(m: torch.Tensor, gamma: float) -> torch.Tensor:
    """SimPO eq. 6: -log sigmoid(m - gamma)."""
    return -F.logsigmoid(m - gamma)


def cpo_nll(chosen_logps: torch.Tensor, chosen_lengths: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """CPO's behaviour-cloning term: token-mean NLL of the chosen responses over the batch (a scalar).

    ``weights`` (B,), LCPO's posteriors under the reweight M-step, scale each pair's share, so a
    pair believed flipped no longer pulls up its "chosen" answer; all ones gives TRL's term.
    """
    if weights is not None:
        chosen_logps = weights.detach().to(chosen_logps.dtype) * chosen_logps
    return -chosen_logps.sum() / chosen_lengths.sum().clamp(min=1)


def base_loss(
    loss_type: str,
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor | None = None,
    ref_rejected_logps: torch.Tensor | None = None,
    *,
    beta: float,
    gamma: float = 0.0,
    eps: float = 0.0,
    chosen_lengths: torch.Tensor | None = None,
    rejected_lengths: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
) -> torch.Tensor:
    """The observed-label loss of `loss_type`, shape (B,) (CPO's NLL term excluded: `cpo_nll`).

    Pass `z` from `preference_logits` (with ``cpo_alpha = 0``) to avoid recomputing it.
    """
    if loss_type not in BASE_LOSSES:
        raise UserError(f"unknown loss_type {loss_type!r}; valid: {', '.join(LOSS_TYPES)}")
    if loss_type == "ipo":
        _need(loss_type, ref_chosen_logps=ref_chosen_logps, ref_rejected_logps=ref_rejected_logps)
        hbar = reference_margin(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, chosen_lengths, rejected_lengths)
        return ipo_loss(hbar, beta)
    if loss_type == "simpo":
        _need(loss_type, chosen_lengths=chosen_lengths, rejected_lengths=rejected_lengths)
        return simpo_loss(simpo_margin(chosen_logps, rejected_logps, chosen_lengths, rejected_lengths, beta), gamma)
    if z is None:
        z = preference_logits(loss_type, chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=beta, gamma=gamma)
    return BASE_LOSSES[loss_type](z, eps)


# The losses that are functions of z alone (ipo and simpo use their own margin, see base_loss).
BASE_LOSSES: dict[str, Callable[[torch.Tensor, float], torch.Tensor] | None] = {
    "dpo": lambda z, eps: sigmoid_loss(z),
    "ipo": None,
    "simpo": None,
    "cpo": lambda z, eps: sigmoid_loss(z),
    "cdpo": cdpo_loss,
    "rdpo": rdpo_loss,
}
LOSS_TYPES = tuple(BASE_LOSSES)
