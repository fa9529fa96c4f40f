"""`training:` block of preference recipes: TRL's DPOConfig plus the two SimPO/CPO knobs.

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

    def resolved_cpo_alpha(self, loss_type: str) -> float:
        """The NLL weight `loss_type` trains with: the explicit value, else the paper's default (0 outside cpo/simpo)."""
        if loss_type not in ("cpo", "simpo"):
            return 0.0
        if self.cpo_alpha is not None:
            return float(self.cpo_alpha)
        return 1.0 if loss_type == "cpo" else 0.0
