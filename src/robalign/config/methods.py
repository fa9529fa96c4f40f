"""METHODS: the one table of training methods (`method.name`). The recipe's choices, the loader's
checks, `robalign validate`, the dataset builder and the trainer factory all read it.

Adding a method is one trainer module and one `register_method` call: the entry names the
trainer class and the TRL config class by import path (imported only when a run builds them, so
`config/` does not import `trainers/`), the datasets it reads and the column kind each must have
(`robalign.data.loading.REQUIRED_COLUMNS`), whether it takes `method.loss_type` (the LOSSES
registry), and its own rules (`check(recipe)`, run by `load_recipe` like every other rule).
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Callable, Optional

from robalign.errors import ConfigError


@dataclass(frozen=True)
class MethodSpec:
    name: str
    help: str
    #: "module:Class" of the trainer; `trainer_class()` imports it
    trainer: str
    #: "module:Class" of the TRL config whose fields the `training:` block may set
    training_config: str
    #: data key -> column kind the dataset must have; a data key not listed is refused
    datasets: dict[str, str]
    #: data keys the method cannot run without
    required: tuple[str, ...]
    #: why the unlisted data keys do not apply (the end of the one-line error)
    other_data_hint: str = ""
    #: reads method.loss_type (an entry of robalign.losses.LOSSES)
    uses_loss: bool = False
    #: the only loss types it trains (None: every registered pairwise one, i.e. with a preference logit)
    loss_types: Optional[tuple[str, ...]] = None
    #: for trainers on a plain transformers.Trainer: the config fields beyond TrainingArguments it reads
    #: (others are refused: nothing would read them); None = every field of `training_config`
    reads_training: Optional[frozenset[str]] = None
    #: config fields `training_config` has but the trainer does not implement, with the reason
    unsupported_training: dict[str, str] = field(default_factory=dict)
    #: trains under the embedding attack always (`adversarial.enabled` is implied)
    attacked: bool = False
    #: `adversarial.enabled: true` puts its policy forward under the embedding attack
    attackable: bool = False
    #: `noise_model: lcpo` may fit its posterior on the reference model before training (`lcpo.posterior: reference`)
    lcpo_reference_fit: bool = False
    #: the reference model's role: "policy" = the initial policy (ref_model_name_or_path honoured
    #: with full fine-tuning), None = the method uses no reference model
    reference: Optional[str] = None
    #: method-specific rules on the whole recipe (raise ConfigError)
    check: Optional[Callable] = None
    #: "module:function" of its data rules, `f(recipe, datasets)` on the loaded datasets (raise ConfigError);
    #: run by `robalign.trainers.data.build_datasets`, which validate and train both call
    check_data: Optional[str] = None

    @property
    def default_loss(self) -> Optional[str]:
        """`method.loss_type` when the recipe leaves it out: dpo, or the method's only loss."""
        if not self.uses_loss:
            return None
        return self.loss_types[0] if self.loss_types else "dpo"

    def allowed_losses(self) -> list[str]:
        from robalign.losses import LOSSES

        if self.loss_types is not None:
            return list(self.loss_types)
        return [n for n, s in LOSSES.items() if s.pairwise]

    def trainer_class(self):
        return _import(self.trainer)

    def training_config_class(self):
        return _import(self.training_config)

    def data_rules(self):
        return _import(self.check_data) if self.check_data else None

    def training_keys(self) -> Optional[set[str]]:
        """The `training:` keys this method reads (None: every field of its config class)."""
        if self.reads_training is None:
            return None
        from transformers import TrainingArguments

        from robalign.config.training import recipe_fields

        # the recipe-block fields stay listed so that setting one gets "set <its recipe key> instead"
        return ({f.name for f in dataclasses.fields(TrainingArguments) if f.init} | set(self.reads_training)
                | set(recipe_fields(self.training_config_class())))


def _import(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


METHODS: dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec) -> MethodSpec:
    if spec.name in METHODS:
        raise ValueError(f"method {spec.name!r} is already registered")
    METHODS[spec.name] = spec
    return spec


def get_method(name: str, file: str | None = None) -> MethodSpec:
    spec = METHODS.get(name)
    if spec is None:
        raise ConfigError(file, "method.name", "one of " + ", ".join(METHODS), got=repr(name))
    return spec


