"""Input checks shared by the ranking functions.

Every ranking entry point takes user data (a score table read from a CSV, round groups typed on
the command line), so a mistake must surface as ONE clear :class:`~robalign.errors.UserError`
naming what was expected, never as a numpy broadcasting error three calls deeper.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from robalign.errors import UserError


def as_score_matrix(scores, *, name: str = "scores", allow_nan: bool = False, min_models: int = 2) -> np.ndarray:
    """Return ``scores`` as a float64 array of shape (n_models, n_columns), or raise UserError.

    ``allow_nan`` is for per-item tables where NaN means "this model did not answer this item";
    aggregate score tables must be complete (a NaN would silently lose every match it touches).
    """
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise UserError(f"{name} must be a numeric matrix (n_models x n_benchmarks): {err}") from None
    if arr.ndim != 2:
        raise UserError(f"{name} must be a 2-D matrix (n_models x n_benchmarks), got an array of shape {arr.shape}")
    if arr.shape[0] < min_models:
        raise UserError(f"{name} has {arr.shape[0]} model(s); expected at least {min_models} models (rows) to rank")
    if arr.shape[1] < 1:
        raise UserError(f"{name} has no benchmark columns; expected at least one")
    if np.isinf(arr).any():
        i, j = np.argwhere(np.isinf(arr))[0]
        raise UserError(f"{name}[{i}, {j}] is infinite; expected finite numbers")
    if not allow_nan and np.isnan(arr).any():
        i, j = np.argwhere(np.isnan(arr))[0]
        raise UserError(
            f"{name}[{i}, {j}] is NaN; expected a score for every model and benchmark (fill it in or drop the column)"
        )
    return arr


def as_int(value, name: str, *, minimum: int) -> int:
    """``value`` as a Python int >= ``minimum`` (bools and floats are refused: ``eliminate=True`` is a typo)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise UserError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise UserError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def as_rounds(rounds, n_columns: int) -> list[list[int]]:
    """Validate round groups: a non-empty list of non-empty lists of column indices in [0, n_columns)."""
    if isinstance(rounds, np.ndarray):
        rounds = rounds.tolist()
    if isinstance(rounds, (str, bytes)) or not isinstance(rounds, Sequence) or len(rounds) == 0:
        raise UserError(f"rounds must be a non-empty list of benchmark-column groups, e.g. [[0, 1], [2]]; got {rounds!r}")
    out: list[list[int]] = []
    for r, group in enumerate(rounds, start=1):
        if isinstance(group, np.ndarray):
            group = group.tolist()
        if isinstance(group, numbers.Integral) and not isinstance(group, (bool, np.bool_)):
            group = [group]  # a bare column index is a one-benchmark round
        if isinstance(group, (str, bytes)) or not isinstance(group, Sequence) or len(group) == 0:
            raise UserError(f"round {r} must be a non-empty list of benchmark column indices, got {group!r}")
        cols: list[int] = []
        for c in group:
            if isinstance(c, (bool, np.bool_)) or not isinstance(c, numbers.Integral):
                raise UserError(f"round {r} names benchmark column {c!r}; expected an integer column index")
            if not 0 <= c < n_columns:
                raise UserError(
                    f"round {r} names benchmark column {c}, but the score matrix has {n_columns} column(s) (valid: 0..{n_columns - 1})"
                )
            if c in cols:
                raise UserError(f"round {r} lists benchmark column {c} twice; expected each column at most once per round")
            cols.append(int(c))
        out.append(cols)
    return out


def round_scores(scores: np.ndarray, rounds: list[list[int]]) -> np.ndarray:
    """Match score of every model in every round: the mean over the round's columns. Shape (n_rounds, n_models)."""
    return np.stack([scores[:, cols].mean(axis=1) for cols in rounds])
