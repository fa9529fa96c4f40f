"""Pure loss functions: the LOSSES registry (dpo/ipo/simpo/cpo/cdpo/rdpo, C-AdvUL's unlikelihood), LCPO."""

from robalign.losses.lcpo import lcpo_loss, lcpo_posterior, lcpo_reweighted_loss, reliability_logit
from robalign.losses.preference import (
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
from robalign.losses import adversarial as _adversarial  # noqa: F401  (registers the unlikelihood entry)
from robalign.losses.registry import LOSSES, HyperParameter, LossParams, LossSpec, PairLogps, get_loss, register_loss, unregister_loss

__all__ = [
    "LOSSES", "LOSS_TYPES", "HyperParameter", "LossParams", "LossSpec", "NLL_TERM", "PairLogps", "REFERENCE_FREE", "base_loss",
    "cdpo_loss", "cpo_nll", "get_loss", "ipo_loss", "lcpo_loss", "lcpo_posterior", "lcpo_reweighted_loss", "preference_logits",
    "rdpo_loss", "register_loss", "reliability_logit", "sigmoid_loss", "simpo_loss", "unregister_loss",
]
