"""The one place that maps a recipe to a trainer class and builds it.

Extend `trainer_class` (not the callers) when a method is added: the adversarial methods
(`cadv_ul`, `cadv_ipo`, and `adversarial.enabled` on the preference trainer) plug in here.
"""

from __future__ import annotations

from robalign.config.recipe import METHODS
from robalign.errors import ConfigError


def trainer_class(recipe):
    """The trainer class for `recipe.method.name` (and its options)."""
    name = recipe.method.name
    if name == "sft":
        from robalign.trainers.sft import RobalignSFTTrainer

        return RobalignSFTTrainer
    if name == "preference":
        if recipe.adversarial.enabled:  # any loss_type / noise_model, policy under embedding attack
            from robalign.trainers.adversarial_preference import AdversarialPreferenceTrainer

            return AdversarialPreferenceTrainer
        from robalign.trainers.preference import PreferenceTrainer

        return PreferenceTrainer
    if name in ("cadv_ul", "cadv_ipo"):
        from robalign.trainers.adversarial import AdversarialTrainer

        return AdversarialTrainer
    raise ConfigError(recipe.source, "method.name", "one of " + ", ".join(METHODS), got=repr(name))


def build_trainer(recipe, *, model, tokenizer, args, train_dataset, eval_dataset=None, peft_config=None, callbacks=(), **extra):
    """Instantiate the recipe's trainer. `extra` goes to trainers that need more (e.g. ref_model)."""
    cls = trainer_class(recipe)
    kwargs = dict(
        model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
        processing_class=tokenizer, peft_config=peft_config, callbacks=list(callbacks),
    )
    if getattr(cls, "needs_recipe", False):
        kwargs["recipe"] = recipe
    kwargs.update(extra)
    return cls(**kwargs)
