"""Pairwise LLM judge with both answer orders, to cancel position bias (Arena-Hard style).

For every item and every pair of models (i, j) the judge sees the question with i's answer as
A and j's as B, and again swapped. i wins the item against j only when both verdicts pick i;
a split decision (the judge preferring a position, not an answer) is a tie. A model's item
score is its mean result against all other models (win 1, tie 0.5, loss 0), its benchmark
score the mean over items: a win rate. The judge's completions go through the same cached
generation layer as the contestants'.
"""

from __future__ import annotations

import re
from pathlib import Path

from robalign.errors import UserError
from robalign.eval.scorers.base import BenchScore

_VERDICT = re.compile(r"(?<![A-Za-z])([ABT])(?![A-Za-z])")


def parse_verdict(text: str) -> str:
    """'A', 'B' or 'T' (tie, also for an unparseable reply)."""
    m = _VERDICT.search(text)
    return m.group(1) if m else "T"


def load_template(path: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"judge template not found: {path}")
    text = p.read_text()
    for key in ("{question}", "{answer_a}", "{answer_b}"):
        if key not in text:
            raise UserError(f"judge template {path} lacks the field {key}; expected {{question}}, {{answer_a}} and {{answer_b}}")
    return text


def pair_outcome(v_ij: str, v_ji: str) -> float:
    """Result of i against j from the verdict with i as A (v_ij) and with j as A (v_ji)."""
    i_first = v_ij == "A" and v_ji == "B"
    j_first = v_ij == "B" and v_ji == "A"
    return 1.0 if i_first else 0.0 if j_first else 0.5


def judge_scores(spec, rows, outputs, entries, engine_args, cache, engine_factory=None) -> dict[str, BenchScore]:
    from robalign.eval.engines import make_engine
    from robalign.eval.generation import Entry, generate_all
    from robalign.eval.sampling import SamplingArgs

    template = load_template(spec.judge_template)
    names = [e.name for e in entries]
    prompts, index = [], []
    for t, row in enumerate(rows):
        for a in range(len(names)):
            for b in range(len(names)):
                if a != b:
                    ans_a, ans_b = outputs[names[a]][t][0], outputs[names[b]][t][0]
                    prompts.append(template.format(question=row["prompt"], answer_a=ans_a, answer_b=ans_b))
                    index.append((t, a, b))
    judge_sampling = SamplingArgs(temperature=0.0, max_tokens=8, n=1, seed=0)
    judge = Entry("__judge__", spec.judge_model)
    outs, _ = generate_all(
        [judge], {f"{spec.name}/judge": prompts}, judge_sampling, cache,
        engine_factory or (lambda model, adapters: make_engine(model, engine_args, adapters)), engine=engine_args,
        progress=False, close_engines=engine_factory is None,
    )
    verdicts = {k: parse_verdict(o[0]) for k, o in zip(index, outs[(judge.name, f"{spec.name}/judge")])}
    res = {}
    for i, name in enumerate(names):
        items, det, ties = [], [], 0
        for t in range(len(rows)):
            vs = [pair_outcome(verdicts[(t, i, j)], verdicts[(t, j, i)]) for j in range(len(names)) if j != i]
            ties += sum(v == 0.5 for v in vs)
            items.append(sum(vs) / len(vs))
            det.append({"judge_verdicts": {names[j]: [verdicts[(t, i, j)], verdicts[(t, j, i)]] for j in range(len(names)) if j != i}})
        res[name] = BenchScore(sum(items) / len(items), items, {"tie_or_split_rate": ties / (len(rows) * (len(names) - 1))}, det)
    return res
