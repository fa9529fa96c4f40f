"""Datasets for a recipe's method, in the form the TRL trainers expect.

Plain-string columns become single-turn chat messages (`to_conversational`) so the model's
chat template is applied by TRL exactly as at inference. Columns the method does not use are
dropped here, explicitly, except the preference extras robalign understands:
`label_flipped` (known noise, for diagnostics), `annotator` (per-annotator reliability) and
`weight` (a per-pair prior on reliability).
"""

from __future__ import annotations

from robalign.data.loading import check_columns, check_rows, extract_shared_prompt, load_dataset_spec, to_conversational

PREFERENCE_EXTRAS = ("label_flipped", "annotator", "weight")


def _kind(method: str) -> str:
    if method == "sft":
        return "sft"
    if method == "cadv_ul":
        return "utility"
    return "preference"


def columns_to_keep(kind: str, names: list[str]) -> list[str]:
    if kind in ("sft", "utility"):
        return ["messages"] if "messages" in names and "completion" not in names else [c for c in ("prompt", "completion") if c in names]
    if kind == "preference":
        return [c for c in ("prompt", "chosen", "rejected", *PREFERENCE_EXTRAS) if c in names]
    raise ValueError(f"unknown data kind {kind!r}")


def load_split(recipe, key: str):
    """Load data.<key>, check its columns, keep the needed ones, convert to chat form."""
    spec = getattr(recipe.data, key)
    if spec is None:
        return None
    kind = _kind(recipe.method.name)
    ds = load_dataset_spec(spec, recipe.source, f"data.{key}")
    check_columns(ds, kind, recipe.source, f"data.{key}", spec.source)
    keep = columns_to_keep(kind, ds.column_names)
    ds = ds.remove_columns([c for c in ds.column_names if c not in keep])
    check_rows(ds, kind, recipe.source, f"data.{key}", spec.source)
    if kind == "preference":
        ds = extract_shared_prompt(ds, recipe.source, f"data.{key}")
    return to_conversational(ds)
