"""One leaderboard from a score table: every ranking method side by side (pure, no I/O).

Why one table: a single aggregate hides how fragile it is. Putting the Swiss-tournament
expected score (with and without elimination), Bradley-Terry with its interval, Elo, the mean
and the mean rank in one row per model lets a reader see both the ranking and how much it
depends on the method. Used by ``robalign rank`` and by the tournament stage; the callers do
the file writing.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from robalign.errors import UserError
from robalign.ranking.agreement import tau_matrix
from robalign.ranking.baselines import mean_rank, mean_score
from robalign.ranking.bradley_terry import bradley_terry
from robalign.ranking.elo import elo
from robalign.ranking._checks import as_score_matrix
from robalign.ranking.swiss import swiss_tournament

#: Row keys, in column order; floats unless noted.
ROW_KEYS = (
    "rank",  # int, 1 = highest E[S] without elimination
    "model",  # str
    "expected_score",  # E[S], eliminate = 0
    "expected_score_se",
    "expected_score_elim",  # E[S], eliminate = row["eliminate"]
    "expected_score_elim_se",
    "failure_sensitivity",  # expected_score - expected_score_elim
    "eliminate",  # int
    "p_first",  # P(rank 1) in the eliminate = 0 tournament
    "bt_rating",
    "bt_ci_low",
    "bt_ci_high",
    "elo",
    "mean_score",
    "mean_rank",  # 1 = best
)


def _check_names(names: Sequence[str], n: int, what: str) -> list[str]:
    names = [str(x) for x in names]
    if len(names) != n:
        raise UserError(f"got {len(names)} {what} names for {n} {what}s; expected one name per {what}")
    seen = set()
    for x in names:
        if x in seen:
            raise UserError(f"{what} name {x!r} appears twice; expected unique {what} names")
        seen.add(x)
    return names


def resolve_rounds(rounds, bench_names: Sequence[str]) -> list[list[int]]:
    """Round groups given by benchmark name (or column index) -> column indices.

    ``None`` means one benchmark per round in column order. An unknown name raises a UserError
    listing the valid ones.
    """
    names = list(bench_names)
    if rounds is None:
        return [[j] for j in range(len(names))]
    if isinstance(rounds, np.ndarray):
        rounds = rounds.tolist()
    if isinstance(rounds, (str, bytes)) or not isinstance(rounds, Sequence) or len(rounds) == 0:
        raise UserError(f"rounds must be a non-empty list of benchmark groups, e.g. [['mmlu', 'bbh'], ['gsm8k']]; got {rounds!r}")
    index = {n: j for j, n in enumerate(names)}
    out = []
    for r, group in enumerate(rounds, start=1):
        if isinstance(group, np.ndarray):
            group = group.tolist()
        if isinstance(group, (str, numbers.Integral)):
            group = [group]
        cols = []
        for item in group:
            if isinstance(item, str):
                if item not in index:
                    raise UserError(
                        f"round {r} names benchmark {item!r}, which is not a column of the score table; "
                        f"expected one of: {', '.join(names)}"
                    )
                cols.append(index[item])
            else:
                cols.append(item)  # an index: validated by swiss_tournament
        out.append(cols)
    return out


def build_leaderboard(
    scores,
    model_names: Sequence[str],
    bench_names: Sequence[str],
    rounds=None,
    *,
    n_sims: int = 100_000,
    eliminate: int = 2,
    pairing: str = "reference",
    reference_exact: bool = False,
    n_bootstrap: int = 200,
    seed: int | np.random.Generator = 0,
    swiss_out: dict | None = None,
) -> list[dict]:
    """One dict per model (keys :data:`ROW_KEYS`), sorted by E[S] without elimination, best first.

    Args:
        scores: (n_models, n_benchmarks) score table, higher is better, no NaN.
        model_names, bench_names: row and column labels.
        rounds: round groups of benchmark names or column indices; None = one benchmark a round.
        n_sims, pairing, reference_exact: Swiss Monte Carlo settings (see :func:`swiss_tournament`).
        eliminate: the T of the failure-sensitivity tournament (E[S] at T=0 minus at T=eliminate).
        n_bootstrap: Bradley-Terry bootstrap resamples (benchmarks are the resampled items).
        seed: one int/Generator; ``np.random.default_rng(seed).spawn(4)`` gives, in order, the
            streams of the T=0 tournament, the T=eliminate tournament, the Bradley-Terry bootstrap
            and the Elo replays (a caller adding tournaments takes children 4, 5, ...).
        swiss_out: when a dict, receives the SwissResult behind the rows at each level, {0: ...,
            eliminate: ...}, so a caller reporting them does not simulate them again.
    """
    s = as_score_matrix(scores)
    models = _check_names(model_names, s.shape[0], "model")
    benches = _check_names(bench_names, s.shape[1], "benchmark")
    cols = resolve_rounds(rounds, benches)
    rng_base, rng_elim, rng_bt, rng_elo = np.random.default_rng(seed).spawn(4)

    rules = dict(n_sims=n_sims, pairing=pairing, reference_exact=reference_exact)
    base = swiss_tournament(s, cols, eliminate=0, seed=rng_base, **rules)
    elim = swiss_tournament(s, cols, eliminate=eliminate, seed=rng_elim, **rules)
    if swiss_out is not None:
        swiss_out[eliminate] = elim
        swiss_out[0] = base  # after: with eliminate=0 the rows' E[S] is `base`'s
    bt = bradley_terry(s, n_bootstrap=n_bootstrap, seed=rng_bt)
    el = elo(s, seed=rng_elo)
    ms, mr = mean_score(s), mean_rank(s)

    rows = []
    for i, name in enumerate(models):
        rows.append(
            {
                "model": name,
                "expected_score": float(base.expected_score[i]),
                "expected_score_se": float(base.std_error[i]),
                "expected_score_elim": float(elim.expected_score[i]),
                "expected_score_elim_se": float(elim.std_error[i]),
                "failure_sensitivity": float(base.expected_score[i] - elim.expected_score[i]),
                "eliminate": int(eliminate),
                "p_first": float(base.rank_probs[i, 0]),
                "bt_rating": float(bt.ratings[i]),
                "bt_ci_low": float(bt.ci_low[i]),
                "bt_ci_high": float(bt.ci_high[i]),
                "elo": float(el.ratings[i]),
                "mean_score": float(ms[i]),
                "mean_rank": float(mr[i]),
            }
        )
    rows.sort(key=lambda row: (-row["expected_score"], -row["mean_score"], row["model"]))
    return [{"rank": k, **row} for k, row in enumerate(rows, start=1)]


def leaderboard_agreement(rows: Sequence[dict]) -> dict:
    """Kendall tau between the methods' orderings of the leaderboard's models.

    Returns ``{"methods": [...], "kendall_tau": [[...]]}`` (JSON-ready; NaN -> None).
    """
    methods = {
        "swiss_E[S]": [r["expected_score"] for r in rows],
        "swiss_E[S]_elim": [r["expected_score_elim"] for r in rows],
        "bradley_terry": [r["bt_rating"] for r in rows],
        "elo": [r["elo"] for r in rows],
        "mean_score": [r["mean_score"] for r in rows],
        "mean_rank": [-r["mean_rank"] for r in rows],  # higher = better
    }
    names, tau = tau_matrix(methods)
    return {"methods": names, "kendall_tau": [[None if math.isnan(v) else float(v) for v in row] for row in tau]}


def format_markdown(rows: Sequence[dict]) -> str:
    """The leaderboard as a GitHub markdown table (one line per model, best first)."""
    t = rows[0]["eliminate"] if rows else 2
    head = (
        f"| # | model | E[S] (T=0) ± s.e. | E[S] (T={t}) | fail. sens. | BT [95% CI] | Elo | mean score | mean rank |",
        "|---:|:---|---:|---:|---:|---:|---:|---:|---:|",
    )
    lines = list(head)
    for r in rows:
        name = str(r["model"]).replace("|", "\\|")  # a pipe would split the cell
        lines.append(
            f"| {r['rank']} | {name} | {r['expected_score']:.3f} ± {r['expected_score_se']:.3f} "
            f"| {r['expected_score_elim']:.3f} | {r['failure_sensitivity']:+.3f} "
            f"| {r['bt_rating']:.0f} [{r['bt_ci_low']:.0f}, {r['bt_ci_high']:.0f}] | {r['elo']:.0f} "
            f"| {r['mean_score']:.2f} | {r['mean_rank']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def format_agreement_markdown(agreement: dict) -> str:
    """The Kendall-tau matrix of :func:`leaderboard_agreement` as a markdown table."""
    names = agreement["methods"]
    lines = ["| Kendall tau | " + " | ".join(names) + " |", "|:---|" + "---:|" * len(names)]
    for name, row in zip(names, agreement["kendall_tau"]):
        cells = ["n/a" if v is None else f"{v:.2f}" for v in row]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
