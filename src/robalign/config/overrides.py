"""`--set key.path=value` command-line overrides, applied to the raw YAML mapping.

Values are parsed as YAML (`--set training.learning_rate=1e-5`, `--set peft=null`,
`--set training.report_to=[tensorboard]`), so they get the same types as in the file.
"""

from __future__ import annotations

from typing import Any

import yaml

from robalign.errors import ConfigError


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError("--set", text, "key.path=value")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError("--set", text, "key.path=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return parts, value


def apply_overrides(data: dict, overrides: list[str] | None) -> dict:
    """Return a copy of `data` with every `a.b.c=value` applied (intermediate mappings created)."""
    import copy

    out = copy.deepcopy(data)
    for text in overrides or []:
        parts, value = parse_override(text)
        node = out
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError("--set", ".".join(parts[: i + 1]), "a mapping to set a key in", got=repr(nxt))
            node = nxt
        node[parts[-1]] = value
    return out


def add_recipe_args(parser) -> None:
    """The recipe argument and its `--set` overrides, for every command that reads a recipe
    (`robalign train|validate`, `python -m robalign.train`): declared once, beside the overrides they feed."""
    parser.add_argument("recipe", help="recipe YAML file")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
        help="override a recipe value (YAML-parsed), e.g. --set training.learning_rate=1e-5; repeatable",
    )
