"""Builds the recipe's trainer: the class named by its METHODS entry (robalign.config.methods)."""

from __future__ import annotations

from robalign.config.methods import get_method


def trainer_class(recipe):
    """The trainer class of `recipe.method.name` (its options, e.g. adversarial.enabled, are the trainer's hooks)."""
    return get_method(recipe.method.name, recipe.source).trainer_class()


def build_trainer(recipe, *, model, tokenizer, args, train_dataset, eval_dataset=None, peft_config=None, callbacks=(), **extra):
    """Instantiate the recipe's trainer on its typed config `args` (`robalign.train.training_args`) and the
    datasets built before it; the trainer never sees the recipe. `extra` goes to trainers that take more (ref_model)."""
    cls = trainer_class(recipe)
    return cls(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset, processing_class=tokenizer,
               peft_config=peft_config, callbacks=list(callbacks), **extra)
