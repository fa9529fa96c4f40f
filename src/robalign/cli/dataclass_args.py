"""Command-line flags declared once, on a config dataclass: its fields' type, default, help and choices.

The options a command shares with a config block (`SamplingArgs` of `robalign generate` and a
tournament's `sampling:`, `EngineArgs` of its `engine:`, `RankingArgs` of `robalign rank` and
`ranking:`) are read from the dataclass's fields (`robalign.config.schema.field` metadata), the
way vLLM's `EngineArgs.add_cli_args` does, instead of being re-declared per command: a field's
flag is ``--kebab-case`` of its name, its type the annotation (``Optional[X]`` -> X), its choices
the metadata's (or the ``Literal``'s), a False bool a ``store_true`` switch (a True one
``--x/--no-x``). A command picks the fields it exposes and may rename a flag (``backend`` ->
``--engine``) or set its own default (`chat` decodes 128 tokens); `build` turns the parsed
values back into the dataclass through `from_dict`, so the block's own checks and one-line
errors apply to flags and YAML alike.

Why not `transformers.HfArgumentParser`: it builds a whole parser from whole dataclasses (no
subset per sub-command, no renamed flag such as ``--engine`` or ``-n``, no per-command default),
its bools take a value (``--enforce_eager true``) where robalign's flags are switches, it
constructs the dataclass without `validate`, and importing transformers costs seconds. Nor are
the dataclasses imported when the parser is built: every `robalign` command (``--help``
included) would pay for importing every command's config modules. `CommandParser`, the parser of
each sub-command, adds the fields' flags the first time it parses or prints its help.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, Union


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser that runs deferred additions (`DataclassFlags.add_to`) before it is first used."""

    def __init__(self, *args, **kwargs):
        self._deferred: list[Callable[[], None]] = []
        super().__init__(*args, **kwargs)

    def defer(self, add: Callable[[], None]) -> None:
        self._deferred.append(add)

    def _add_deferred(self) -> None:
        while self._deferred:
            self._deferred.pop(0)()

    def parse_known_args(self, args=None, namespace=None):
        self._add_deferred()
        return super().parse_known_args(args, namespace)

    def format_usage(self):
        self._add_deferred()
        return super().format_usage()

    def format_help(self):
        self._add_deferred()
        return super().format_help()


def _resolve(source: str | type) -> type:
    """The dataclass, given itself or as "module:Name" (imported only when the flags are needed)."""
    if isinstance(source, str):
        module, _, name = source.partition(":")
        source = getattr(importlib.import_module(module), name)
    if not dataclasses.is_dataclass(source):
        raise TypeError(f"{source!r} is not a dataclass")
    return source


def _flag_type(tp: Any) -> tuple[Any, tuple | None]:
    """(argparse type, Literal choices or None) of a field annotation; Optional[X] is X."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        real = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(real) != 1:
            raise TypeError(f"no command-line flag for a union of {real}")
        return _flag_type(real[0])
    if origin is Literal:
        values = typing.get_args(tp)
        return type(values[0]), values
    if tp in (int, float, str, bool):
        return tp, None
    raise TypeError(f"no command-line flag for a field of type {tp!r}")


def _dest(flag: str) -> str:
    """The attribute argparse stores a flag under (``--top-p`` -> top_p, ``-n`` -> n)."""
    return flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class DataclassFlags:
    """Some fields of one dataclass as the flags of a command.

    source     the dataclass, or "module:Name" to import it only when the command is parsed
    fields     the field names to expose, in the order of `--help`
    flags      field -> option string where it is not ``--kebab-case`` of the name
    defaults   field -> this command's default where it is not the field's
    """

    source: str | type
    fields: tuple[str, ...]
    flags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def but(self, **changes) -> DataclassFlags:
        """A copy with other fields, flags or defaults (another command's view of the same block)."""
        return dataclasses.replace(self, **changes)

    def flag(self, name: str) -> str:
        return self.flags.get(name, "--" + name.replace("_", "-"))

    def add_to(self, parser: argparse.ArgumentParser, title: str | None = None):
        """Add the flags (into an argument group `title`, placed in `--help` where this is called);
        on a `CommandParser` the dataclass is imported when the command is first parsed. Returns
        the group (or the parser), for the command's own flags of the same block."""
        target = parser.add_argument_group(title) if title else parser
        if isinstance(parser, CommandParser):
            parser.defer(lambda: self._add(target))
        else:
            self._add(target)
        return target

    def _add(self, target) -> None:
        cls = _resolve(self.source)
        by_name = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        for name in self.fields:
            f = by_name[name]  # a KeyError here is a typo in the command's field list
            tp, literal = _flag_type(hints[name])
            if name in self.defaults:
                default = self.defaults[name]
            elif f.default is not dataclasses.MISSING:
                default = f.default
            else:
                raise TypeError(f"{cls.__name__}.{name} has no default to give its flag")
            text = f.metadata.get("help", "")
            if tp is not bool and default is not None and "default" not in text.lower():  # BooleanOptionalAction adds its own
                text = f"{text.rstrip()} (default: {default})"
            kwargs: dict[str, Any] = {"default": default, "help": text.replace("%", "%%")}
            if tp is bool:
                kwargs["action"] = argparse.BooleanOptionalAction if default else "store_true"
            else:
                if tp is not str:  # argparse keeps strings as they are
                    kwargs["type"] = tp
                choices = f.metadata.get("choices", literal)
                if choices is not None:
                    kwargs["choices"] = list(choices)
            target.add_argument(self.flag(name), **kwargs)

    def values(self, args: argparse.Namespace) -> dict[str, Any]:
        """{field: parsed value} of the exposed fields."""
        return {name: getattr(args, _dest(self.flag(name))) for name in self.fields}

    def build(self, args: argparse.Namespace, **extra: Any) -> Any:
        """The dataclass from the parsed flags (+ `extra` fields set by the command itself), checked
        by `from_dict` and the class's `validate`: a bad value is one line naming the field."""
        from robalign.config.schema import from_dict

        return from_dict(_resolve(self.source), {**self.values(args), **extra}, "command line", "")
