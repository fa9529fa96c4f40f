"""Generate completions for many (model, adapter) entries over many benchmarks, cached.

Grouping: entries are grouped by base model; one engine per base serves the base and every
adapter of it. Per entry, the prompts of all its missing benchmark shards go to the engine in
ONE batch (the engine schedules them together), then each benchmark shard is written to the
cache atomically. A re-run finds the shards and starts no engine at all; a crash loses at most
the batch of the entry in flight.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, Optional

from robalign.eval.cache import GenerationCache, shard_key
from robalign.eval.prompts import decode, render_chat

#: Prompts of the first benchmark compared between base and adapter when the base itself is not an entry.
PROBE_PROMPTS = 16


@dataclass(frozen=True)
class Entry:
    """One contestant: a base model, optionally with a LoRA adapter."""

    name: str
    model: str
    adapter: Optional[str] = None


EngineFactory = Callable[[str, list], object]


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def generate_all(
    entries: list[Entry],
    benchmarks: dict[str, list[str]],
    sampling,
    cache: GenerationCache,
    engine_factory: EngineFactory,
    *,
    backend: str,
    progress: bool = True,
    close_engines: bool = True,
    log: Callable[[str], None] = _log,
) -> tuple[dict[tuple[str, str], list[list[str]]], list[str]]:
    """Return ({(entry name, benchmark): completions per prompt}, warnings).

    ``engine_factory(model, adapters)`` starts an engine; it is called at most once per base
    model and only when some shard of that base is missing from the cache.
    """
    from tqdm.auto import tqdm

    results: dict[tuple[str, str], list[list[str]]] = {}
    warnings: list[str] = []
    by_base: dict[str, list[Entry]] = {}
    for e in entries:
        by_base.setdefault(e.model, []).append(e)
    first = next(iter(benchmarks), None)
    probe = {"__probe__": benchmarks[first][:PROBE_PROMPTS]} if first else {}

    bar = tqdm(total=len(entries), desc="generate", unit="model", disable=not progress, file=sys.stderr)
    for base, group in by_base.items():
        # What is missing? (entry, {benchmark: (key, prompts)})
        todo: list[tuple[Optional[str], str, dict[str, tuple[str, list[str]]]]] = []
        base_listed = any(e.adapter is None for e in group)
        jobs = [(e.adapter, e.name, benchmarks) for e in group]
        if not base_listed and any(e.adapter for e in group) and probe:
            jobs.append((None, "__base__", probe))  # base outputs for the "adapter changes nothing" check
        for adapter, name, benches in jobs:
            missing = {}
            for b, prompts in benches.items():
                key = shard_key(base, adapter, prompts, sampling.key(), backend)
                got = cache.get(key, len(prompts))
                if got is None:
                    missing[b] = (key, prompts)
                else:
                    results[(name, b)] = got
            if missing:
                todo.append((adapter, name, missing))
        if todo:
            adapters = sorted({e.adapter for e in group if e.adapter})
            log(f"starting {backend} engine for {base}" + (f" with {len(adapters)} adapter(s)" if adapters else ""))
            engine = engine_factory(base, adapters)
            try:
                for adapter, name, missing in todo:
                    names = list(missing)
                    flat = [p for b in names for p in missing[b][1]]
                    ids = render_chat(engine.tokenizer, flat)
                    outs = engine.generate(ids, sampling, adapter=adapter)
                    texts = [[decode(engine.tokenizer, c) for c in per_prompt] for per_prompt in outs]
                    start = 0
                    for b in names:
                        key, prompts = missing[b]
                        chunk = texts[start : start + len(prompts)]
                        start += len(prompts)
                        meta = {"entry": name, "model": base, "adapter": adapter, "benchmark": b, "backend": backend, "sampling": sampling.key()}
                        cache.put(key, meta, chunk)
                        results[(name, b)] = chunk
                    if name != "__base__":
                        bar.update(1)
            finally:
                if close_engines:
                    engine.close()
        bar.update(sum(1 for e in group if not any(t[1] == e.name for t in todo)))
        warnings += _unchanged_adapters(group, results, benchmarks, probe)
    bar.close()
    for w in warnings:
        log(f"warning: {w}")
    results = {k: v for k, v in results.items() if k[0] != "__base__"}
    return results, warnings


def _unchanged_adapters(group: list[Entry], results, benchmarks, probe) -> list[str]:
    """Adapters whose outputs equal the base model's on every compared prompt: likely not applied
    (a known silent failure), or trained with no effect."""
    base_entry = next((e for e in group if e.adapter is None), None)
    out = []
    for e in group:
        if not e.adapter:
            continue
        pairs = []
        if base_entry is not None:
            for b in benchmarks:
                pairs += zip(results.get((e.name, b), []), results.get((base_entry.name, b), []))
        elif probe:
            first = next(iter(benchmarks))
            pairs += zip(results.get((e.name, first), []), results.get(("__base__", "__probe__"), []))
        if pairs and all(a == b for a, b in pairs):
            out.append(
                f"{e.name}: adapter {e.adapter} gives exactly the base model's outputs on all {len(pairs)} compared prompts "
                "(adapter not applied, or training left it at its zero initialisation)"
            )
    return out
