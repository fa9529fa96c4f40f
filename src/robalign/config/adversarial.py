"""`adversarial:` recipe block: continuous embedding attacks during training.

Used by `method: cadv_ul` and `method: cadv_ipo` (always attacked) and by `method: preference`
when `enabled: true` (any loss_type, with or without `noise_model: lcpo`). The attack fields
feed `robalign.attacks.EmbeddingAttack`; the loss fields `robalign.losses.adversarial`.
Defaults follow the paper's public configs; where robalign departs, the help says so and names the
value that restores the paper (the demo figures behind them: docs/experiments.md, "Figures behind defaults").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from robalign.config.schema import field
from robalign.errors import ConfigError


@dataclass
class AdversarialArgs:
    # --- the attack (inner loop) ---
    enabled: bool = field(False, help="method preference: train under continuous embedding attacks (cadv_ul/cadv_ipo always are).")
    steps: int = field(10, help="Attack iterations K (signed-gradient steps).")
    epsilon: float = field(0.05, help="Per-token L2 radius, relative to the mean embedding norm of the tokens the safety prompts use.")
    step_size: Optional[float] = field(None, help="Absolute step alpha; default epsilon_abs / 64: a signed step moves a token by alpha * sqrt(d), so a large "
                                     "alpha (e.g. eps/4) overshoots the ball on the first step.")
    norm: Literal["l2", "linf"] = field("l2", help="Norm of the per-token ball.", choices=["l2", "linf"])
    tokens: Literal["prompt"] = field("prompt", help="Which input tokens are perturbed: the prompt (chat template included).", choices=["prompt"])

    control: bool = field(
        False, help="cadv_ul/cadv_ipo: the control arm of an experiment: same data, losses and steps, but no attack (delta = 0).",
    )

    # --- batch composition (cadv_ul, cadv_ipo) ---
    adv_fraction: float = field(0.5, help="Share of each per-device batch given to harmful prompts (paper: 0.5 IPO, 0.125 UL); the rest is utility data.")
    benign_fraction: float = field(
        0.25, help="Share of the utility slots given to benign look-alikes (data.safety rows with kind=benign): "
        "a model trained to refuse harmful prompts without them learns to refuse their look-alikes too.",
    )

    # --- C-AdvUL loss ---
    away_weight: float = field(0.5, help="cadv_ul: weight of the unlikelihood (away) loss on the harmful target under attack.")
    toward_weight: float = field(0.5, help="cadv_ul: weight of the toward loss (refusal cross-entropy under attack).")
    utility_weight: float = field(1.0, help="cadv_ul/cadv_ipo: weight of the clean utility SFT loss.")
    away_cutoff: float = field(5.0, help="cadv_ul: mean per-token CE of the harmful target above which the away loss stops pushing.")
    toward_cutoff: float = field(0.5, help="cadv_ul: refusal CE below which the toward loss stops.")
    cutoff_scope: Literal["example", "batch"] = field(
        "example", help="cadv_ul: the cutoffs apply to each example's CE, or to the batch's token-mean CE (batch = the "
        "reference code).", choices=["example", "batch"],
    )

    clean_refusal_weight: float = field(
        0.0, help="cadv_ul/cadv_ipo: weight of the refusal cross-entropy on the CLEAN harmful prompts: training only on "
        "attacked prompts does not hold the clean refusal, which can drift; 0 = the paper.",
    )

    # --- C-AdvIPO loss ---
    anchor_weight: float = field(
        1.0, help="cadv_ipo: weight of an SFT term on the refusal under attack, so the IPO margin is not met by destroying the "
        "harmful target alone (the policy then outputs neither target nor refusal); 0 = the paper's C-AdvIPO.",
    )
    rejected_logp_floor: Optional[float] = field(
        -5.0, help="cadv_ipo: per-token log-prob floor of the harmful target in the margin, policy and reference alike "
        "(reference code: tokens below -5 stop counting); null = no floor.",
    )
    floor_rule: Literal["clamp", "zero"] = field(
        "clamp", help="cadv_ipo: clamp = tokens below rejected_logp_floor are held at it, policy and reference alike; "
        "zero = the reference code: the policy's tokens below it count 0, the reference model is not floored.",
        choices=["clamp", "zero"],
    )

    def batch_layout(self, batch_size: int) -> tuple[int, int, int]:
        """(harmful, benign, utility) rows of one per-device batch (cadv_*); harmful == batch_size leaves no utility slot."""
        n_adv = max(1, round(batch_size * self.adv_fraction))
        n_rest = max(batch_size - n_adv, 0)
        n_benign = round(n_rest * self.benign_fraction)
        return n_adv, n_benign, n_rest - n_benign

    def check_layout(self, batch_size: int, has_utility: bool, file=None) -> tuple[int, int, int]:
        """The layout, or the one-line error of a batch without utility slots / utility slots without data.utility."""
        n_adv, n_benign, n_util = self.batch_layout(batch_size)
        if n_adv >= batch_size:
            raise ConfigError(file, "adversarial.adv_fraction", f"a fraction leaving utility slots in a batch of {batch_size}",
                              got=repr(self.adv_fraction))
        if n_util and not has_utility:
            raise ConfigError(file, "data.utility", "missing key: data.utility (benign utility data for the utility slots of each batch)")
        return n_adv, n_benign, n_util

    def validate(self, file, path):
        if self.steps < 1:
            raise ConfigError(file, f"{path}.steps", "at least 1 attack step", got=repr(self.steps))
        if self.epsilon <= 0:
            raise ConfigError(file, f"{path}.epsilon", "a positive radius", got=repr(self.epsilon))
        if self.step_size is not None and self.step_size <= 0:
            raise ConfigError(file, f"{path}.step_size", "a positive step", got=repr(self.step_size))
        if not 0.0 < self.adv_fraction < 1.0:
            raise ConfigError(file, f"{path}.adv_fraction", "a fraction in (0, 1)", got=repr(self.adv_fraction))
        if not 0.0 <= self.benign_fraction < 1.0:
            raise ConfigError(file, f"{path}.benign_fraction", "a fraction in [0, 1)", got=repr(self.benign_fraction))
        for key in ("away_weight", "toward_weight", "utility_weight", "anchor_weight", "clean_refusal_weight"):
            if getattr(self, key) < 0:
                raise ConfigError(file, f"{path}.{key}", "a non-negative weight", got=repr(getattr(self, key)))
        if self.away_cutoff <= 0 or self.toward_cutoff < 0:
            key = "away_cutoff" if self.away_cutoff <= 0 else "toward_cutoff"
            raise ConfigError(file, f"{path}.{key}", "a positive cross-entropy in nats", got=repr(getattr(self, key)))
        if self.rejected_logp_floor is not None and self.rejected_logp_floor >= 0:
            raise ConfigError(file, f"{path}.rejected_logp_floor", "a negative log-prob or null", got=repr(self.rejected_logp_floor))
