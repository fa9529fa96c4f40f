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

import torch
import torch.nn.functional as F

from robalign.losses.registry import LOSSES, HyperParameter, LossParams, LossSpec, PairLogps, get_loss, register_loss


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


# ----- the registry entries: link z and base loss of each loss_type ---------------------------
def _dpo_link(p: PairLogps, hp: LossParams) -> torch.Tensor:
    p.need("dpo", "ref_chosen_logps", "ref_rejected_logps")
    return hp.beta * reference_margin(p.chosen_logps, p.rejected_logps, p.ref_chosen_logps, p.ref_rejected_logps)


def _ipo_hbar(p: PairLogps) -> torch.Tensor:
    p.need("ipo", "ref_chosen_logps", "ref_rejected_logps")
    return reference_margin(p.chosen_logps, p.rejected_logps, p.ref_chosen_logps, p.ref_rejected_logps,
                            p.chosen_lengths, p.rejected_lengths)


def _simpo_m(p: PairLogps, beta: float) -> torch.Tensor:
    p.need("simpo", "chosen_lengths", "rejected_lengths")
    return simpo_margin(p.chosen_logps, p.rejected_logps, p.chosen_lengths, p.rejected_lengths, beta)


def _simpo_link(p: PairLogps, hp: LossParams) -> torch.Tensor:
    m = _simpo_m(p, hp.beta)
    z = F.logsigmoid(m - hp.gamma) - F.logsigmoid(-m - hp.gamma)
    if hp.nll_weight:
        z = z + _simpo_m(p, hp.nll_weight)
    return z


_EPS = "label_smoothing"
_NLL = HyperParameter("cpo_alpha", "Weight of the NLL term on the chosen response (TRL CPOConfig's name).")
# RPO (Pang et al. 2024): DPO/IPO + rpo_alpha * NLL of the chosen answer, outside the LCPO link, weighted by w under LCPO.
_RPO = HyperParameter("rpo_alpha", "Weight of an NLL term on the chosen response (RPO; TRL 0.x DPOConfig's name).", default=0.0)
_RPO_TERM = dict(extra_terms=("nll",), nll_key="rpo_alpha", nll_in_link=False)

register_loss(LossSpec(
    "dpo", "DPO (Rafailov et al. 2023): -log sigmoid(beta h).",
    link=_dpo_link, base=lambda p, z, hp: sigmoid_loss(z), needs_reference=True, length_normalised=False,
    hyper_parameters=(_RPO,), **_RPO_TERM))
register_loss(LossSpec(
    "ipo", "IPO (Azar et al. 2023) on length-normalised log-ratios, as TRL: (hbar - 1/(2 beta))^2.",
    link=lambda p, hp: 2.0 * _ipo_hbar(p) / hp.beta, base=lambda p, z, hp: ipo_loss(_ipo_hbar(p), hp.beta),
    needs_reference=True, length_normalised=True, hyper_parameters=(_RPO,), **_RPO_TERM))
register_loss(LossSpec(
    "simpo", "SimPO (Meng et al. 2024): -log sigmoid(m - gamma), reference-free, per-token margin.",
    link=_simpo_link, base=lambda p, z, hp: simpo_loss(_simpo_m(p, hp.beta), hp.gamma),
    needs_reference=False, length_normalised=True, extra_terms=("nll",), nll_key="cpo_alpha",
    # Departs from TRL's CPOConfig, whose cpo_alpha defaults to 1.0 for simpo too (CPO-SimPO): robalign's
    # simpo default is the SimPO paper's loss; cpo_alpha: 1.0 restores TRL's.
    hyper_parameters=(HyperParameter("simpo_gamma", "SimPO target reward margin gamma (CPOConfig name).", default=0.5),
                      HyperParameter(_NLL.key, _NLL.help, default=0.0))))
register_loss(LossSpec(
    "cpo", "CPO (Xu et al. 2024): -log sigmoid(beta d) + cpo_alpha * NLL(chosen), reference-free.",
    link=lambda p, hp: (hp.beta + hp.nll_weight) * (p.chosen_logps - p.rejected_logps),
    base=lambda p, z, hp: sigmoid_loss(z), needs_reference=False, length_normalised=False,
    extra_terms=("nll",), nll_key="cpo_alpha", hyper_parameters=(HyperParameter(_NLL.key, _NLL.help, default=1.0),)))
register_loss(LossSpec(
    "cdpo", "Conservative DPO (label smoothing eps = training.label_smoothing).",
    link=_dpo_link, base=lambda p, z, hp: cdpo_loss(z, hp.eps), needs_reference=True, length_normalised=False,
    fixed_flip_rate=True, hyper_parameters=(HyperParameter(_EPS, "cdpo's fixed flip rate eps.", default=0.0,
                                                           check=lambda v: 0.0 <= v <= 0.5, expected="cdpo's flip rate eps in [0, 0.5]"),
                                            _RPO), **_RPO_TERM))
register_loss(LossSpec(
    "rdpo", "Robust DPO (Chowdhury et al. 2024), flip rate eps = training.label_smoothing.",
    link=_dpo_link, base=lambda p, z, hp: rdpo_loss(z, hp.eps), needs_reference=True, length_normalised=False,
    fixed_flip_rate=True, hyper_parameters=(HyperParameter(_EPS, "rdpo's fixed flip rate eps.", default=0.0,
                                                           check=lambda v: 0.0 <= v < 0.5, expected="rdpo's flip rate eps in [0, 0.5)"),
                                            _RPO), **_RPO_TERM))


def _nll_losses() -> list[str]:
    return sorted(n for n, s in LOSSES.items() if "nll" in s.extra_terms and s.nll_in_link)


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
    module docstring for the link of each loss_type. ``cpo_alpha`` (losses with the "nll" extra
    term) adds the NLL term's share to the link; base losses take the link with ``cpo_alpha = 0``.
    """
    spec = get_loss(loss_type)
    if cpo_alpha and not ("nll" in spec.extra_terms and spec.nll_in_link):
        raise ValueError(f"cpo_alpha applies to {' and '.join(_nll_losses())}, not {loss_type!r}")
    pair = PairLogps(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, chosen_lengths, rejected_lengths)
    return spec.link(pair, LossParams(beta=beta, gamma=gamma, nll_weight=cpo_alpha))


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
    """The observed-label loss of `loss_type`, shape (B,) (the NLL extra term excluded: `cpo_nll`).

    Pass `z` from `preference_logits` (with ``cpo_alpha = 0``) to avoid recomputing it.
    """
    spec = get_loss(loss_type)
    pair = PairLogps(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, chosen_lengths, rejected_lengths)
    params = LossParams(beta=beta, gamma=gamma, eps=eps)
    if z is None:
        z = spec.link(pair, params)
    return spec.base(pair, z, params)


def _names(pred) -> frozenset:
    return frozenset(n for n, s in LOSSES.items() if pred(s))


# Views of the registry for readers that want sets (built-in losses at import time).
REFERENCE_FREE = _names(lambda s: not s.needs_reference)
LENGTH_NORMALISED = _names(lambda s: s.length_normalised)
NLL_TERM = _names(lambda s: "nll" in s.extra_terms and s.nll_in_link)  # the losses cpo_alpha's NLL term belongs to
LOSS_TYPES = tuple(LOSSES)
