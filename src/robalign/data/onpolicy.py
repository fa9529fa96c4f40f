"""On-policy verifiable preference pairs: the model's own samples, labelled by the family's verifier.

Why on-policy: pairs whose rejected side is a synthetic near miss the model would rarely write
barely move what it generates; pairing a verified-correct answer against one of the model's OWN
wrong answers to the same prompt pushes down exactly the mistakes it makes (the setting where DPO
is known to lift accuracy, and where label noise really hurts).

`build_pairs` is the pure part (samples in, clean pairs out); `inject_noise` flips labels with
`robalign.data.noise.draw_flips` (the one noise model of the synthetic data). Sampling is the
I/O edge and lives with the command (`robalign.cli.data.sample_prompts`: the tournament's
generation machinery, cached shards named by `shard_names`), so data/ never imports eval/.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from robalign.data.noise import draw_flips
from robalign.data.tasks import answer_closeness
from robalign.data.verifiers import normalise, verify


@dataclass(frozen=True)
class PromptSamples:
    """One prompt, its reference answer and the model's samples for it."""

    prompt: str
    family: str
    answer: str
    samples: tuple[str, ...]


def build_pairs(items: Sequence[PromptSamples], held_out: set[str], rng: np.random.Generator,
                pairs_per_prompt: int = 1) -> list[dict]:
    """Clean (true-label) pairs {prompt, chosen, rejected, family, closeness, chosen_source,
    n_correct, n_samples, label_flipped=False}, at most `pairs_per_prompt` per prompt (each
    against a different wrong answer).

    chosen: a verified-correct sample drawn uniformly; when no sample verifies, the reference
    answer (chosen_source "reference": the pair still teaches, but it is off-policy on that side).
    rejected: one of the model's own wrong samples, drawn uniformly over samples (so a mistake the
    model makes often is picked often). Empty samples are not candidates (nothing to push down but
    the end-of-turn token). A prompt whose every sample verifies gives no pair.
    A prompt of the benchmark split (`held_out`) is refused: training on it would leak the test.
    """
    leaked = [it.prompt for it in items if it.prompt in held_out]
    if leaked:
        raise ValueError(f"{len(leaked)} prompt(s) belong to the benchmark split (first: {leaked[0]!r})")
    rows = []
    for it in items:
        ok = [verify(it.family, s, it.answer) for s in it.samples]
        right = [s.strip() for s, good in zip(it.samples, ok) if good]
        wrong = [s.strip() for s, good in zip(it.samples, ok) if not good and normalise(s)]
        if not wrong:
            continue
        taken: set[str] = set()
        for _ in range(pairs_per_prompt):
            left = [w for w in wrong if normalise(w) not in taken]
            if not left:
                break
            rejected = left[int(rng.integers(len(left)))]
            taken.add(normalise(rejected))
            if right:
                chosen, source = right[int(rng.integers(len(right)))], "sample"
            else:
                chosen, source = it.answer, "reference"
            rows.append({
                "prompt": it.prompt, "chosen": chosen, "rejected": rejected, "family": it.family,
                "label_flipped": False, "closeness": round(answer_closeness(it.family, it.answer, rejected), 4),
                "chosen_source": source, "n_correct": len(right), "n_samples": len(it.samples),
            })
    return rows


def inject_noise(rows: list[dict], rate: float, kind: str, rng: np.random.Generator,
                 n_annotators: int = 1, annotator_rates: Optional[Sequence[float]] = None) -> list[dict]:
    """Copies of `rows` with a fraction `rate` of the labels flipped (chosen and rejected swapped,
    `label_flipped` True), uniformly or by closeness; with several annotators each row gets an
    `annotator` and that annotator's rate (`annotator_rates`, or spread around `rate`)."""
    if annotator_rates is not None:
        n_annotators = len(annotator_rates)
    flipped, annotator = draw_flips(np.array([r["closeness"] for r in rows]), rate, kind, rng, n_annotators, rates=annotator_rates)
    out = []
    for row, flip, ann in zip(rows, flipped, annotator):
        row = dict(row, label_flipped=bool(flip))
        if flip:
            row["chosen"], row["rejected"] = row["rejected"], row["chosen"]
        if n_annotators > 1:
            row["annotator"] = f"annotator_{int(ann)}"
        out.append(row)
    return out


def shard_names(n_prompts: int, shard_size: int) -> list[tuple[str, int, int]]:
    """(name, start, stop) of each shard of the prompt list: the unit of resume after a kill."""
    return [(f"part-{i // shard_size:05d}", i, min(i + shard_size, n_prompts)) for i in range(0, n_prompts, shard_size)]
