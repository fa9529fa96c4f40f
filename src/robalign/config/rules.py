"""Rules a recipe can break beyond one field's type, checked in ONE place.

`load_recipe` runs `check_rules` on every recipe, so `robalign validate`, `--dry-run` and `train`
reject exactly the same recipes (the trainers call the same functions rather than keeping their
own copies). Each rule is one line naming the file, the key and what was expected, and covers a
mistake that would otherwise surface as a traceback deep in TRL/transformers/peft, or — worse —
train silently wrong (`beta: -1` trains in reverse, `num_train_epochs: -1` saves an untrained
adapter, `eval_strategy: steps` without eval data dies in `Trainer.__init__`).
"""

from __future__ import annotations

import math
import os
from numbers import Real

from robalign.errors import ConfigError

#: TRL DPOConfig keys that robalign's preference trainer does not implement (and why).
UNSUPPORTED_TRAINING_KEYS = {
    "loss_type": "set method.loss_type (an entry of robalign.losses.LOSSES) instead",
    "loss_weights": "one base loss per run (method.loss_type)",
    "ld_alpha": "not implemented by robalign's preference trainer",
    "f_divergence_type": "not implemented by robalign's preference trainer",
    "use_weighting": "not implemented (WPO); for per-pair reliability priors use a `weight` data column",
    "padding_free": "not implemented by robalign's preference trainer",
}


def loss_only_keys() -> dict[str, tuple[str, ...]]:
    """Training keys that only some losses read (from their LOSSES entries): elsewhere they would be silently ignored."""
    from robalign.losses.registry import loss_only_keys as from_registry

    return from_registry()


_AT_LEAST_ONE = ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
                 "max_length", "max_prompt_length", "max_completion_length")
_STEP_INTERVALS = ("logging_steps", "save_steps", "eval_steps")  # transformers: >= 1 steps, or a ratio in (0, 1)


def _number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_rules(recipe) -> None:
    """Raise ConfigError for the first rule `recipe` breaks."""
    check_method_rules(recipe)
    check_training_rules(recipe)
    check_peft_rules(recipe)


def check_method_rules(recipe) -> None:
    """Which method may use which loss, keys and reference model: read from the METHODS and LOSSES entries."""
    from robalign.config.methods import get_method
    from robalign.config.training import recipe_fields

    file, m, t = recipe.source, recipe.method, recipe.training
    method = get_method(m.name, file)
    for key, source in recipe_fields(method.training_config_class()).items():  # the trainer's config reads them from the recipe
        if key in t:
            raise ConfigError(file, f"training.{key}", f"no such setting here: set {source} instead", got=repr(t[key]))
    if method.uses_loss:
        if "loss_type" in t:  # TRL's name for what robalign calls method.loss_type
            raise ConfigError(file, "training.loss_type", f"no such setting here: set method.loss_type ({', '.join(_losses())}) instead")
        for key, why in UNSUPPORTED_TRAINING_KEYS.items():
            if key in t:
                raise ConfigError(file, f"training.{key}", f"no such setting here: {why}")
        for key, losses in loss_only_keys().items():
            if key in t and m.loss_type not in losses:
                raise ConfigError(file, f"training.{key}", f"no such setting for loss_type {m.loss_type!r}: it applies to "
                                  f"{' and '.join(losses)} only", got=repr(t[key]))
    check_blocks(method, m.loss_type, m.noise_model, recipe.lcpo, recipe.adversarial, file, training=t)
    _check_reference(recipe, method)
    if method.check is not None:
        method.check(recipe)
    if not method.uses_loss and m.loss_type is not None:
        raise ConfigError(file, "method.loss_type", f"no such setting for method {m.name}: it trains no loss of the LOSSES registry",
                          got=repr(m.loss_type))


