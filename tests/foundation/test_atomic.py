"""Atomic writes: readable by others as open() would make them (mkstemp alone gives 0600), no temp left."""

from __future__ import annotations

import os
import stat

import pytest

from robalign.atomic import atomic_write_json, atomic_write_text


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_atomic_write_respects_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.md", "x\n")
        atomic_write_json(tmp_path / "b.json", {"a": 1})
        with open(tmp_path / "plain.txt", "w") as fh:  # what an ordinary write gives, for comparison
            fh.write("x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.md") == _mode(tmp_path / "b.json") == _mode(tmp_path / "plain.txt") == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md", "b.json", "plain.txt"]  # no temp file left


def test_atomic_rewrite_of_a_0600_file_makes_it_readable(tmp_path):
    """Files written 0600 by earlier versions are fixed by the next write."""
    path = tmp_path / "leaderboard.json"
    path.write_text("{}")
    path.chmod(0o600)
    old = os.umask(0o022)
    try:
        atomic_write_json(path, {"rows": []})
    finally:
        os.umask(old)
    assert _mode(path) == 0o644 and "rows" in path.read_text()
