"""The scorer registry: scorer name -> `Scorer` (how it scores, whether it needs generations,
what it checks before any engine starts). `BenchmarkSpec.scorer`'s choices and
`score_benchmark` derive from it; adding a scorer is one module and one entry here.

Every entry is called as ``score(spec, rows, outputs, entries, ctx)`` -> {model name: BenchScore},
where `outputs[name]` holds each row's completions (None for scorers that need no generations)
and `ctx` is the `ScoreContext` of the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from robalign.eval.scorers.attack import attack_scores, check_attack_lengths
from robalign.eval.scorers.items import ITEM_SCORERS, score_items
from robalign.eval.scorers.judge import judge_scores
from robalign.eval.scorers.lm_eval import lm_eval_scores
from robalign.eval.scorers.reward import reward_scores


@dataclass(frozen=True)
class ScoreContext:
    """What model-based scorers may need from the run: the engine options and the generation
    cache (judge), a factory starting engines (judge; default make_engine), the output folder (lm_eval)."""

    engine_args: Any = None
    cache: Any = None
    engine_factory: Optional[Callable] = None
    out_dir: Any = None


@dataclass(frozen=True)
class Scorer:
    score: Callable
    needs_generation: bool = True
    check: Optional[Callable] = None  # (spec, rows, entries) -> None: one-line errors before any generation


def _reward(spec, rows, outputs, entries, ctx):
    return reward_scores(spec, rows, outputs, entries)


def _judge(spec, rows, outputs, entries, ctx):
    return judge_scores(spec, rows, outputs, entries, ctx.engine_args, ctx.cache, ctx.engine_factory)


def _attack(spec, rows, outputs, entries, ctx):
    return attack_scores(spec, rows, entries)


def _lm_eval(spec, rows, outputs, entries, ctx):
    from robalign.eval.engines import EngineArgs

    return lm_eval_scores(spec, entries, ctx.engine_args or EngineArgs(), ctx.out_dir)


SCORERS: dict[str, Scorer] = {
    **{name: Scorer(score_items) for name in ITEM_SCORERS},
    "reward_model": Scorer(_reward),
    "judge": Scorer(_judge),
    "attack": Scorer(_attack, needs_generation=False, check=check_attack_lengths),
    "lm_eval": Scorer(_lm_eval, needs_generation=False),
}
