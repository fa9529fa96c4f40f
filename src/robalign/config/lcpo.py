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
    init: Optional[Literal["fit", "eta_0"]] = field(
        None,
        help="How eta starts: fit = EM on the reference model's margins before training (needs posterior: reference; "
        "its default); eta_0 = exactly eta_0 (the default with posterior: implicit; with reference only T is fitted).",
        choices=["fit", "eta_0"],
    )
    update: bool = field(True, help="Update eta during training (false: eta keeps its initial value, see init).")
    per_annotator: bool = field(True, help="One eta per annotator when the data has an `annotator` column.")
    eta_min: float = field(0.5, help="Lower clamp of eta, in [0.5, eta_0] (0.5 = labels no better than chance).")

    @property
    def resolved_init(self) -> str:
        """`init` with its default filled in: fit for the reference posterior, eta_0 for the implicit one."""
        if self.init is not None:
            return self.init
        return "fit" if self.posterior == "reference" else "eta_0"

    def validate(self, file, path):
        if not 0.5 < self.eta_0 <= 1.0:
            raise ConfigError(file, f"{path}.eta_0", "a reliability in (0.5, 1]", got=repr(self.eta_0))
        if not 0.0 < self.alpha <= 1.0:
            raise ConfigError(file, f"{path}.alpha", "an EMA rate in (0, 1]", got=repr(self.alpha))
        if not 0.5 <= self.eta_min <= self.eta_0:
            # below 0.5 a label would count as more likely wrong than right; the E-step clamps at 0.5 regardless
            raise ConfigError(file, f"{path}.eta_min", f"a reliability floor in [0.5, eta_0={self.eta_0}]", got=repr(self.eta_min))
        if self.init == "fit" and self.posterior != "reference":
            raise ConfigError(file, f"{path}.init", "eta_0 with posterior: implicit (the fit needs the reference model's "
                              "margins: set posterior: reference)", got=repr(self.init))
