"""Recipe schema (typed dataclasses), YAML loading, `--set` overrides, hardware resolution.

The names below are imported on first use (PEP 562): `robalign.config.schema` and the small
dataclass modules stay importable without the recipe loader, which pulls in torch through the
LOSSES registry, so a command that only needs a config dataclass starts fast.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "load_recipe": "robalign.config.loader",
    "AdversarialArgs": "robalign.config.adversarial",
    "LCPOArgs": "robalign.config.lcpo",
    "DataArgs": "robalign.config.recipe",
    "DatasetSpec": "robalign.config.recipe",
    "LaunchArgs": "robalign.config.recipe",
    "MethodArgs": "robalign.config.recipe",
    "ModelArgs": "robalign.config.recipe",
    "Recipe": "robalign.config.recipe",
}

__all__ = ["AdversarialArgs", "DataArgs", "DatasetSpec", "LCPOArgs", "LaunchArgs", "MethodArgs", "ModelArgs", "Recipe", "load_recipe"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'robalign.config' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
