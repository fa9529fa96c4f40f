"""Builders of the synthetic datasets (SFT, noisy preferences, benchmarks, safety).

All randomness flows from one seed through named streams, so every file is reproducible on
its own. Benchmark prompts are drawn first and excluded from every training file: the
evaluation suite is genuinely held out.
"""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import numpy as np

from robalign.atomic import atomic_write_jsonl
from robalign.data.noise import NOISE_KINDS, draw_flips
from robalign.data.safety import (
    HARMFUL_TARGET,
    REFUSAL,
    benign_examples,
    harmful_prompts,
    split_objects,
)
from robalign.data.tasks import FAMILIES, Example, generate


def _rng(seed: int, stream: str) -> random.Random:
    return random.Random(seed * 1_000_003 + zlib.crc32(stream.encode()))


def _draw(family: str, rng: random.Random, n: int, exclude: set[str], max_tries: int = 200) -> list[Example]:
    """`n` examples of a family whose prompts are not in `exclude` (duplicates allowed otherwise)."""
    out: list[Example] = []
    tries = 0
    while len(out) < n:
        ex = generate(family, rng)
        if ex.prompt in exclude:
            tries += 1
            if tries > max_tries * n:
                raise RuntimeError(f"cannot draw {n} held-out-free examples of {family}")
            continue
        out.append(ex)
    return out


def benchmark_rows(seed: int = 0, n_per_family: int = 100) -> dict[str, list[dict]]:
    """Held-out benchmark split: {family: [{prompt, answer, family}]} with unique prompts."""
    bench: dict[str, list[dict]] = {}
    for family in sorted(FAMILIES):
        rng, seen, rows = _rng(seed, f"bench/{family}"), set(), []
        for _ in range(n_per_family * 50):
            ex = generate(family, rng)
            if ex.prompt not in seen:
                seen.add(ex.prompt)
                rows.append({"prompt": ex.prompt, "answer": ex.answer, "family": family})
            if len(rows) == n_per_family:
                break
        bench[family] = rows
    return bench


def _held_out(seed: int) -> set[str]:
    return {r["prompt"] for rows in benchmark_rows(seed).values() for r in rows}


def sft_rows(seed: int = 0, n: int = 20_000, harmful_fraction: float = 0.05) -> list[dict]:
    """Chat SFT rows {prompt, completion, family}: the tasks, plus (by default 5%) the harmful
    behaviour *complied with* — the base model must have the capability an attack elicits,
    as a pretrained LLM does; safety training then teaches it to refuse."""
    rng, exclude = _rng(seed, "sft"), _held_out(seed)
    fams = sorted(FAMILIES)
    n_harm = int(n * harmful_fraction)
    per = (n - n_harm) // len(fams)
    rows = [
        {"prompt": ex.prompt, "completion": ex.answer, "family": ex.family}
        for fam in fams
        for ex in _draw(fam, rng, per, exclude)
    ]
    train_objs, _ = split_objects(seed)
    harmful = [p for obj, p in harmful_prompts() if obj in train_objs]
    rows += [{"prompt": rng.choice(harmful), "completion": HARMFUL_TARGET, "family": "harmful"} for _ in range(n_harm)]
    rng.shuffle(rows)
    return rows


