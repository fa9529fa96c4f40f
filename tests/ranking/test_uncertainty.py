"""Item-level uncertainty: resampling rules, summaries, and what the leaderboard may claim from them."""

from __future__ import annotations

import numpy as np
import pytest

from robalign.errors import UserError
from robalign.ranking import (
    build_leaderboard,
    headline,
    item_block,
    rank_ranges,
    resample_tables,
    separable_groups,
    separable_names,
    summarise,
    uncertainty_document,
)
from robalign.ranking.uncertainty import rank_distribution


def _two_identical_one_better(seed: int = 0, n_items: int = 150, n_bench: int = 4):
    """Per-item 0/1 results: models a and b answer every item identically (acc ~0.5), c is clearly better (~0.85)."""
    rng = np.random.default_rng(seed)
    blocks = []
    for _ in range(n_bench):
        a = (rng.random(n_items) < 0.5).astype(float)
        c = (rng.random(n_items) < 0.85).astype(float)
        blocks.append(item_block(np.stack([a, a.copy(), c])))
    scores = np.stack([blk.value() for blk in blocks], axis=1)
    return scores, blocks


def _overlap(x, y) -> bool:
    return x[0] <= y[1] and y[0] <= x[1]


@pytest.mark.parametrize("pairing", ["reference", "swiss"])
def test_identical_pair_overlaps_and_the_better_model_separates(pairing):
    """The issue's acceptance test: at every elimination level the identical pair's E[S] intervals
    overlap and the clearly better model's interval lies above both; the headline names it alone."""
    scores, blocks = _two_identical_one_better()
    unc = {}
    rows = build_leaderboard(scores, ["a", "b", "c"], ["w", "x", "y", "z"], n_sims=20_000, eliminate=1, pairing=pairing,
                             n_bootstrap=100, seed=0, items=blocks, n_resamples=100, resample_sims=1_000, uncertainty_out=unc)
    by = {r["model"]: r for r in rows}
    assert set(by["a"]["expected_score_ci"]) == {"0", "1"}
    for level in ("0", "1"):
        a, b, c = (by[m]["expected_score_ci"][level] for m in "abc")
        assert _overlap(a, b), (level, a, b)
        assert c[0] > max(a[1], b[1]), (level, a, b, c)
        for m in "abc":  # the point estimate lies inside its interval here (no ties at the edge)
            lo, hi = by[m]["expected_score_ci"][level]
            point = by[m]["expected_score"] if level == "0" else by[m]["expected_score_elim"]
            assert lo - 0.05 <= point <= hi + 0.05, (m, level, lo, point, hi)
    assert rows[0]["model"] == "c" and rows[0]["rank_range"] == [1, 1]
    assert by["a"]["rank_range"] == by["b"]["rank_range"] == [2, 3]
    assert by["c"]["p_first_resampled"] == 1.0
    for key in ("mean_score_ci", "bt_rating_ci", "elo_ci"):  # every method: c clear of a and b, a and b overlapping
        assert by["c"][key][0] > max(by["a"][key][1], by["b"][key][1]) and _overlap(by["a"][key], by["b"][key]), key
    assert by["c"]["mean_rank_ci"][1] < min(by["a"]["mean_rank_ci"][0], by["b"]["mean_rank_ci"][0])
    assert separable_names(rows) == [["c"], [rows[1]["model"], rows[2]["model"]]]
    text = headline(rows)
    assert text.startswith("Leader by Swiss expected score: c") and "Then, group by group: " in text
    doc = uncertainty_document(unc, ["a", "b", "c"])
    assert doc["source"] == "items" and doc["held_fixed"] == [] and doc["n_resamples"] == 100
    assert set(doc["methods"]) >= {"swiss_T0", "swiss_T1", "failure_sensitivity", "bradley_terry", "elo", "mean_score", "mean_rank"}
    assert doc["methods"]["swiss_T0"]["p_first"] == [0.0, 0.0, 1.0]
    assert np.allclose(np.sum(doc["methods"]["swiss_T0"]["rank_probs"], axis=0), 1.0)


def test_overlapping_top_is_not_called_a_leader():
    """Three models of equal ability: no 'Leader', the top group is named as unresolved."""
    rng = np.random.default_rng(3)
    blocks = [item_block((rng.random((3, 60)) < 0.6).astype(float)) for _ in range(4)]
    scores = np.stack([b.value() for b in blocks], axis=1)
    rows = build_leaderboard(scores, ["p", "q", "r"], list("wxyz"), n_sims=5_000, eliminate=1, n_bootstrap=100, seed=1,
                             items=blocks, n_resamples=60, resample_sims=500)
    assert not headline(rows).startswith("Leader")
    assert "their order is not resolved" in headline(rows) or "No model is separated" in headline(rows)
    assert any(r["rank_range"][0] != r["rank_range"][1] for r in rows)


def test_two_inseparable_leaders_are_named_as_a_top_group():
    rng = np.random.default_rng(5)
    blocks = []
    for _ in range(4):
        a = (rng.random(150) < 0.85).astype(float)
        blocks.append(item_block(np.stack([a, a.copy(), (rng.random(150) < 0.4).astype(float)])))
    scores = np.stack([b.value() for b in blocks], axis=1)
    rows = build_leaderboard(scores, ["a", "b", "c"], list("wxyz"), n_sims=5_000, eliminate=1, n_bootstrap=100, seed=2,
                             items=blocks, n_resamples=60, resample_sims=500)
    top = [r["model"] for r in rows[:2]]
    assert sorted(top) == ["a", "b"] and separable_names(rows) == [top, ["c"]]
    assert headline(rows) == (f"Top group by Swiss expected score: {top[0]}, {top[1]} — their 95% intervals overlap, "
                              "so their order is not resolved. Then, group by group: c.")
    assert [r["rank_range"] for r in rows] == [[1, 2], [1, 2], [3, 3]]


