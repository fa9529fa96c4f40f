"""`lcpo:` recipe block: the LCPO label-noise model (see docs and ../losses/lcpo.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from robalign.config.schema import field
from robalign.errors import ConfigError


@dataclass
class LCPOArgs:
    eta_0: float = field(0.9, help="Initial label reliability eta = 1 - flip rate, in (0.5, 1].")
    alpha: float = field(0.1, help="EMA rate of the reliability update after each optimizer step, in (0, 1].")
    posterior: Literal["implicit", "reference"] = field(
        "reference",
        help="E-step margin: implicit = the paper's reference-normalised link (0 at step 0); "
        "reference = EM fitted on the reference model's raw margins before training, then online.",
        choices=["implicit", "reference"],
    )
    m_step: Literal["soft_label", "reweight"] = field(
        "reweight", help="soft_label = the paper's soft-target BCE; reweight = observed-label loss times w.",
        choices=["soft_label", "reweight"],
    )
    update: bool = field(True, help="Update eta during training (false: keep eta_0 frozen).")
    per_annotator: bool = field(True, help="One eta per annotator when the data has an `annotator` column.")
    eta_min: float = field(0.5, help="Lower clamp of eta (0.5 = labels no better than chance).")

    def validate(self, file, path):
        if not 0.5 < self.eta_0 <= 1.0:
            raise ConfigError(file, f"{path}.eta_0", "a reliability in (0.5, 1]", got=repr(self.eta_0))
        if not 0.0 < self.alpha <= 1.0:
            raise ConfigError(file, f"{path}.alpha", "an EMA rate in (0, 1]", got=repr(self.alpha))
