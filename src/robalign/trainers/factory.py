"""Builds the recipe's trainer: the class named by its METHODS entry (robalign.config.methods)."""

from __future__ import annotations

from robalign.config.methods import get_method


def trainer_class(recipe):
    """The trainer class of `recipe.method.name` (its options, e.g. adversarial.enabled, are the trainer's hooks)."""
    return get_method(recipe.method.name, recipe.source).trainer_class()


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