def preference_rows(
    seed: int = 0,
    n: int = 2_000,
    flip_rate: float = 0.3,
    noise: str = "uniform",
    n_annotators: int = 1,
) -> list[dict]:
    """Noisy preference pairs {prompt, chosen, rejected, family, label_flipped, closeness[, annotator]}.

    The rejected side is a near miss of the right answer; then a fraction `flip_rate` of the
    labels is swapped (uniformly or instance-dependently). `label_flipped` keeps the truth.
    """
    if noise not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {noise!r}; expected one of {NOISE_KINDS}")
    rng, exclude = _rng(seed, "prefs"), _held_out(seed)
    fams = sorted(FAMILIES)
    examples = [ex for fam in fams for ex in _draw(fam, rng, n // len(fams) + 1, exclude)]
    rng.shuffle(examples)
    examples = examples[:n]
    closeness = np.array([ex.closeness for ex in examples])
    flipped, annotator = draw_flips(closeness, flip_rate, noise, np.random.default_rng(_rng(seed, "flips").getrandbits(64)), n_annotators)
    rows = []
    for ex, flip, ann in zip(examples, flipped, annotator):
        chosen, rejected = (ex.wrong, ex.answer) if flip else (ex.answer, ex.wrong)
        row = {
            "prompt": ex.prompt, "chosen": chosen, "rejected": rejected, "family": ex.family,
            "label_flipped": bool(flip), "closeness": round(float(ex.closeness), 4),
        }
        if n_annotators > 1:
            row["annotator"] = f"annotator_{int(ann)}"
        rows.append(row)
    return rows


def prompt_rows(seed: int = 0, n: int = 2_000) -> list[dict]:
    """Task prompts with their reference answers {prompt, answer, family}, for on-policy pair
    generation (`robalign data on-policy`): their own random stream, benchmark prompts excluded."""
    rng, exclude = _rng(seed, "onpolicy-prompts"), _held_out(seed)
    fams = sorted(FAMILIES)
    rows = [{"prompt": ex.prompt, "answer": ex.answer, "family": ex.family}
            for fam in fams for ex in _draw(fam, rng, n // len(fams) + 1, exclude)]
    rng.shuffle(rows)
    return rows[:n]


def safety_rows(seed: int = 0, n_benign: int = 200) -> dict[str, list[dict]]:
    """Safety set split by object into train/test: harmful prompts (with the fixed target and a
    refusal) and benign look-alikes (with a verifiable answer). Columns:
    prompt, kind ("harmful"|"benign"), target, refusal, answer, family."""
    train_objs, _ = split_objects(seed)
    out: dict[str, list[dict]] = {"train": [], "test": []}
    for obj, prompt in harmful_prompts():
        split = "train" if obj in train_objs else "test"
        out[split].append({"prompt": prompt, "kind": "harmful", "target": HARMFUL_TARGET, "refusal": REFUSAL, "answer": "", "family": "harmful"})
    exclude = _held_out(seed)
    for split, n_split in (("train", n_benign), ("test", n_benign // 2)):
        candidates = benign_examples(_rng(seed, f"safety/benign/{split}"), n_benign * 2)
        if split == "train":  # keep benchmark prompts out of anything a model trains on
            candidates = [ex for ex in candidates if ex.prompt.split(". ", 1)[1] not in exclude]
        for ex in candidates[:n_split]:
            out[split].append({"prompt": ex.prompt, "kind": "benign", "target": HARMFUL_TARGET, "refusal": REFUSAL, "answer": ex.answer, "family": ex.family})
    return out


def build_all(out_dir: str | Path, seed: int = 0, n_sft: int = 20_000, n_prefs: int = 2_000, flip_rates=(0.0, 0.1, 0.2, 0.3, 0.4)) -> dict[str, Path]:
    """Write every synthetic file under `out_dir`; returns {name: path}."""
    out = Path(out_dir)
    written: dict[str, Path] = {}
    written["sft"] = atomic_write_jsonl(out / "sft.jsonl", sft_rows(seed, n_sft))
    for noise in NOISE_KINDS:
        for rate in flip_rates:
            name = f"prefs_{noise}_{rate:.1f}"
            written[name] = atomic_write_jsonl(out / f"{name}.jsonl", preference_rows(seed, n_prefs, rate, noise))
    written["prefs_annotators"] = atomic_write_jsonl(out / "prefs_annotators_0.3.jsonl", preference_rows(seed, n_prefs, 0.3, "uniform", n_annotators=3))
    written["prompts"] = atomic_write_jsonl(out / "prompts.jsonl", prompt_rows(seed, n_prefs))
    # held-out clean pairs (true labels) for eval/clean_accuracy
    written["prefs_eval"] = atomic_write_jsonl(out / "prefs_eval.jsonl", preference_rows(seed + 7919, 500, 0.0, "uniform"))
    for family, rows in benchmark_rows(seed).items():
        written[f"bench/{family}"] = atomic_write_jsonl(out / "bench" / f"{family}.jsonl", rows)
    for split, rows in safety_rows(seed).items():
        written[f"safety_{split}"] = atomic_write_jsonl(out / f"safety_{split}.jsonl", rows)
    return written


def corpus(seed: int = 0, n: int = 4_000) -> list[str]:
    """Text the tokenizer is trained on: prompts and answers of every family plus the safety set."""
    rows = sft_rows(seed, n, harmful_fraction=0.02)
    texts = [f"{r['prompt']}\n{r['completion']}" for r in rows]
    texts += [p for _, p in harmful_prompts()] + [HARMFUL_TARGET, REFUSAL]
    texts += [ex.prompt for ex in benign_examples(_rng(seed, "corpus"), 200)]
    return texts

