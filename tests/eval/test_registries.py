"""The engine and scorer registries: config choices derive from them, and a scorer registered in
one entry is reachable through the tournament's dispatch."""

from __future__ import annotations

import dataclasses

import pytest


def test_engine_choices_are_the_registry():
    from robalign.eval.engines import BACKENDS, ENGINES, EngineArgs
    from robalign.eval.engines.hf import HFEngine
    from robalign.eval.engines.vllm import VLLMEngine

    assert ENGINES == {"vllm": VLLMEngine, "hf": HFEngine}
    choices = {f.name: f.metadata.get("choices") for f in dataclasses.fields(EngineArgs)}["backend"]
    assert list(choices) == BACKENDS == list(ENGINES)


def test_unknown_backend_is_one_line(test_model_dir):
    from robalign.errors import ConfigError
    from robalign.eval.engines import EngineArgs, make_engine

    with pytest.raises(ConfigError, match="engine.backend"):
        make_engine(str(test_model_dir), EngineArgs(backend="nope"))


def test_scorer_choices_and_needs_generation_come_from_the_registry(monkeypatch):
    from robalign.eval.config import SCORERS as CHOICES
    from robalign.eval.config import BenchmarkSpec
    from robalign.eval.generation import Entry
    from robalign.eval.scorers import SCORERS, BenchScore, Scorer, score_benchmark

    assert CHOICES == list(SCORERS)
    assert {n for n, s in SCORERS.items() if not s.needs_generation} == {"attack", "lm_eval"}
    assert BenchmarkSpec(name="a", data="x.jsonl", scorer="attack").needs_generation is False

    def length(spec, rows, outputs, entries, ctx):  # a toy scorer: one entry, nothing else
        return {e.name: BenchScore(float(len(outputs[e.name][0][0])), [1.0]) for e in entries}

    monkeypatch.setitem(SCORERS, "toy", Scorer(length))
    spec = BenchmarkSpec(name="t", data="x.jsonl", scorer="verify")
    spec.scorer = "toy"
    res = score_benchmark(spec, [{"prompt": "p"}], {"m": [["abc"]]}, [Entry("m", "base")])
    assert res["m"].value == 3.0


def test_unknown_scorer_is_one_line():
    from robalign.errors import UserError
    from robalign.eval.config import BenchmarkSpec
    from robalign.eval.scorers import score_benchmark

    spec = BenchmarkSpec(name="t", data="x.jsonl", scorer="verify")
    spec.scorer = "nope"
    with pytest.raises(UserError, match="unknown scorer 'nope'"):
        score_benchmark(spec, [], {}, [])
