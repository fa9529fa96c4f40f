"""Read a recipe file into a validated `Recipe` (one clear line per mistake).

Checks, in order: the file exists and is YAML; overrides apply; every key is known and typed
right (`schema.from_dict`); `training` keys are fields of the method's TRL config and `peft`
keys fields of `peft.LoraConfig`; local paths exist. `check_data_columns` then opens each
dataset and checks the columns the method needs (it reads data, so it is a separate step).
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import yaml

from robalign.config.overrides import apply_overrides
from robalign.config.recipe import Recipe
from robalign.config.schema import coerce, from_dict, unknown_key_error
from robalign.errors import ConfigError

class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, but a key given twice in one mapping is an error: PyYAML silently keeps
    the last one, so a second `training:` block would drop the first without a word."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} appears twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(str(path), None, f"file not found: {path}")
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except UnicodeDecodeError as err:
        raise ConfigError(str(path), None, f"a UTF-8 text file (byte {err.start} is not UTF-8)") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else None
        raise ConfigError(str(path), where, f"valid YAML ({getattr(err, 'problem', None) or err})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), None, "a YAML mapping of blocks (model, data, method, training, ...)")
    return data


def training_config_class(method: str, loss_type: str = "dpo"):
    """The TRL config dataclass whose fields the `training:` block may use (the METHODS entry's)."""
    from robalign.config.methods import get_method

    return get_method(method).training_config_class()


def _check_fields(block: dict, cls, file: str, path: str, extra: dict | None = None, only: set[str] | None = None,
                  why_not: str = "", elsewhere: frozenset[str] = frozenset()) -> dict:
    """Type-check `block` against the fields of dataclass `cls`; `only` restricts the accepted fields
    (a field outside it, or a key of `elsewhere` (other trainers' fields): "no such setting" + `why_not`)."""
    names = {f.name: f for f in dataclasses.fields(cls) if f.init}
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # exotic annotations upstream: fall back to key checks only
        hints = {}
    extra = extra or {}
    out = {}
    for key, value in block.items():
        if key in extra:
            out[key] = coerce(value, extra[key], file, f"{path}.{key}")
        elif key in names and only is not None and key not in only:
            raise ConfigError(file, f"{path}.{key}", f"no such setting {why_not}", got=repr(value))
        elif key in names:
            tp = hints.get(key, typing.Any)
            try:
                out[key] = coerce(value, tp, file, f"{path}.{key}")
            except ConfigError:
                if typing.get_origin(tp) is None and tp not in (int, float, bool, str):
                    out[key] = value  # a type we do not model (enum, callable...): let TRL check it
                else:
                    raise
        elif key in elsewhere:
            raise ConfigError(file, f"{path}.{key}", f"no such setting {why_not}", got=repr(value))
        else:
            raise unknown_key_error(file, path, key, list(names) + list(extra))
    return out


def _training_fields() -> frozenset[str]:
    """Every field of every method's training config (a TRL key another method reads is "not read here", not unknown)."""
    from robalign.config.methods import METHODS

    return frozenset(f.name for m in METHODS.values() for f in dataclasses.fields(m.training_config_class()) if f.init)


def load_recipe(path: str | Path, overrides: list[str] | None = None, check_paths: bool = True) -> Recipe:
    """Parse, override and validate a recipe. Raises ConfigError (one line) on any mistake."""
    file = str(path)
    raw = apply_overrides(read_yaml(path), overrides)
    from robalign.config.handbook import from_flat, looks_flat

    if looks_flat(raw):  # a flat TRL / alignment-handbook config: mapped onto the blocks (config/handbook.py)
        raw = from_flat(raw, file)
    if "model" not in raw:
        raise ConfigError(file, "model", "missing key: model (a block with model_name_or_path)")
    recipe = from_dict(Recipe, raw, file)
    recipe.source = file
    from robalign.config.methods import get_method

    spec = get_method(recipe.method.name, file)
    recipe.training = _check_fields(recipe.training, spec.training_config_class(), file, "training", only=spec.training_keys(),
                                    why_not=f"for method {spec.name}: its trainer does not read it", elsewhere=_training_fields())
    if recipe.peft is not None:
        from peft import LoraConfig

        recipe.peft = _check_fields(recipe.peft, LoraConfig, file, "peft")
    if "output_dir" not in recipe.training:
        raise ConfigError(file, "training.output_dir", "missing key: output_dir (where the run writes its outputs)")
    out = recipe.training["output_dir"]
    if not isinstance(out, str) or not out.strip():  # TRL would silently write to ./trainer_output
        raise ConfigError(file, "training.output_dir", "a folder path (where the run writes its outputs)", got=repr(out))
    _check_method_data(recipe, file)
    if check_paths:
        _check_paths(recipe, file)
    from robalign.config.rules import check_rules

    check_rules(recipe)
    return recipe


def _check_method_data(recipe: Recipe, file: str) -> None:
    """The datasets the METHODS entry requires are given, and no other is."""
    from robalign.config.methods import get_method

    spec = get_method(recipe.method.name, file)
    for key in spec.required:
        if getattr(recipe.data, key) is None:
            raise ConfigError(file, f"data.{key}", f"missing key: data.{key} (method {spec.name} needs it)")
    for f in dataclasses.fields(recipe.data):
        if getattr(recipe.data, f.name) is not None and f.name not in spec.datasets:
            raise ConfigError(file, f"data.{f.name}", f"no such dataset for {spec.name}: {spec.other_data_hint}")


def _check_paths(recipe: Recipe, file: str) -> None:
    from robalign.sources import check_model_source, check_source, is_local

    for key in ("model_name_or_path", "tokenizer_name_or_path", "ref_model_name_or_path"):
        value = getattr(recipe.model, key)
        if value:
            check_source(value, file, f"model.{key}")
            if key != "tokenizer_name_or_path" and is_local(value):
                check_model_source(value, f"{file}: model.{key}")
    for key in ("train", "eval", "safety", "utility"):
        spec = getattr(recipe.data, key)
        if spec is not None:
            for k, path in enumerate(spec.paths):
                check_source(path, file, f"data.{key}.path" if spec.path is not None else f"data.{key}.mixture[{k}].path")
    if recipe.launch.config_file and not Path(recipe.launch.config_file).exists():
        raise ConfigError(file, "launch.config_file", f"file not found: {recipe.launch.config_file}")
