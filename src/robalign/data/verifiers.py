"""Programmatic verifiers: is a model's output the right answer?

Exact match after whitespace normalisation, and numeric match for number answers. The model's
output is cut at the first newline (one-line answers) so trailing chatter is not rewarded.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


def normalise(text: str) -> str:
    """First line, whitespace collapsed."""
    first = text.strip().split("\n", 1)[0] if text.strip() else ""
    return " ".join(first.split())


def exact_match(output: str, answer: str) -> bool:
    return normalise(output) == normalise(answer)


def numeric_match(output: str, answer: str) -> bool:
    """Numbers compare by value ("07" == "7"); anything that is not a number never matches."""
    out, ans = normalise(output).replace(" ", ""), normalise(answer).replace(" ", "")
    if not (_NUMBER.match(out) and _NUMBER.match(ans)):
        return False
    return float(out) == float(ans)


def regex_match(output: str, pattern: str) -> bool:
    return re.search(pattern, output) is not None


NUMERIC_FAMILIES = {"count", "max", "add"}


def verify(family: str, output: str, answer: str) -> bool:
    """The verifier of a synthetic task family."""
    if family in NUMERIC_FAMILIES:
        return numeric_match(output, answer)
    return exact_match(output, answer)
