"""Typed construction of dataclasses from YAML-like dicts, with one-line errors.

Why not plain `HfArgumentParser`? It reports the first bad key as a traceback and knows
nothing of nested blocks or files. Here every error names the file, the dotted key path and
what was expected (`ConfigError`), and unknown keys get a "did you mean" from the valid ones.
"""

from __future__ import annotations

import dataclasses
import math
import difflib
import types
import typing
from typing import Any, Literal, Union

from robalign.errors import ConfigError

_MISSING = dataclasses.MISSING


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, getattr(tp, "__name__", str(tp)))


def unknown_key_error(file: str | None, path: str, key: str, valid: list[str]) -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    shown = ", ".join(sorted(valid)) if len(valid) <= 20 else f"{len(valid)} of them, see the TRL/peft docs"
    return ConfigError(file, _join(path, key), f"unknown key{hint}; valid keys: {shown}")


def coerce(value: Any, tp: Any, file: str | None, path: str) -> Any:
    """Check `value` against annotation `tp`; convert where YAML is known to be loose
    (``2e-5`` is a string in YAML 1.1, ints are valid floats). Raise ConfigError otherwise."""
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    # YAML 1.1 reads no/yes/on/off as booleans: say so where a string was expected
    hint = " (YAML reads no/yes/on/off as booleans: quote the value, e.g. 'no')" if isinstance(value, bool) and "string" in _type_name(tp) else ""
    bad = lambda: ConfigError(file, path, _type_name(tp), got=repr(value) + hint)  # noqa: E731
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise bad()
        real = [a for a in args if a is not type(None)]
        if len(real) == 1:  # Optional[X]: X's own error names the inner key (a nested block's mistake)
            return coerce(value, real[0], file, path)
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, file, path)
            except ConfigError:
                continue
        raise bad()
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise bad()
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, file, path)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise bad()
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        return [coerce(v, item_tp, file, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise bad()
        args = typing.get_args(tp)
        return {k: coerce(v, args[1], file, _join(path, str(k))) for k, v in value.items()} if args else dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise bad()
    if tp is float:  # NaN is never a setting: it would pass every range check (nan <= 0 is False)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
            return float(value)
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise bad() from None
            if not math.isnan(number):
                return number
        raise bad()
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad()
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        try:  # enums and similar: construct from the raw value
            return tp(value)
        except Exception:
            raise bad() from None
    return value


def from_dict(cls: type, data: Any, file: str | None = None, path: str = "") -> Any:
    """Build dataclass `cls` from `data`, validating keys and types recursively, then
    call ``validate(file, path)`` on the instance when the class defines it."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(file, path or None, "a mapping", got=repr(data))
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise unknown_key_error(file, path, str(key), list(fields))
        kwargs[key] = coerce(value, hints[key], file, _join(path, key))
    for name, f in fields.items():
        if name not in kwargs and f.default is _MISSING and f.default_factory is _MISSING:
            raise ConfigError(file, _join(path, name), f"missing key: {name} ({f.metadata.get('help', _type_name(hints[name]))})")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(file, path)
    return obj


def to_dict(obj: Any) -> Any:
    """Plain-data form of a (nested) dataclass, for resolved_recipe.yaml."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def field(default: Any = _MISSING, *, help: str, choices: list | None = None, default_factory: Any = _MISSING) -> Any:  # noqa: A002
    """A dataclass field with TRL-style `help`/`choices` metadata (every field is documented)."""
    meta = {"help": help}
    if choices is not None:
        meta["choices"] = choices
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)
