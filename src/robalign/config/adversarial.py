"""`adversarial:` recipe block: continuous embedding attacks during training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from robalign.config.schema import field
from robalign.errors import ConfigError


@dataclass
class AdversarialArgs:
    enabled: bool = field(False, help="Train under continuous embedding attacks.")
    steps: int = field(10, help="Attack iterations K (signed-gradient steps).")
    epsilon: float = field(0.05, help="Per-token L2 radius, relative to the mean embedding norm of used tokens.")
    step_size: Optional[float] = field(None, help="Absolute step; default epsilon_abs / 64 (measured best here).")
    norm: Literal["l2", "linf"] = field("l2", help="Norm of the per-token ball.", choices=["l2", "linf"])
    tokens: Literal["prompt", "all"] = field("prompt", help="Which input tokens are perturbed.", choices=["prompt", "all"])

    def validate(self, file, path):
        if self.steps < 1:
            raise ConfigError(file, f"{path}.steps", "at least 1 attack step", got=repr(self.steps))
        if self.epsilon <= 0:
            raise ConfigError(file, f"{path}.epsilon", "a positive radius", got=repr(self.epsilon))
        if self.step_size is not None and self.step_size <= 0:
            raise ConfigError(file, f"{path}.step_size", "a positive step", got=repr(self.step_size))
