"""Every `robalign` command in the README and docs/*.md parses with today's CLI.

The docs show one example per verb; a renamed flag or verb must fail here rather than in a
user's shell. Only parsing runs (argparse: verbs, flags, required arguments, choices): the paths
in the examples need not exist.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from robalign.cli.main import build_parser

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# A command line in a ```bash block: robalign at the start, after `$ `, or after a pipe.
COMMAND = re.compile(r"(?:^|^\$ |\|\s*)(?:\.venv/bin/)?robalign\s+(\S.*)$")


def _bash_commands(path: Path) -> list[tuple[str, int, str]]:
    """(file, line, command after `robalign`) of every robalign command in a bash code block."""
    found, in_bash, pending, start = [], False, "", 0
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("```"):
            in_bash = line.strip() in ("```bash", "```sh", "```console")
            continue
        if not in_bash:
            continue
        if not pending:
            start = n
        pending += line.rstrip("\\").strip() + " " if line.rstrip().endswith("\\") else line.strip()
        if line.rstrip().endswith("\\"):
            continue
        m = COMMAND.search(pending)
        if m:
            found.append((path.name, start, m.group(1)))
        pending = ""
    return found


CASES = [c for p in DOCS for c in _bash_commands(p)]


def test_the_docs_show_every_verb():
    verbs = {shlex.split(cmd, comments=True)[0] for _, _, cmd in CASES}
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")  # argparse keeps subparsers here
    assert set(sub.choices) <= verbs, f"verbs without an example in README.md or docs/: {sorted(set(sub.choices) - verbs)}"


@pytest.mark.parametrize(("file", "line", "command"), CASES, ids=[f"{f}:{n}" for f, n, _ in CASES])
def test_command_parses(file, line, command):
    argv = shlex.split(command, comments=True)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{file}:{line}: robalign {command}\n{err.getvalue().strip()}")
