"""Guard rails for the code's shape (issue 11), run by `make test`.

ruff with the rule set in pyproject.toml, and import-linter's contracts there (the package layering
of docs/architecture.md, no import cycles, evaluation independent of training, pure losses/ranking).
A new violation fails here with the tool's own report naming the file and the import.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _lint_imports(config: Path) -> subprocess.CompletedProcess:
    # --no-cache: nothing written into the checkout.
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return _run("-c", code, str(config), "--no-cache", "--show-timings")


def test_ruff():
    r = _run("-m", "ruff", "check", "--no-cache", "src", "tests", "scripts")
    assert r.returncode == 0, r.stdout + r.stderr


def test_import_contracts():
    r = _lint_imports(PYPROJECT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout, r.stdout


def test_each_ignored_import_is_a_current_violation(tmp_path):
    """The `ignore_imports` lists are the work left (issue 11). Each contract must break without its
    list, so a list cannot hide a contract that checks nothing, and a listed import that is gone fails
    too (lint-imports itself errors on it as well): an exemption must not outlive its violation."""
    import grimp

    config = tomllib.loads(PYPROJECT.read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    graph = grimp.build_graph("robalign", cache_dir=None)
    stale = []
    for c in contracts:
        for imp in c.get("ignore_imports", []):
            importer, imported = (s.strip() for s in imp.split("->"))
            present = importer in graph.modules and imported in graph.modules
            if not (present and graph.direct_import_exists(importer=importer, imported=imported)):
                stale.append(f"contract {c['name']!r}: {imp}")
    assert not stale, "pyproject.toml ignore_imports lists imports nothing makes any more (delete them): " + "; ".join(stale)
    for c in contracts:
        if not c.get("ignore_imports"):
            continue
        alone = {k: v for k, v in config["tool"]["importlinter"].items() if k != "contracts"}
        alone["contracts"] = [{k: v for k, v in c.items() if k != "ignore_imports"}]
        stripped = tmp_path / "pyproject.toml"
        stripped.write_text(_to_toml(alone))
        r = _lint_imports(stripped)
        assert r.returncode != 0, (f"pyproject.toml: contract {c['name']!r} holds without its ignore_imports: "
                                  f"every listed import is gone, delete the list\n{r.stdout}")


def _to_toml(il: dict) -> str:
    """A [tool.importlinter] table back as TOML (strings, booleans, lists of strings: what it holds)."""
    lines = ["[tool.importlinter]"]
    lines += [f"{k} = {_value(v)}" for k, v in il.items() if k != "contracts"]
    for c in il["contracts"]:
        lines += ["", "[[tool.importlinter.contracts]]"] + [f"{k} = {_value(v)}" for k, v in c.items()]
    return "\n".join(lines) + "\n"


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"unexpected value in [tool.importlinter]: {v!r}")
