"""What every scorer returns (`BenchScore`) and the column check they share."""

from __future__ import annotations

from dataclasses import dataclass, field

from robalign.errors import UserError


@dataclass
class BenchScore:
    value: float
    items: list  # per-item score (float) or None when the scorer has no per-item result
    extras: dict = field(default_factory=dict)  # named metrics, e.g. {"refusal_rate": 0.9}
    details: list = field(default_factory=list)  # per-item dicts merged into items.jsonl rows
    # Per-item stratum labels when `value` is the mean of stratum means (safety: harmful and benign
    # halves weighted equally), so the ranking's item bootstrap resamples within each stratum and
    # keeps that weighting; None = `value` is the plain mean of `items`.
    strata: list | None = None


def need_columns(rows: list[dict], cols: tuple[str, ...], bench: str, scorer: str) -> None:
    missing = [c for c in cols if c not in rows[0]]
    if missing:
        raise UserError(f"benchmark {bench}: scorer {scorer!r} needs column(s) {missing} in its data; found {sorted(rows[0])}")


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")
