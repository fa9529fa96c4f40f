"""`training:` block of preference recipes: TRL's DPOConfig plus the two SimPO/CPO knobs.

The base loss comes from the recipe's `method.loss_type` (dpo|ipo|simpo|cpo|cdpo|rdpo), not
from DPOConfig.loss_type; cdpo/rdpo read their fixed flip rate from TRL's `label_smoothing`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import DPOConfig


@dataclass
class PreferenceConfig(DPOConfig):
    simpo_gamma: float = field(default=0.5, metadata={"help": "SimPO target reward margin gamma (CPOConfig name)."})
    cpo_alpha: float = field(default=1.0, metadata={"help": "Weight of CPO's NLL term on the chosen response (CPOConfig name)."})
