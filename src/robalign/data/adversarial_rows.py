"""Batches of adversarial training: harmful prompts, benign look-alikes and utility data.

Each per-device batch has a fixed composition (not a random mix, so every step has both an
adversarial and a utility term):

    round(B * adv_fraction)                       harmful rows   (prompt, target, refusal)
    of the rest, round(. * benign_fraction)       benign look-alikes (safety rows kind=benign -> answer)
    the remaining slots                           utility rows   (prompt/completion or messages)

Rows are laid out block by block and read sequentially (the blocks are shuffled with the seed
here), so the composition survives the Trainer's batching; with several processes each process
receives whole blocks.
"""

from __future__ import annotations

import math
import random
from typing import Sequence

import torch

from robalign.errors import ConfigError


class RowDataset(torch.utils.data.Dataset):
    """A list of dicts (prompts may be strings or message lists, which Arrow cannot mix)."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]


def utility_row(row: dict, file, key: str) -> dict:
    """{prompt, completion} from a prompt/completion row or a `messages` conversation."""
    if "messages" in row and row.get("messages") and "completion" not in row:
        msgs = list(row["messages"])
        if msgs[-1].get("role") != "assistant":
            raise ConfigError(file, key, "conversations that end with an assistant turn (the utility target)")
        return {"kind": "utility", "prompt": msgs[:-1], "completion": msgs[-1]["content"]}
    prompt, completion = row["prompt"], row["completion"]
    if isinstance(completion, list):  # conversational completion: its text
        completion = completion[-1]["content"]
    return {"kind": "utility", "prompt": prompt, "completion": completion}


def split_safety(rows: Sequence[dict], file, key: str) -> tuple[list[dict], list[dict]]:
    """(harmful, benign look-alikes) from safety rows; the `kind` column is optional (all harmful)."""
    harmful = [{"kind": "harmful", "prompt": r["prompt"], "target": r["target"], "refusal": r["refusal"]} for r in rows if r.get("kind", "harmful") != "benign"]
    benign = [{"kind": "utility", "prompt": r["prompt"], "completion": r["answer"]} for r in rows if r.get("kind") == "benign" and r.get("answer")]
    if not harmful:
        raise ConfigError(file, key, "a safety dataset with harmful rows (kind != 'benign')")
    return harmful, benign


def build_blocks(
    harmful: list[dict], benign: list[dict], utility: list[dict], batch_size: int, adv_fraction: float, benign_fraction: float,
    seed: int, file=None,
) -> list[dict]:
    """Rows in blocks of `batch_size` with the composition above; one pass over the utility data."""
    from robalign.config.adversarial import AdversarialArgs

    layout = AdversarialArgs(adv_fraction=adv_fraction, benign_fraction=benign_fraction)
    n_adv, n_benign, n_util = layout.check_layout(batch_size, bool(utility), file)
    if n_benign and not benign:
        raise ConfigError(file, "adversarial.benign_fraction", "0 when data.safety has no kind=benign rows with an answer", got=repr(benign_fraction))
    rng = random.Random(seed)
    n_blocks = max(math.ceil(len(utility) / n_util) if n_util else 0, math.ceil(len(harmful) / n_adv), 1)

    def stream(rows):
        while True:
            order = list(rows)
            rng.shuffle(order)
            yield from order

    h, b, u = stream(harmful), stream(benign) if benign else None, stream(utility) if utility else None
    out = []
    for _ in range(n_blocks):
        out += [next(h) for _ in range(n_adv)] + [next(b) for _ in range(n_benign)] + [next(u) for _ in range(n_util)]
    return out




def adversarial_rows(recipe, safety, utility, batch_size: int, seed: int) -> RowDataset:
    """The training rows of cadv_ul/cadv_ipo from the loaded data.safety and data.utility datasets
    (validate builds them too, so it refuses what training would)."""
    file, a = recipe.source, recipe.adversarial
    harmful, benign = split_safety(safety.to_list(), file, "data.safety")
    util = [utility_row(r, file, "data.utility") for r in utility.to_list()] if utility is not None else []
    return RowDataset(build_blocks(harmful, benign, util, batch_size, a.adv_fraction, a.benign_fraction, seed, file))
