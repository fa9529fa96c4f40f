"""Flags read from a config dataclass's fields (`robalign.cli.dataclass_args`): declared once, shown
in `--help` with the field's help and choices, checked by argparse and by the dataclass itself."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
from dataclasses import dataclass
from typing import Literal, Optional

import pytest

from robalign.cli.dataclass_args import CommandParser, DataclassFlags
from robalign.cli.main import build_parser, main
from robalign.config.schema import field
from robalign.errors import ConfigError
from robalign.eval.engines import EngineArgs
from robalign.eval.sampling import SamplingArgs


@dataclass
class Toy:
    rate: float = field(0.5, help="A rate in [0, 1], 100% at most.")
    mode: Literal["fast", "slow"] = field("fast", help="How to run.", choices=["fast", "slow"])
    limit: Optional[int] = field(None, help="At most this many; default: no limit.")
    verbose: bool = field(False, help="Say more.")
    colour: bool = field(True, help="Colour the output.")
    name_of_it: str = field("x", help="A name.")

    def validate(self, file, path):
        if not 0 <= self.rate <= 1:
            raise ConfigError(file, f"{path}.rate" if path else "rate", "a rate in [0, 1]", got=repr(self.rate))


TOY = DataclassFlags(Toy, ("rate", "mode", "limit", "verbose", "colour", "name_of_it"), flags={"name_of_it": "--name"}, defaults={"mode": "slow"})


def _help(parser) -> str:
    return " ".join(parser.format_help().split())  # argparse wraps lines


def _parse_error(parser, argv) -> tuple[int, list[str]]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_:
        parser.parse_args(argv)
    return exit_.value.code, err.getvalue().strip().splitlines()


def test_fields_become_flags_with_their_type_default_help_and_choices():
    p = argparse.ArgumentParser(prog="toy")
    TOY.add_to(p)
    args = p.parse_args([])
    assert (args.rate, args.mode, args.limit, args.verbose, args.colour, args.name) == (0.5, "slow", None, False, True, "x")
    args = p.parse_args(["--rate", "0.25", "--mode", "fast", "--limit", "3", "--verbose", "--no-colour", "--name", "y"])
    assert TOY.build(args) == Toy(rate=0.25, mode="fast", limit=3, verbose=True, colour=False, name_of_it="y")
    text = _help(p)
    assert "--rate RATE A rate in [0, 1], 100% at most. (default: 0.5)" in text  # '%' escaped for argparse
    assert "--mode {fast,slow} How to run. (default: slow)" in text  # the command's default, not the field's
    assert "--limit LIMIT At most this many; default: no limit." in text
    assert "--verbose Say more." in text
    assert "--colour, --no-colour" in text


def test_bad_choice_or_type_is_argparse_one_line_error_and_a_bad_value_the_dataclass_one():
    p = argparse.ArgumentParser(prog="toy")
    TOY.add_to(p)
    code, lines = _parse_error(p, ["--mode", "medium"])
    assert code == 2 and lines[-1] == "toy: error: argument --mode: invalid choice: 'medium' (choose from 'fast', 'slow')"
    code, lines = _parse_error(p, ["--limit", "many"])
    assert code == 2 and lines[-1] == "toy: error: argument --limit: invalid int value: 'many'"
    with pytest.raises(ConfigError, match=r"^command line: rate: expected a rate in \[0, 1\], got 2.0$"):
        TOY.build(p.parse_args(["--rate", "2"]))


def test_a_command_parser_imports_the_dataclass_only_when_it_is_used():
    p = CommandParser(prog="toy")
    group = DataclassFlags("robalign.eval.sampling:SamplingArgs", ("top_p",)).add_to(p, "sampling")
    group.add_argument("--own", help="A flag the command declares itself, in the same group.")
    assert not any("--top-p" in a.option_strings for a in p._actions)  # building the parser imported nothing
    assert p.parse_args(["--top-p", "0.5"]).top_p == 0.5
    text = _help(p)
    assert "Nucleus sampling mass" in text
    group_text = text.split("sampling:", 1)[1]
    assert group_text.index("--own") < group_text.index("--top-p")  # one group, the deferred flags after the command's


def _field(cls, name):
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def test_robalign_help_shows_the_dataclass_fields_help_and_choices():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "--help"])
    text = " ".join(out.getvalue().split())
    for cls, name in ((SamplingArgs, "top_p"), (SamplingArgs, "n"), (EngineArgs, "backend"),
                      (EngineArgs, "gpu_memory_utilization")):
        assert " ".join(_field(cls, name).metadata["help"].split()) in text, name
    backends = ",".join(_field(EngineArgs, "backend").metadata["choices"])
    assert f"--engine {{{backends}}}" in text


def test_robalign_bad_choice_is_one_line_and_bad_value_is_the_dataclass_check(capsys):
    code, lines = _parse_error(build_parser(), ["chat", "--model", "m", "--engine", "tgi"])
    choices = ", ".join(repr(c) for c in _field(EngineArgs, "backend").metadata["choices"])
    assert code == 2 and lines[-1] == f"robalign chat: error: argument --engine: invalid choice: 'tgi' (choose from {choices})"
    # a value argparse accepts but SamplingArgs.validate does not: robalign's one line, before any model is read
    assert main(["generate", "--model", "no/such", "--data", "no.jsonl", "--out", "x.jsonl", "--top-p", "2"]) == 2
    assert capsys.readouterr().err.strip() == "robalign generate: error: command line: top_p: expected a number in (0, 1], got 2.0"
