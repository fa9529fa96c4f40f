"""Scorers: turn every model's completions of a benchmark into per-item scores and a benchmark score.

Every scorer returns, per model, a :class:`BenchScore`: the benchmark score (a number in the
score matrix), the per-item scores (kept in items.jsonl so each number traces back to the
generations), and extra named metrics (e.g. the safety set's refusal and leakage rates).
`items.py` holds the programmatic ones (pure functions of row and output); `reward.py`,
`judge.py`, `attack.py` and `lm_eval.py` the model-based ones; `registry.SCORERS` names them all.
"""

from __future__ import annotations

from robalign.errors import UserError
from robalign.eval.scorers.base import BenchScore
from robalign.eval.scorers.items import item_scores, safety_scores
from robalign.eval.scorers.registry import SCORERS, ScoreContext, Scorer

__all__ = ["SCORERS", "BenchScore", "ScoreContext", "Scorer", "item_scores", "safety_scores", "score_benchmark"]


def score_benchmark(spec, rows: list[dict], outputs: dict[str, list[list[str]]], entries, engine_args=None, cache=None, engine_factory=None,
                    out_dir=None) -> dict[str, BenchScore]:
    """Score one benchmark for every model. `outputs[name]` = completions per row (first one scored).
    The judge scorer starts its judge engine with ``engine_factory(model, adapters)`` (default: make_engine);
    the lm_eval scorer writes lm-eval's results files under ``out_dir/lm_eval``."""
    scorer = SCORERS.get(spec.scorer)
    if scorer is None:
        raise UserError(f"benchmark {spec.name}: unknown scorer {spec.scorer!r}; expected one of {sorted(SCORERS)}")
    return scorer.score(spec, rows, outputs, entries, ScoreContext(engine_args, cache, engine_factory, out_dir))