def check_blocks(method, loss_type, noise_model, lcpo, adversarial, file, training=None) -> None:
    """The rules on the loss, the noise model and the attack of a `method` (a METHODS entry).

    `load_recipe` runs them on the recipe's blocks (`training`: the recipe's `training:` mapping);
    a trainer built in code runs them on its config (`check_trainer_config`): the same lines either way.
    """
    from robalign.losses import get_loss

    name = method.name
    if method.uses_loss:
        allowed = method.allowed_losses()
        if loss_type not in allowed:
            hint = " (other losses under attack: method preference with adversarial.enabled)" if method.attacked else ""
            raise ConfigError(file, "method.loss_type", f"{' or '.join(allowed)} for method {name}{hint}", got=repr(loss_type))
        loss = get_loss(loss_type)
        if noise_model == "lcpo" and loss.fixed_flip_rate:
            fixed = " and ".join(n for n, s in _registry().items() if s.fixed_flip_rate)
            learns = ", ".join(n for n, s in _registry().items() if not s.fixed_flip_rate and s.pairwise)
            raise ConfigError(file, "method.loss_type", f"{learns} with noise_model: lcpo: {fixed} assume a fixed flip rate, which "
                              "LCPO learns instead (compare them as separate runs)", got=repr(loss_type))
        if training is not None:
            for hp in loss.hyper_parameters:
                value = training.get(hp.key, hp.default)
                if hp.check is not None and value is not None and not (_number(value) and hp.check(value)):
                    raise ConfigError(file, f"training.{hp.key}", hp.expected, got=repr(value))
    if noise_model != "none" and not (method.uses_loss and get_loss(loss_type).pairwise):
        what = "it has none" if not method.uses_loss else f"loss_type {loss_type!r} has no preference logit to judge"
        raise ConfigError(file, "method.noise_model", f"none for method {name} (LCPO reweights preference pairs; {what})",
                          got=repr(noise_model))
    if noise_model == "lcpo":
        lcpo.validate(file, "lcpo")  # a recipe built in code skips load_recipe's field checks
        if not method.lcpo_reference_fit and lcpo.posterior == "reference":
            raise ConfigError(file, "lcpo.posterior", f"implicit for method {name} (the reference fit before training runs on "
                              "data.train's preference pairs)", got=repr(lcpo.posterior))
    if adversarial.enabled and not (method.attacked or method.attackable):
        raise ConfigError(file, "adversarial.enabled", f"false for method {name} (attacks train preference and cadv_* methods)",
                          got="true")
    if method.attacked or adversarial.enabled:
        adversarial.validate(file, "adversarial")


def check_trainer_config(args, trainer_name: str):
    """The METHODS entry a trainer's typed config (`robalign.config.training.RecipeBlocks`) trains, after
    the rules `load_recipe` applies to its blocks (a config built in code skips `load_recipe`)."""
    from robalign.config.methods import method_for_config

    method = method_for_config(args, trainer_name)
    check_blocks(method, args.loss_name if method.uses_loss else None, args.noise_model, args.lcpo, args.adversarial,
                 args.recipe_file, training=vars(args))  # the config's fields: the loss's own keys are range-checked too
    return method


def _registry():
    from robalign.losses import LOSSES

    return LOSSES


def _losses() -> list[str]:
    return list(_registry())


def _check_reference(recipe, method) -> None:
    """model.ref_model_name_or_path is read only where a frozen reference model is built from it."""
    ref = recipe.model.ref_model_name_or_path
    if not ref:
        return
    file, key = recipe.source, "model.ref_model_name_or_path"
    if method.reference is None:
        raise ConfigError(file, key, f"no such setting for method {method.name}: it uses no reference model", got=repr(ref))
    if method.uses_loss:
        from robalign.losses import get_loss

        if not get_loss(recipe.method.loss_type).needs_reference:
            raise ConfigError(file, key, f"no such setting for loss_type {recipe.method.loss_type!r}: it uses no reference model",
                              got=repr(ref))
    if recipe.peft is not None:
        raise ConfigError(file, key, "null with peft (the reference is the base model with the adapters disabled, or an adapter "
                          "named 'ref'); set it for full fine-tuning only", got=repr(ref))


