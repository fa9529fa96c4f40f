"""Generate completions for many (model, adapter) entries over many benchmarks, cached.

Grouping: entries are grouped by base model; one engine per base serves the base and every
adapter of it. Per entry, the prompts of all its missing benchmark shards go to the engine in
ONE batch (the engine schedules them together), then each benchmark shard is written to the
cache atomically. A re-run finds the shards and starts no engine at all; a crash loses at most
the batch of the entry in flight. The cache is keyed by what decides the outputs (weights, the
files loading reads, prompts, sampling, engine: `robalign.eval.cache`), not by who asked, so
every tournament and `robalign generate` run shares it.

Before any engine starts, every missing prompt of every base model is rendered with that
model's tokenizer and checked against its context (`robalign.models.context.ContextLimit`): an
over-long prompt is one line naming it, with no engine started and no shard written. The
rendered ids are what the engine then receives (each prompt is tokenised once).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, Optional

from robalign.eval.cache import GenerationCache, adapter_identity, engine_identity, model_identity, shard_key
from robalign.models.chat import decode, render_chat

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
    engine=None,
    backend: Optional[str] = None,
    progress: bool = True,
    close_engines: bool = True,
    log: Callable[[str], None] = _log,
    max_model_len: Optional[int] = None,
    describe: Optional[Callable[[str, int], str]] = None,
    options: tuple[str, Optional[str]] = ("sampling.max_tokens", "engine.max_model_len"),
) -> tuple[dict[tuple[str, str], list[list[str]]], list[str]]:
    """Return ({(entry name, benchmark): completions per prompt}, warnings).

    ``engine_factory(model, adapters)`` starts an engine; it is called at most once per base
    model and only when some shard of that base is missing from the cache. ``engine`` is the
    `EngineArgs` the factory starts it with (part of the cache key; its max_model_len is the
    default of ``max_model_len``); without it, ``EngineArgs(backend=backend)``. For the length
    check: ``max_model_len`` is the engine's (None: the model's), ``describe(benchmark, i)``
    names prompt i in an error (default "prompt {i+1} of benchmark {name}"), ``options`` are
    the caller's names of max_tokens and max_model_len (a recipe key or a flag).
    """
    from tqdm.auto import tqdm

    from robalign.eval.engines import EngineArgs

    if engine is None:
        engine = EngineArgs(backend=backend or "vllm", max_model_len=max_model_len)
    backend = engine.backend
    max_model_len = max_model_len if max_model_len is not None else engine.max_model_len
    engine_id = engine_identity(engine, sampling)
    results: dict[tuple[str, str], list[list[str]]] = {}
    warnings: list[str] = []
    by_base: dict[str, list[Entry]] = {}
    for e in entries:
        by_base.setdefault(e.model, []).append(e)
    first = next(iter(benchmarks), None)
    probe = {"__probe__": benchmarks[first][:PROBE_PROMPTS]} if first else {}

    # 1. what is missing, per base: [(adapter, entry name, {benchmark: (key, prompts)})]
    plan: dict[str, list[tuple[Optional[str], str, dict[str, tuple[str, list[str]]]]]] = {}
    for base, group in by_base.items():
        base_id = model_identity(base)
        base_listed = any(e.adapter is None for e in group)
        jobs = [(e.adapter, e.name, benchmarks) for e in group]
        if not base_listed and any(e.adapter for e in group) and probe:
            jobs.append((None, "__base__", probe))  # base outputs for the "adapter changes nothing" check
        plan[base] = []
        for adapter, name, benches in jobs:
            missing = {}
            adapter_id = adapter_identity(adapter)
            for b, prompts in benches.items():
                key = shard_key(base_id, adapter_id, prompts, sampling.key(), engine_id)
                got = cache.get(key, len(prompts))
                if got is None:
                    missing[b] = (key, prompts)
                else:
                    results[(name, b)] = got
            if missing:
                plan[base].append((adapter, name, missing))
    # 2. render and check every missing prompt of every base before the first engine starts
    name_of = describe or (lambda b, i: f"prompt {i + 1} of benchmark {b}")
    ids = {base: _render_checked(base, todo, sampling, max_model_len, options, first, name_of) for base, todo in plan.items() if todo}

    # 3. generate
    bar = tqdm(total=len(entries), desc="generate", unit="model", disable=not progress, file=sys.stderr)
    for base, group in by_base.items():
        todo = plan[base]
        if todo:
            adapters = sorted({e.adapter for e in group if e.adapter})
            log(f"starting {backend} engine for {base}" + (f" with {len(adapters)} adapter(s)" if adapters else ""))
            engine = engine_factory(base, adapters)
            try:
                for adapter, name, missing in todo:
                    names = list(missing)
                    flat = [p for b in names for p in ids[base][b]]
                    outs = engine.generate(flat, sampling, adapter=adapter)
                    texts = [[decode(engine.tokenizer, c) for c in per_prompt] for per_prompt in outs]
                    start = 0
                    for b in names:
                        key, prompts = missing[b]
                        chunk = texts[start : start + len(prompts)]
                        start += len(prompts)
                        meta = {"entry": name, "model": base, "adapter": adapter, "benchmark": b, "sampling": sampling.key(), "engine": engine_id}
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


def _render_checked(base, todo, sampling, max_model_len, options, first, name_of) -> dict[str, list[list[int]]]:
    """{benchmark: prompt ids} of every missing benchmark of `base`, each rendered once with the
    base's tokenizer (the one its engine loads) after the length check."""
    from robalign.models.context import context_limit
    from robalign.models.loading import load_tokenizer

    limit = context_limit(base, max_model_len, sampling.max_tokens, tokens_option=options[0], len_option=options[1])
    tokenizer = load_tokenizer(base)
    out: dict[str, list[list[int]]] = {}
    for _, _, missing in todo:
        for b, (_, prompts) in missing.items():
            if b in out:
                continue
            name = (lambda i, b=first if b == "__probe__" else b: name_of(b, i))  # the probe is the first benchmark's head
            if limit is not None:
                limit.check_texts(tokenizer, prompts, name)
            out[b] = render_chat(tokenizer, prompts)
            if limit is not None:
                limit.check_ids(out[b], name)
    return out


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