def test_without_items_or_stderr_there_are_no_intervals_and_the_note_says_so():
    scores = np.random.default_rng(0).random((4, 3))
    unc = {}
    rows = build_leaderboard(scores, list("abcd"), list("xyz"), n_sims=2_000, n_bootstrap=100, uncertainty_out=unc)
    assert all(r["expected_score_ci"] is None and r["rank_range"] is None for r in rows)
    assert unc == {}
    doc = uncertainty_document(unc, list("abcd"))
    assert doc["source"] == "none" and "Only Monte Carlo error is shown" in doc["note"]
    assert "unknown whether the benchmarks separate" in headline(rows)


def test_resampling_is_paired_and_stratified():
    rng = np.random.default_rng(0)
    a = (rng.random(50) < 0.5).astype(float)
    # model 0 refuses every harmful row and answers no benign one: 0.5 whatever rows are drawn, IF strata hold
    harmful = np.r_[np.ones(30), np.zeros(20)]
    strata = ["harmful"] * 30 + ["benign"] * 20
    safety = item_block(np.stack([harmful, rng.random(50).round()]), strata)
    plain = item_block(np.stack([a, a]))
    scores = np.stack([plain.value(), safety.value()], axis=1)
    t = resample_tables(scores, items=[plain, safety], n_resamples=300, seed=4)
    assert t.shape == (300, 2, 2)
    assert np.array_equal(t[:, 0, 0], t[:, 1, 0])  # the same items drawn for every model
    assert np.ptp(t[:, 0, 0]) > 0.1  # ... and they do vary
    assert np.all(t[:, 0, 1] == 0.5)  # stratum weights fixed: the safety score's design survives resampling
    unstratified = resample_tables(scores, items=[plain, item_block(safety.items)], n_resamples=300, seed=4)
    assert np.ptp(unstratified[:, 0, 1]) > 0.1
    assert abs(t[:, :, 0].mean() - scores[0, 0]) < 0.02
    # same seed, same tables
    assert np.array_equal(t, resample_tables(scores, items=[plain, safety], n_resamples=300, seed=4))


def test_parametric_resampling_from_standard_errors():
    scores = np.array([[50.0, 60.0], [40.0, 70.0]])
    stderr = np.array([[2.0, 0.0], [np.nan, 1.0]])  # 0 and NaN: held fixed
    t = resample_tables(scores, stderr=stderr, n_resamples=4000, seed=0)
    assert np.all(t[:, 0, 1] == 60.0) and np.all(t[:, 1, 0] == 40.0)
    assert abs(t[:, 0, 0].std() - 2.0) < 0.1 and abs(t[:, 1, 1].std() - 1.0) < 0.05
    assert abs(t[:, 0, 0].mean() - 50.0) < 0.1
    with pytest.raises(UserError, match="negative standard error"):
        resample_tables(scores, stderr=-np.ones((2, 2)), n_resamples=10)
    with pytest.raises(UserError, match="expected the score table's"):
        resample_tables(scores, stderr=np.ones((3, 2)), n_resamples=10)


def test_rank_distribution_splits_ties_and_summary_intervals():
    v = np.array([[3.0, 3.0, 1.0], [1.0, 2.0, 3.0]])
    p = rank_distribution(v)
    assert np.allclose(p, [[0.25, 0.25, 0.5], [0.25, 0.75, 0.0], [0.5, 0.0, 0.5]])
    assert np.allclose(p.sum(axis=0), 1) and np.allclose(p.sum(axis=1), 1)
    assert np.allclose(rank_distribution(v, higher_is_better=False)[2], [0.5, 0.0, 0.5])
    s = summarise(np.arange(101.0)[:, None] * [1, -1])
    assert np.allclose(s.ci_low, [2.5, -97.5]) and np.allclose(s.ci_high, [97.5, -2.5])
    assert np.allclose(s.p_first, [100.5 / 101, 0.5 / 101])  # row 0 is a tie (0 vs -0): half each


def test_groups_and_rank_ranges_from_intervals():
    point = [9.0, 8.0, 5.0, 4.5, 1.0]
    lo = [8.5, 7.0, 4.0, 4.2, 0.5]
    hi = [9.5, 8.6, 6.0, 4.8, 1.5]
    assert separable_groups(point, lo, hi) == [[0, 1], [2, 3], [4]]  # 8.5 <= 8.6: the top two overlap
    assert rank_ranges(lo, hi).tolist() == [[1, 2], [1, 2], [3, 4], [3, 4], [5, 5]]
    # a cut needs EVERY interval above it clear of every one below: 2's interval dips under 3's top
    assert separable_groups([3.0, 2.0, 1.0], [2.9, 0.5, 0.9], [3.1, 2.5, 1.1]) == [[0], [1, 2]]
    # lower is better (mean rank): the same rule, mirrored
    assert separable_groups([1.0, 2.0, 3.0], [0.9, 1.9, 2.0], [1.1, 2.1, 3.5], higher_is_better=False) == [[0], [1, 2]]


def test_bad_resample_settings_are_one_line_errors():
    scores, blocks = _two_identical_one_better(n_bench=2)
    with pytest.raises(UserError, match="n_resamples must be 0"):
        build_leaderboard(scores, list("abc"), list("xy"), n_sims=100, eliminate=1, n_bootstrap=100, items=blocks, n_resamples=5)
    with pytest.raises(UserError, match="strata labels"):
        item_block(np.ones((2, 3)), ["h", "b"])
    with pytest.raises(UserError, match="item results for 1 benchmarks"):
        resample_tables(scores, items=blocks[:1], n_resamples=20)