def check_training_rules(recipe) -> None:
    """Ranges transformers/TRL check late (or never), and settings that need something else."""
    file, t = recipe.source, recipe.training
    lr = t.get("learning_rate")
    if lr is not None and not (_number(lr) and math.isfinite(lr) and lr > 0):
        raise ConfigError(file, "training.learning_rate", "a positive finite number", got=repr(lr))
    for key in _AT_LEAST_ONE:
        value = t.get(key)
        if value is not None and not (_number(value) and value >= 1):
            raise ConfigError(file, f"training.{key}", "a number >= 1", got=repr(value))
    for key in _STEP_INTERVALS:
        value = t.get(key)
        if value is not None and not (_number(value) and math.isfinite(value) and value > 0):
            raise ConfigError(file, f"training.{key}", "a number of steps >= 1 (or a ratio of the run in (0, 1))", got=repr(value))
    max_steps = t.get("max_steps", -1)
    if not (isinstance(max_steps, int) and (max_steps == -1 or max_steps >= 1)):
        raise ConfigError(file, "training.max_steps", "an integer >= 1 (or -1: train num_train_epochs)", got=repr(max_steps))
    epochs = t.get("num_train_epochs")
    if max_steps == -1 and epochs is not None and not (_number(epochs) and math.isfinite(epochs) and epochs > 0):
        raise ConfigError(file, "training.num_train_epochs", "a positive number of epochs (or set max_steps)", got=repr(epochs))
    seed = t.get("seed")
    if seed is not None and not (isinstance(seed, int) and 0 <= seed < 2**32):
        raise ConfigError(file, "training.seed", "an integer in [0, 2**32)", got=repr(seed))
    if recipe.method.name != "sft":
        beta = t.get("beta")
        if beta is not None and not (_number(beta) and math.isfinite(beta) and beta > 0):
            raise ConfigError(file, "training.beta", "a positive finite number (a negative beta trains in reverse)", got=repr(beta))
    strategy = t.get("eval_strategy", "no")
    strategy = getattr(strategy, "value", strategy)
    if strategy not in ("no", None) and recipe.data.eval is None:
        raise ConfigError(file, "training.eval_strategy", "'no' when the recipe has no data.eval (or add data.eval)", got=repr(strategy))
    _check_reporters(file, t.get("report_to"))
    if t.get("push_to_hub") and os.environ.get("HF_HUB_OFFLINE") == "1":  # TRL would fail creating the repo, in a traceback
        raise ConfigError(file, "training.push_to_hub", "false while HF_HUB_OFFLINE=1 (uploading needs the hub; unset HF_HUB_OFFLINE "
                          "to push, or export later with robalign export --push-to-hub)", got="true")


def _check_reporters(file, report_to) -> None:
    """Every integration in report_to is installed (transformers raises a RuntimeError traceback)."""
    if report_to is None:
        return
    names = [report_to] if isinstance(report_to, str) else list(report_to)
    from transformers.integrations import integration_utils

    for name in names:
        if name in ("none", "all"):
            continue
        available = getattr(integration_utils, f"is_{name}_available", None)
        if available is not None and not available():
            raise ConfigError(file, "training.report_to", f"installed reporters only: {name!r} is not installed "
                              f"(pip install {name}, or drop it from report_to)", got=repr(names))


def check_peft_rules(recipe) -> None:
    """LoRA settings peft would reject with a traceback, and target modules that match nothing."""
    p, file = recipe.peft, recipe.source
    if p is None:
        return
    r = p.get("r", 8)
    if not (isinstance(r, int) and not isinstance(r, bool) and r >= 1):
        raise ConfigError(file, "peft.r", "a LoRA rank >= 1", got=repr(r))
    alpha = p.get("lora_alpha", 8)
    if not (_number(alpha) and math.isfinite(alpha) and alpha > 0):
        raise ConfigError(file, "peft.lora_alpha", "a positive number", got=repr(alpha))
    dropout = p.get("lora_dropout", 0.0)
    if not (_number(dropout) and 0 <= dropout < 1):
        raise ConfigError(file, "peft.lora_dropout", "a probability in [0, 1)", got=repr(dropout))
    _check_target_modules(recipe)


def _check_target_modules(recipe) -> None:
    """Build the model on the meta device (no weights read) and let peft match the targets."""
    from pathlib import Path

    model_dir = Path(recipe.model.model_name_or_path)
    if not (model_dir / "config.json").is_file():
        return  # a hub id: checked when the model is loaded
    import warnings

    from accelerate import init_empty_weights
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=recipe.model.trust_remote_code)
    with init_empty_weights(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=recipe.model.trust_remote_code)
        try:
            get_peft_model(model, LoraConfig(**{"task_type": "CAUSAL_LM", **recipe.peft}))
        except (ValueError, TypeError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(recipe.source, "peft", f"LoRA settings that fit {model_dir} ({first[:200]})") from None
