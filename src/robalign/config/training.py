"""`training:` block of preference recipes: TRL's DPOConfig plus the loss-specific keys TRL keeps
in CPOConfig (`simpo_gamma`, `cpo_alpha`) and RPO's NLL weight (`rpo_alpha`, TRL 0.x's DPOConfig name).

The base loss comes from the recipe's `method.loss_type` (an entry of robalign.losses.LOSSES),
not from DPOConfig.loss_type; cdpo/rdpo read their fixed flip rate from TRL's `label_smoothing`.
Which loss reads which key, and its default, is declared in the LOSSES entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from trl import DPOConfig


@dataclass
class PreferenceConfig(DPOConfig):
    simpo_gamma: float = field(default=0.5, metadata={"help": "SimPO target reward margin gamma (CPOConfig name)."})
    # Departs from TRL's CPOConfig, whose cpo_alpha defaults to 1.0 for simpo too (CPO-SimPO): robalign's
    # simpo default is the SimPO paper's loss; cpo_alpha: 1.0 restores TRL's.
    cpo_alpha: Optional[float] = field(default=None, metadata={
        "help": "Weight of the NLL term on the chosen response for cpo and simpo (CPOConfig name); "
                "default 1.0 for cpo (the CPO paper, TRL), 0.0 for simpo (the SimPO paper)."})

    # TRL 0.x's DPOConfig name; TRL 1.x spells the same term loss_type [sigmoid, sft] with loss_weights [1, rpo_alpha].
    rpo_alpha: Optional[float] = field(default=None, metadata={
        "help": "Weight of an NLL term on the chosen response for dpo, ipo, cdpo and rdpo (RPO, Pang et al. 2024: "
                "DPO + NLL, for on-policy verified pairs). Under LCPO each pair's term is weighted by its posterior w."})

    def nll_weight(self, loss_type: str) -> float:
        """The weight of `loss_type`'s NLL term (the LOSSES entry's `nll_key`: cpo_alpha or rpo_alpha):
        the explicit value, else the entry's default (cpo 1.0, simpo 0.0, the DPO family 0.0); 0 without the term."""
        from robalign.losses import get_loss

        spec = get_loss(loss_type)
        if "nll" not in spec.extra_terms:
            return 0.0
        value = getattr(self, spec.nll_key, None)
        if value is not None:
            return float(value)
        return float(spec.hyper_parameter(spec.nll_key).default or 0.0)
