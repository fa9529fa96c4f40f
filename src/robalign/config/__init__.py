"""Recipe schema (typed dataclasses), YAML loading, `--set` overrides, hardware resolution."""

from robalign.config.loader import load_recipe
from robalign.config.adversarial import AdversarialArgs
from robalign.config.lcpo import LCPOArgs
from robalign.config.recipe import (
    DataArgs,
    DatasetSpec,
    LaunchArgs,
    MethodArgs,
    ModelArgs,
    Recipe,
)

__all__ = [
    "AdversarialArgs", "DataArgs", "DatasetSpec", "LaunchArgs", "LCPOArgs", "MethodArgs", "ModelArgs",
    "Recipe", "load_recipe",
]
