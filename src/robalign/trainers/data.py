"""Datasets for a recipe's method, in the form the TRL trainers expect, built before the trainer.

Which datasets a method reads and the column kind of each come from its METHODS entry. Plain-
string columns become single-turn chat messages (`to_conversational`) so the model's chat
template is applied by TRL exactly as at inference. Columns the method does not use are
dropped here, explicitly, except the preference extras robalign understands:
`label_flipped` (known noise, for diagnostics), `annotator` (per-annotator reliability) and
`weight` (a per-pair prior on reliability). The adversarial methods' rows (harmful prompts,
benign look-alikes, utility data in fixed batch blocks) come from `robalign.data.adversarial_rows`.
"""

from __future__ import annotations

from robalign.config.methods import get_method
from robalign.errors import ConfigError
from robalign.data.loading import check_columns, check_rows, extract_shared_prompt, load_dataset_spec, to_conversational

PREFERENCE_EXTRAS = ("label_flipped", "annotator", "weight")


def columns_to_keep(kind: str, names: list[str]) -> list[str]:
    if kind in ("sft", "utility"):
        return ["messages"] if "messages" in names and "completion" not in names else [c for c in ("prompt", "completion") if c in names]
    if kind == "preference":
        return [c for c in ("prompt", "chosen", "rejected", *PREFERENCE_EXTRAS) if c in names]
    raise ValueError(f"unknown data kind {kind!r}")


def load_split(recipe, key: str):
    """Load data.<key>, check its columns, keep the needed ones, convert to chat form (None if absent
    or not a dataset this method trains on as a table)."""
    spec = getattr(recipe.data, key)
    kind = get_method(recipe.method.name, recipe.source).datasets.get(key)
    if spec is None or kind not in ("sft", "preference"):
        return None
    ds = load_dataset_spec(spec, recipe.source, f"data.{key}")
    check_columns(ds, kind, recipe.source, f"data.{key}", spec.source)
    keep = columns_to_keep(kind, ds.column_names)
    ds = ds.remove_columns([c for c in ds.column_names if c not in keep])
    check_rows(ds, kind, recipe.source, f"data.{key}", spec.source)
    if kind == "preference":
        ds = extract_shared_prompt(ds, recipe.source, f"data.{key}")
    return to_conversational(ds)


def _load_checked(recipe, key: str, kind: str):
    spec = getattr(recipe.data, key)
    if spec is None:
        return None
    ds = load_dataset_spec(spec, recipe.source, f"data.{key}")
    check_columns(ds, kind, recipe.source, f"data.{key}", spec.source)
    check_rows(ds, kind, recipe.source, f"data.{key}", spec.source)
    return ds


def check_annotators(recipe, datasets: dict) -> None:
    """LCPO per annotator: every annotator of data.eval has a reliability learnt from data.train."""
    train, evaluation = datasets.get("train"), datasets.get("eval")
    if recipe.method.noise_model != "lcpo" or not recipe.lcpo.per_annotator or train is None or evaluation is None:
        return
    unknown_annotators(train, evaluation, recipe.source)


def unknown_annotators(train, evaluation, file) -> None:
    """Raise when `evaluation` (a datasets.Dataset) names an annotator `train` does not."""
    if "annotator" not in evaluation.column_names:
        return
    seen = {str(a) for a in train["annotator"]} if "annotator" in train.column_names else set()
    unknown = sorted({str(a) for a in evaluation["annotator"]} - seen)
    if unknown:
        raise ConfigError(file, "data.eval.annotator", f"annotators seen in the training data (unknown: {unknown[:5]})")


def check_data_columns(recipe) -> dict[str, int]:
    """Open every dataset of the recipe, check its columns and rows (the kind its METHODS entry names)
    and the method's data rules, as training does before the model; returns {key: n_rows}."""
    file = recipe.source
    method = get_method(recipe.method.name, file)
    sizes = {}
    for key, kind in method.datasets.items():
        spec = getattr(recipe.data, key)
        if spec is None:
            continue
        ds = load_dataset_spec(spec, file, f"data.{key}")
        check_columns(ds, kind, file, f"data.{key}", spec.source)
        check_rows(ds, kind, file, f"data.{key}", spec.source)
        sizes[key] = len(ds)
    build_datasets(recipe, recipe.training.get("per_device_train_batch_size", 8), recipe.training.get("seed", 42))
    return sizes


def build_datasets(recipe, batch_size: int, seed: int):
    """(train, eval) datasets of the recipe's method, its data rules applied (the ones validate applies)."""
    method = get_method(recipe.method.name, recipe.source)
    if "safety" in method.datasets:  # cadv_*: rows in fixed batch blocks
        from robalign.data.adversarial_rows import adversarial_rows

        safety = _load_checked(recipe, "safety", method.datasets["safety"])
        utility = _load_checked(recipe, "utility", method.datasets["utility"])
        return adversarial_rows(recipe, safety, utility, batch_size, seed), None
    train, evaluation = load_split(recipe, "train"), load_split(recipe, "eval")
    rules = method.data_rules()
    if rules is not None:
        rules(recipe, {k: v for k, v in (("train", train), ("eval", evaluation)) if v is not None})
    return train, evaluation
