"""The recipe: one YAML file per run, as typed dataclasses.

Layout (every block documented in README "Writing a recipe"):

    model:       ModelArgs      (TRL ModelConfig names: model_name_or_path, torch_dtype, ...)
    data:        DataArgs       (train/eval/safety/utility datasets through `datasets`)
    method:      MethodArgs     (name, loss_type, noise_model)
    training:    dict           (any field of the TRL config of the method: DPOConfig / SFTConfig...)
    peft:        dict | null    (any field of peft.LoraConfig; absent = full fine-tuning)
    lcpo:        LCPOArgs       (noise model; used when method.noise_model = lcpo)
    adversarial: AdversarialArgs (continuous embedding attacks; off unless enabled)
    launch:      LaunchArgs     (how `robalign train` calls accelerate)

`training` and `peft` are validated against the real TRL / peft dataclasses, so their key
names are exactly the ones a TRL or alignment-handbook user already knows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Optional

from robalign.config.adversarial import AdversarialArgs
from robalign.config.lcpo import LCPOArgs
from robalign.config.methods import METHODS
from robalign.config.schema import field
from robalign.errors import ConfigError
from robalign.losses import LOSSES

NOISE_MODELS = ["none", "lcpo"]


@dataclass
class ModelArgs:
    model_name_or_path: str = field(help="HF model id or local directory of the base (or SFT) model.")
    tokenizer_name_or_path: Optional[str] = field(None, help="Tokenizer to use; default: the model's own.")
    ref_model_name_or_path: Optional[str] = field(
        None, help="Reference model for full fine-tuning; default: the initial policy (with LoRA: adapters disabled)."
    )
    torch_dtype: Literal["auto", "float32", "bfloat16", "float16"] = field(
        "auto", help="Weights dtype; auto = bfloat16 on GPUs that support it, float32 on CPU.",
        choices=["auto", "float32", "bfloat16", "float16"],
    )
    attn_implementation: Optional[str] = field(None, help="Attention kernel (eager, sdpa, flash_attention_2).")
    trust_remote_code: bool = field(False, help="Allow custom modelling code from the model repo.")


@dataclass
class MarginWeight:
    chosen: str = field(help="Column of the chosen answer's score (UltraFeedback: score_chosen; DPO-mix: chosen_rating).")
    rejected: str = field(help="Column of the rejected answer's score (score_rejected; rejected_rating).")
    scale: float = field(1.0, help="Score units per unit of log-odds: weight = sigmoid((chosen - rejected) / scale).")

    def validate(self, file, path):
        if not self.scale > 0:
            raise ConfigError(file, f"{path}.scale", "a positive number", got=repr(self.scale))


@dataclass
class MixtureItem:
    path: str = field(help="Local .jsonl/.json/.parquet file, a `save_to_disk` folder, or a hub dataset id.")
    split: str = field("train", help="Split to read.")
    name: Optional[str] = field(None, help="Hub dataset configuration name.")
    columns: Optional[list[str]] = field(None, help="Keep only these columns (alignment-handbook's `columns`); null = all.")
    weight: float = field(1.0, help="Fraction of this dataset's rows to use, drawn after a seeded shuffle (alignment-handbook's rule).")

    def validate(self, file, path):
        if not 0 < self.weight <= 1:
            raise ConfigError(file, f"{path}.weight", "a fraction of the dataset in (0, 1]", got=repr(self.weight))


@dataclass
class DatasetSpec:
    path: Optional[str] = field(None, help="Local .jsonl/.json/.parquet file, a `save_to_disk` folder, or a hub dataset id (or `mixture`).")
    mixture: list[MixtureItem] = field(default_factory=list, help="Instead of `path`: several datasets, each a fraction (`weight`) of "
                                       "its rows and the `columns` kept, concatenated and shuffled with `seed`.")
    seed: int = field(0, help="Seed of the mixture's shuffles.")
    split: str = field("train", help="Split to read (hub datasets and dataset dicts).")
    name: Optional[str] = field(None, help="Hub dataset configuration name.")
    columns: dict[str, Optional[str]] = field(
        default_factory=dict, help="Rename columns {their_name: our_name}, e.g. {question: prompt, dataset: annotator}; "
        "their_name: null drops the column.")
    max_samples: Optional[int] = field(None, help="Keep only the first N rows (quick runs).")
    weight_from_margin: Optional[MarginWeight] = field(
        None, help="Preference data: a `weight` column (the LCPO prior that the label is right) from two score columns, "
        "sigmoid((chosen - rejected) / scale): a 1-point margin at scale 1 is 0.73, a tie 0.5.")

    def validate(self, file, path):
        if (self.path is None) == (not self.mixture):
            raise ConfigError(file, f"{path}.path", "a dataset `path` or a `mixture` list (one of the two)",
                              got="both" if self.path is not None else "neither")
        if self.max_samples is not None and self.max_samples < 1:
            raise ConfigError(file, f"{path}.max_samples", "a positive integer", got=repr(self.max_samples))

    @property
    def paths(self) -> list[str]:
        return [self.path] if self.path is not None else [m.path for m in self.mixture]

    @property
    def source(self) -> str:
        """How messages name this dataset: its path, or the mixture's parts with their fractions."""
        if self.path is not None:
            return self.path
        return "mixture(" + ", ".join(m.path + (f" x{m.weight:g}" if m.weight != 1 else "") for m in self.mixture) + ")"


