"""Shared argparse pieces for verbs that read a recipe."""

from __future__ import annotations

import argparse


def add_recipe_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe YAML file")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
        help="override a recipe value (YAML-parsed), e.g. --set training.learning_rate=1e-5; repeatable",
    )
