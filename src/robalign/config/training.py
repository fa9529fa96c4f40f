"""The typed config each robalign trainer receives: TRL's config class plus the recipe blocks it reads.

A trainer never sees the `Recipe`. Its config subclasses TRL's (so every TRL/transformers field keeps
its name, default and checks) and adds `RecipeBlocks`: the loss (`method.loss_type`), the noise model
(`method.noise_model` and the `lcpo:` block), the attack (`adversarial:`) and the recipe file that
one-line errors name. `config_from_recipe` fills them from the recipe; the loader refuses them as
`training:` keys (each field's metadata names the recipe key that sets it).

- `PreferenceConfig` (`method: preference`): TRL's DPOConfig plus the loss-specific keys TRL keeps in
  CPOConfig (`simpo_gamma`, `cpo_alpha`) and RPO's NLL weight (`rpo_alpha`, TRL 0.x's DPOConfig name).
  The base loss is `loss_type` of the LOSSES registry, not DPOConfig.loss_type (TRL's list of its own
  DPO losses, which robalign refuses); cdpo/rdpo read their fixed flip rate from TRL's `label_smoothing`.
- `CAdvConfig` (`method: cadv_ul | cadv_ipo`): TrainingArguments plus the two TRL fields the
  adversarial trainer reads (`max_length`, `beta`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from transformers import TrainingArguments
from trl import DPOConfig

from robalign.config.adversarial import AdversarialArgs
from robalign.config.lcpo import LCPOArgs


def _from_recipe(key: str, help: str, default: Any = None) -> Any:  # noqa: A002 (dataclass metadata's name)
    return field(default=default, metadata={"recipe": key, "help": help})


@dataclass
class RecipeBlocks:
    """The recipe blocks a robalign trainer reads beside its TRL fields (see the module docstring)."""

    loss_name: Optional[str] = _from_recipe("method.loss_type", "Loss: an entry of robalign.losses.LOSSES.")
    noise_model: str = _from_recipe("method.noise_model", "Label-noise model: none or lcpo.", default="none")
    lcpo: Optional[LCPOArgs] = _from_recipe("lcpo", "LCPO settings (read when noise_model is lcpo).")
    adversarial: Optional[AdversarialArgs] = _from_recipe("adversarial", "Embedding-attack settings.")
    recipe_file: Optional[str] = _from_recipe("source", "The recipe file, named by one-line errors.")

    def __post_init__(self):
        super().__post_init__()
        if self.lcpo is None:
            self.lcpo = LCPOArgs()
        if self.adversarial is None:
            self.adversarial = AdversarialArgs()

    @property
    def noise(self) -> Optional[LCPOArgs]:
        """The LCPO settings when `noise_model: lcpo`, else None."""
        return self.lcpo if self.noise_model == "lcpo" else None

    def to_dict(self) -> dict:
        # TensorBoard/W&B serialise the args as JSON: the blocks as plain dicts
        out = super().to_dict()
        for key in ("lcpo", "adversarial"):
            if dataclasses.is_dataclass(out.get(key)):
                out[key] = dataclasses.asdict(out[key])
        return out


def recipe_fields(cls) -> dict[str, str]:
    """Field name -> the recipe key that sets it, for the `RecipeBlocks` fields of config class `cls`."""
    if not dataclasses.is_dataclass(cls):
        return {}
    return {f.name: f.metadata["recipe"] for f in dataclasses.fields(cls) if "recipe" in f.metadata}


def config_from_recipe(cls, recipe, training: dict):
    """`cls(**training)` with its recipe-block fields taken from `recipe` (None values keep the field's default)."""
    kwargs = dict(training)
    for name, key in recipe_fields(cls).items():
        value = recipe
        for part in key.split("."):
            value = getattr(value, part)
        if value is not None:
            kwargs[name] = value
    return cls(**kwargs)


@dataclass
class PreferenceConfig(RecipeBlocks, DPOConfig):
    loss_name: Optional[str] = _from_recipe("method.loss_type", "Loss: an entry of robalign.losses.LOSSES.", default="dpo")
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

    def nll_weight(self, loss_type: Optional[str] = None) -> float:
        """The weight of the loss's NLL term (the LOSSES entry's `nll_key`: cpo_alpha or rpo_alpha): the
        explicit value, else the entry's default (cpo 1.0, simpo 0.0, the DPO family 0.0); 0 without the term."""
        from robalign.losses import get_loss

        spec = get_loss(loss_type or self.loss_name)
        if "nll" not in spec.extra_terms:
            return 0.0
        value = getattr(self, spec.nll_key, None)
        if value is not None:
            return float(value)
        return float(spec.hyper_parameter(spec.nll_key).default or 0.0)


@dataclass
class CAdvConfig(RecipeBlocks, TrainingArguments):
    """`method: cadv_ul | cadv_ipo`: what the adversarial trainer reads beyond TrainingArguments."""

    loss_name: Optional[str] = _from_recipe("method.loss_type", "unlikelihood (cadv_ul) or ipo (cadv_ipo).", default="ipo")
    max_length: Optional[int] = field(default=1024, metadata={
        "help": "Maximum tokens of prompt + completion (TRL's name); longer rows are truncated from the completion's end."})
    beta: float = field(default=0.1, metadata={"help": "cadv_ipo: the IPO regularisation beta (TRL DPOConfig's name and default)."})
