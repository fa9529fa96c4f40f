"""Pure loss functions: preference links, base losses (dpo/ipo/simpo/cpo/cdpo/rdpo), LCPO."""

from robalign.losses.lcpo import lcpo_loss, lcpo_posterior, lcpo_reweighted_loss, reliability_logit
from robalign.losses.preference import (
    BASE_LOSSES,
    LOSS_TYPES,
    NLL_TERM,
    REFERENCE_FREE,
    base_loss,
    cdpo_loss,
    cpo_nll,
    ipo_loss,
    preference_logits,
    rdpo_loss,
    sigmoid_loss,
    simpo_loss,
)

__all__ = [
    "BASE_LOSSES", "LOSS_TYPES", "NLL_TERM", "REFERENCE_FREE", "base_loss", "cdpo_loss", "cpo_nll", "ipo_loss", "lcpo_loss",
    "lcpo_posterior", "lcpo_reweighted_loss", "preference_logits", "rdpo_loss", "reliability_logit", "sigmoid_loss",
    "simpo_loss",
]
