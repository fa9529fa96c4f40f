"""LCPO (RE-PO): EM reweighting of noisy preference labels, as pure functions.

With p = sigmoid(z) the model's probability that the observed order is right and eta the
label reliability (1 - flip rate), the E-step posterior that the observed label is correct is

    w = p * eta / (p * eta + (1 - p) * (1 - eta)) = sigmoid(z + log(eta / (1 - eta)))

and the paper's M-step is the soft-target cross-entropy on the link

    loss = -[w * log p + (1 - w) * log(1 - p)] = BCE_with_logits(z, w),   w detached.

robalign's alternative M-step (`reweight`) multiplies the base loss of the observed label by
w instead, so suspected flips are down-weighted rather than trained in reverse.
A per-pair prior (the data's `weight` column) enters as extra log-odds: z + logit(eta) + logit(prior).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ETA_MAX = 1.0 - 1e-6


def reliability_logit(eta, eta_min: float = 0.5) -> torch.Tensor | float:
    """log(eta / (1 - eta)) with eta clamped to [eta_min, 1 - 1e-6] so it stays finite."""
    if isinstance(eta, torch.Tensor):
        return torch.special.logit(eta.clamp(eta_min, ETA_MAX))
    e = min(max(float(eta), eta_min), ETA_MAX)
    import math

    return math.log(e) - math.log1p(-e)


def lcpo_posterior(z: torch.Tensor, eta, prior: torch.Tensor | None = None) -> torch.Tensor:
    """w = P(observed label correct | z, eta) = sigmoid(z + logit(eta) [+ logit(prior)]), (B,), no gradient.

    `eta` is a float or a (B,) tensor (one reliability per example, e.g. per annotator).
    """
    with torch.no_grad():
        logit = z.detach() + reliability_logit(eta)
        if prior is not None:
            logit = logit + torch.special.logit(prior.detach().to(z.dtype), eps=1.0 - ETA_MAX)
        return torch.sigmoid(logit)


def lcpo_loss(z: torch.Tensor, eta, prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-example soft-label loss BCE(z, w), w), both (B,). Gradients flow through z only."""
    w = lcpo_posterior(z, eta, prior)
    return F.binary_cross_entropy_with_logits(z, w, reduction="none"), w


def lcpo_reweighted_loss(base: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """robalign's `reweight` M-step: w * base loss of the observed label, (B,)."""
    return w.detach() * base
