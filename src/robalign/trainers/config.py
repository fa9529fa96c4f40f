"""`training:` block of preference recipes: TRL's DPOConfig plus the SimPO/CPO knobs and RPO's NLL weight.

The base loss comes from the recipe's `method.loss_type` (dpo|ipo|simpo|cpo|cdpo|rdpo), not
from DPOConfig.loss_type; cdpo/rdpo read their fixed flip rate from TRL's `label_smoothing`.
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

    def resolved_rpo_alpha(self, loss_type: str) -> float:
        """The NLL weight of the reference-based losses: the explicit value, else 0 (plain DPO/IPO)."""
        return float(self.rpo_alpha or 0.0) if loss_type in ("dpo", "ipo", "cdpo", "rdpo") else 0.0

    def resolved_cpo_alpha(self, loss_type: str) -> float:
        """The NLL weight `loss_type` trains with: the explicit value, else the paper's default (0 outside cpo/simpo)."""
        if loss_type not in ("cpo", "simpo"):
            return 0.0
        if self.cpo_alpha is not None:
            return float(self.cpo_alpha)
        return 1.0 if loss_type == "cpo" else 0.0
