"""Verifiable synthetic task families.

Each family generates prompts whose right answer a program can check exactly, and a
*near-miss* wrong answer (the rejected side of a preference pair). The formats were chosen
so a ~1M-parameter model can learn them from scratch on two CPU cores: digits are single
tokens (the tokenizer splits digits) and letters are separated by spaces, so the model never
has to spell a BPE chunk.

`closeness` in [0, 1] says how hard a wrong answer is to tell from the right one (1 = a
one-token difference in a long answer). Instance-dependent label noise flips close pairs
more often, as human annotators do.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Callable

LETTERS = string.ascii_lowercase


@dataclass(frozen=True)
class Example:
    """One task instance: the user prompt, its right answer, and a near-miss wrong answer."""

    family: str
    prompt: str
    answer: str
    wrong: str
    closeness: float


def _spaced(items) -> str:
    return " ".join(str(i) for i in items)


def _swap_adjacent(items: list, rng: random.Random) -> list:
    out = list(items)
    candidates = [i for i in range(len(out) - 1) if out[i] != out[i + 1]]
    if not candidates:  # all equal: change one element instead
        j = rng.randrange(len(out))
        out[j] = (out[j] + 1) % 10 if isinstance(out[j], int) else LETTERS[(LETTERS.index(out[j]) + 1) % 26]
        return out
    i = rng.choice(candidates)
    out[i], out[i + 1] = out[i + 1], out[i]
    return out


def _sort(rng: random.Random) -> Example:
    n = rng.randint(3, 7)
    xs = [rng.randint(0, 9) for _ in range(n)]
    answer = sorted(xs)
    wrong = _swap_adjacent(answer, rng)
    return Example("sort", f"Sort: {_spaced(xs)}", _spaced(answer), _spaced(wrong), closeness=1 - 1 / n)


def _reverse(rng: random.Random) -> Example:
    n = rng.randint(3, 7)
    word = [rng.choice(LETTERS[:12]) for _ in range(n)]
    answer = word[::-1]
    wrong = _swap_adjacent(answer, rng)
    return Example("reverse", f"Reverse: {_spaced(word)}", _spaced(answer), _spaced(wrong), closeness=1 - 1 / n)


def _count(rng: random.Random) -> Example:
    n = rng.randint(4, 9)
    target = rng.choice(LETTERS[:6])
    word = [rng.choice(LETTERS[:6]) for _ in range(n)]
    k = word.count(target)
    delta = rng.choice([-1, 1]) if k > 0 else 1
    return Example("count", f"Count {target} in: {_spaced(word)}", str(k), str(k + delta), closeness=1 - 1 / n)


def _max(rng: random.Random) -> Example:
    n = rng.randint(3, 7)
    xs = rng.sample(range(10), n)
    ranked = sorted(xs, reverse=True)
    gap = ranked[0] - ranked[1]
    return Example("max", f"Max: {_spaced(xs)}", str(ranked[0]), str(ranked[1]), closeness=1 / gap)


def _add(rng: random.Random) -> Example:
    a, b = rng.randint(10, 49), rng.randint(10, 49)
    delta = rng.choice([-10, -1, 1, 10])
    return Example("add", f"Add: {a} + {b}", str(a + b), str(a + b + delta), closeness=1.0 if abs(delta) == 1 else 0.5)


FAMILIES: dict[str, Callable[[random.Random], Example]] = {
    "sort": _sort,
    "reverse": _reverse,
    "count": _count,
    "max": _max,
    "add": _add,
}


def answer_closeness(family: str, answer: str, wrong: str) -> float:
    """How hard `wrong` is to tell from the right `answer`, in [0, 1], for any wrong answer (a
    model's own, not only the generators' near misses), on the generators' scale: numbers by
    1 / |difference| (max's 1 / gap; one off = 1), token lists by the share of matching tokens
    (an adjacent swap in n tokens = 1 - 1/n, as `_sort`); text that is not a number is 0-close."""
    from difflib import SequenceMatcher

    from robalign.data.verifiers import NUMERIC_FAMILIES, normalise

    a, w = normalise(answer), normalise(wrong)
    if family in NUMERIC_FAMILIES:
        try:
            gap = abs(float(a.replace(" ", "")) - float(w.replace(" ", "")))
        except ValueError:
            return 0.0
        return 1.0 if gap <= 1 else 1.0 / gap
    return SequenceMatcher(None, a.split(), w.split(), autojunk=False).ratio()


def generate(family: str, rng: random.Random) -> Example:
    """Draw one example of `family` from `rng`."""
    try:
        return FAMILIES[family](rng)
    except KeyError:
        raise ValueError(f"unknown task family {family!r}; expected one of {sorted(FAMILIES)}") from None
