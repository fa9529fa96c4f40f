"""Read a prompts file (JSONL with a `prompt` column) with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from robalign.errors import UserError


def read_jsonl(path: str | Path, *, need: tuple[str, ...] = ("prompt",), what: str = "prompts file") -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} not found: {path}")
    if p.is_dir():
        raise UserError(f"{what} {path} is a folder; expected a JSONL file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text (byte {err.start}); expected a JSONL file") from None
    rows = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}: line {i} is not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}: line {i}: expected a JSON object with a 'prompt' field")
        missing = [c for c in need if c not in row]
        if missing:
            raise UserError(f"{path}: line {i}: missing column(s) {missing}; found {sorted(row)}")
        if "prompt" in need and not (isinstance(row["prompt"], str) and row["prompt"].strip()):
            raise UserError(f"{path}: line {i}: 'prompt' must be non-empty text, got {str(row['prompt'])[:40]!r}")
        rows.append(row)
    if not rows:
        raise UserError(f"{what} {path} is empty; expected one JSON object per line")
    return rows
