"""On-policy verifiable preference pairs: the model's own samples, labelled by the family's verifier.

Why on-policy: pairs whose rejected side is a synthetic near miss the model would rarely write
barely move what it generates; pairing a verified-correct answer against one of the model's OWN
wrong answers to the same prompt pushes down exactly the mistakes it makes (the setting where DPO
is known to lift accuracy, and where label noise really hurts).

`build_pairs` is the pure part (samples in, clean pairs out); `inject_noise` flips labels with
`robalign.data.noise.draw_flips` (the one noise model of the synthetic data); `sample_prompts`
is the I/O edge: it samples through the tournament's generation machinery (one engine per base
model, cached shards, so a killed run resumes where it stopped).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

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


def sample_prompts(model: str, adapter: Optional[str], prompts: list[str], sampling, engine_args, cache_dir: str | Path,
                   shard_size: int = 256, progress: bool = True, log: Optional[Callable[[str], None]] = None) -> list[list[str]]:
    """`sampling.n` completions of every prompt, through the tournament's generation machinery
    (`robalign.eval.generation.generate_all`): one engine, started only if some shard is missing,
    each shard written to the cache as soon as it is generated, so a rerun after a kill generates
    only the shards it lacks."""
    import sys

    from tqdm.auto import tqdm

    from robalign.eval.cache import GenerationCache
    from robalign.eval.engines import make_engine
    from robalign.eval.generation import Entry, generate_all

    cache = GenerationCache(cache_dir)
    engines: dict[str, object] = {}

    def factory(base, adapters):  # one engine for every shard
        if base not in engines:
            engines[base] = make_engine(base, engine_args, adapters)
        return engines[base]

    entry = Entry("policy", model, adapter)
    shards = shard_names(len(prompts), shard_size)
    out: list[list[str]] = []
    say = log or (lambda m: print(m, file=sys.stderr, flush=True))
    bar = tqdm(total=len(prompts), desc="on-policy samples", unit="prompt", disable=not progress, file=sys.stderr)
    warned: set[str] = set()
    try:
        for name, start, stop in shards:
            got, warnings = generate_all(
                [entry], {name: prompts[start:stop]}, sampling, cache, factory, engine=engine_args, progress=False,
                close_engines=False, log=lambda m: None if m.startswith("warning: ") else say(m),
                max_model_len=engine_args.max_model_len, describe=lambda _, i, s=start: f"prompt {s + i + 1} of the prompts file",
                options=("--max-tokens", "--max-model-len"))
            for w in warnings:
                if w not in warned:
                    warned.add(w)
                    say(f"warning: {w}")
            out += got[("policy", name)]
            bar.update(stop - start)
    finally:
        bar.close()
        for engine in engines.values():
            engine.close()
    return out