@dataclass
class DataArgs:
    train: Optional[DatasetSpec] = field(None, help="Training data (SFT: prompt/completion or messages; preference: prompt/chosen/rejected).")
    eval: Optional[DatasetSpec] = field(None, help="Held-out data in the same format (preference: true labels -> eval/clean_accuracy).")
    safety: Optional[DatasetSpec] = field(None, help="Harmful prompts with target and refusal (adversarial training).")
    utility: Optional[DatasetSpec] = field(None, help="Benign utility data (prompt/completion) mixed into adversarial training.")


@dataclass
class MethodArgs:
    name: str = field("preference", help="Training method (an entry of robalign.config.methods.METHODS).", choices=list(METHODS))
    loss_type: Optional[str] = field(None, help="The loss (an entry of robalign.losses.LOSSES) of methods that train one; "
                                     "default: dpo, or the method's only loss (cadv_ul unlikelihood, cadv_ipo ipo).",
                                     choices=list(LOSSES))
    noise_model: str = field("none", help="Label-noise model: none, or lcpo (learned reliability, EM reweighting).", choices=NOISE_MODELS)

    def __post_init__(self):
        if self.loss_type is None and self.name in METHODS:
            self.loss_type = METHODS[self.name].default_loss

    def validate(self, file, path):
        # the registries as they are now (a loss or method registered after import is valid too)
        for key, allowed in (("name", list(METHODS)), ("loss_type", list(LOSSES)), ("noise_model", NOISE_MODELS)):
            value = getattr(self, key)
            if value not in allowed and not (key == "loss_type" and value is None):
                raise ConfigError(file, f"{path}.{key}", "one of " + ", ".join(allowed), got=repr(value))


@dataclass
class LaunchArgs:
    num_processes: int = field(1, help="Processes (GPUs, or CPU workers) `robalign train` starts through accelerate.")
    config_file: Optional[str] = field(None, help="accelerate config (recipes/accelerate_configs/*.yaml).")
    main_process_port: Optional[int] = field(None, help="Rendezvous port for multi-process runs.")

    def validate(self, file, path):
        if self.num_processes < 1:
            raise ConfigError(file, f"{path}.num_processes", "at least 1", got=repr(self.num_processes))


@dataclass
class Recipe:
    model: ModelArgs = field(help="The model to train.")
    data: DataArgs = field(default_factory=DataArgs, help="Datasets.")
    method: MethodArgs = field(default_factory=MethodArgs, help="What to train.")
    training: dict[str, Any] = field(default_factory=dict, help="TRL trainer arguments (DPOConfig/SFTConfig fields).")
    peft: Optional[dict[str, Any]] = field(None, help="peft.LoraConfig fields; absent = full fine-tuning.")
    lcpo: LCPOArgs = field(default_factory=LCPOArgs, help="LCPO noise model.")
    adversarial: AdversarialArgs = field(default_factory=AdversarialArgs, help="Continuous-attack training.")
    launch: LaunchArgs = field(default_factory=LaunchArgs, help="Process launch.")
    source: Optional[str] = dataclasses.field(default=None, init=False, compare=False, metadata={"help": "File the recipe was read from."})
