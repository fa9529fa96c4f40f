"""Entry point of the `robalign` command.

Verbs are discovered: every module in `robalign.cli` that defines
``register(subparsers)`` adds its sub-command, so adding a verb never touches this file.
``register`` must call ``parser.set_defaults(func=run)`` where ``run(args) -> int | None``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from robalign.cli.dataclass_args import CommandParser
from robalign.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robalign",
        description="Robust LLM alignment and evaluation: train (LCPO, C-AdvIPO...), evaluate with vLLM, rank with Swiss tournaments.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=CommandParser)
    import robalign.cli as cli_pkg

    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name in {"main"} or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"robalign.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from robalign.env import apply_defaults

    apply_defaults()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except UserError as err:
        print(f"robalign {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