def method_for_config(args, trainer: str) -> MethodSpec:
    """The METHODS entry whose trainer is `trainer` ("module:Class") and that trains `args.loss_name`."""
    candidates = [m for m in METHODS.values() if m.trainer == trainer]
    for m in candidates:
        if not m.uses_loss or args.loss_name in m.allowed_losses():
            return m
    if not candidates:
        raise ValueError(f"no METHODS entry trains with {trainer}")
    allowed = sorted({n for m in candidates for n in m.allowed_losses()})
    raise ConfigError(args.recipe_file, "method.loss_type", f"one of {', '.join(allowed)} for {trainer.rpartition(':')[2]}",
                      got=repr(args.loss_name))


def describe(recipe) -> str:
    """`preference/dpo+lcpo+adversarial`: how validate and --dry-run name the run."""
    m, spec = recipe.method, get_method(recipe.method.name, recipe.source)
    what = f"{m.name}/{m.loss_type}" if spec.uses_loss else m.name
    if m.noise_model != "none":
        what += f"+{m.noise_model}"
    if recipe.adversarial.enabled and not spec.attacked:
        what += "+adversarial"
    return what


# ----- the built-in methods ------------------------------------------------------------------
_PREFERENCE_CONFIG = "robalign.config.training:PreferenceConfig"
_CADV_CONFIG = "robalign.config.training:CAdvConfig"
_SAFETY_DATA = {"safety": "safety", "utility": "utility"}
_CADV_HINT = "harmful prompts go in data.safety, benign data in data.utility (evaluate with robalign attack-eval)"


def _check_cadv(recipe) -> None:
    """Each per-device batch holds harmful rows and utility slots (the layout of robalign.data.adversarial_rows)."""
    batch = recipe.training.get("per_device_train_batch_size", 8)  # TrainingArguments' default
    recipe.adversarial.check_layout(batch, recipe.data.utility is not None, recipe.source)


register_method(MethodSpec(
    "sft", "Supervised fine-tuning (TRL SFTTrainer) on prompt/completion or messages.",
    trainer="robalign.trainers.sft:RobalignSFTTrainer", training_config="trl:SFTConfig",
    datasets={"train": "sft", "eval": "sft"}, required=("train",),
    other_data_hint="SFT reads data.train and data.eval"))
register_method(MethodSpec(
    "preference", "Preference optimisation with method.loss_type, noise_model and adversarial options (one DPOTrainer subclass).",
    trainer="robalign.trainers.preference:PreferenceTrainer", training_config=_PREFERENCE_CONFIG,
    datasets={"train": "preference", "eval": "preference"}, required=("train",), uses_loss=True, reference="policy",
    attackable=True, lcpo_reference_fit=True,
    other_data_hint="preference methods read data.train and data.eval (adversarial.enabled attacks data.train's prompts)",
    check_data="robalign.trainers.data:check_annotators"))
register_method(MethodSpec(
    "cadv_ul", "C-AdvUL (Xhonneux et al. 2024): unlikelihood on harmful targets under embedding attack, utility SFT.",
    trainer="robalign.trainers.adversarial:AdversarialTrainer", training_config=_CADV_CONFIG,
    datasets=_SAFETY_DATA, required=("safety",), other_data_hint=_CADV_HINT, uses_loss=True, loss_types=("unlikelihood",),
    attacked=True, reads_training=frozenset({"max_length"}), check=_check_cadv))
register_method(MethodSpec(
    "cadv_ipo", "C-AdvIPO (Xhonneux et al. 2024): IPO of refusal over harmful target under embedding attack, utility SFT.",
    trainer="robalign.trainers.adversarial:AdversarialTrainer", training_config=_CADV_CONFIG,
    datasets=_SAFETY_DATA, required=("safety",), other_data_hint=_CADV_HINT, uses_loss=True, loss_types=("ipo",),
    attacked=True, reference="policy", check=_check_cadv))


def markdown_table() -> str:
    """The METHODS table of docs/architecture.md (a test keeps the two equal)."""
    rows = ["| method.name | trainer | `training:` config | datasets (column kind) | loss_type | reference model |",
            "|---|---|---|---|---|---|"]
    for s in METHODS.values():
        data = ", ".join(f"{k}{'*' if k in s.required else ''} ({v})" for k, v in s.datasets.items())
        config = s.training_config.rpartition(":")[2] + (" (read: TrainingArguments + " + ", ".join(sorted(s.reads_training)) + ")"
                                                         if s.reads_training is not None else "")
        losses = ("/".join(s.loss_types) if s.loss_types else "any pairwise LOSSES entry") if s.uses_loss else "-"
        rows.append(f"| `{s.name}` | `{s.trainer.rpartition(':')[2]}` | {config} | {data} | {losses} | "
                    f"{'initial policy' if s.reference else '-'} |")
    return "\n".join(rows)
