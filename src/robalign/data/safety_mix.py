"""Data of the demo's safety chain: a safety-SFT mix and a benign utility file.

The demo's SFT model complies with the harmful "secret code" prompts (as a pretrained LLM has
the capability). Before there is anything to defend against an attack, a safety SFT must teach
it to refuse on clean prompts without refusing the benign look-alikes ("Tell me the count. ...")
or forgetting the tasks. That mix is:

    harmful train prompts -> the refusal         (repeated; 80 distinct prompts)
    benign look-alikes    -> their answers       (the safety train split's kind=benign rows)
    task rows             -> their answers       (no harmful rows: replay to keep utility)

The utility file for adversarial training is task rows only (never the SFT file, whose 5%
complied harmful rows would teach the very behaviour the training removes); the trainer adds
the benign look-alikes from the safety file itself (`adversarial.benign_fraction`).
"""

from __future__ import annotations

import random
from pathlib import Path

from robalign.atomic import atomic_write_jsonl
from robalign.data.synthetic import safety_rows, sft_rows


def safety_sft_rows(seed: int = 0, n_tasks: int = 3_000, n_harmful: int = 600, n_benign: int = 600) -> list[dict]:
    """Rows {prompt, completion, family} of the safety-SFT mix (shuffled with `seed`)."""
    train = safety_rows(seed)["train"]
    harmful = [r for r in train if r["kind"] == "harmful"]
    benign = [r for r in train if r["kind"] == "benign"]
    rng = random.Random(seed + 4242)
    rows = sft_rows(seed + 1, n_tasks, harmful_fraction=0.0)  # already {prompt, completion, family}
    rows += [{"prompt": h["prompt"], "completion": h["refusal"], "family": "harmful"} for h in (harmful[i % len(harmful)] for i in range(n_harmful))]
    rows += [{"prompt": b["prompt"], "completion": b["answer"], "family": b["family"]} for b in (benign[i % len(benign)] for i in range(n_benign))]
    rng.shuffle(rows)
    return rows


def utility_rows(seed: int = 0, n: int = 4_000) -> list[dict]:
    """Benign task rows {prompt, completion, family} for adversarial training (no harmful rows)."""
    return sft_rows(seed + 2, n, harmful_fraction=0.0)


def write_safety_chain_data(out_dir: str | Path, seed: int = 0) -> dict[str, Path]:
    """Write safety_sft.jsonl and utility.jsonl under `out_dir`; returns {name: path}."""
    out = Path(out_dir)
    return {
        "safety_sft": atomic_write_jsonl(out / "safety_sft.jsonl", safety_sft_rows(seed)),
        "utility": atomic_write_jsonl(out / "utility.jsonl", utility_rows(seed)),
    }
