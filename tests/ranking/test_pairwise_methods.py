"""Bradley-Terry, Elo, baselines and agreement: recovery of known strengths and hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau

from robalign.errors import UserError
from robalign.ranking import (
    bradley_terry,
    elo,
    elo_from_matches,
    fit_bradley_terry,
    kendall_tau,
    mean_rank,
    mean_score,
    pairwise_counts,
    pairwise_matches,
    tau_matrix,
    to_elo_scale,
)

TRUE_THETA = np.linspace(-1.5, 1.5, 8)  # natural-log strengths of 8 models


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def gumbel_items(theta: np.ndarray, n_items: int, seed: int) -> np.ndarray:
    """Per-item scores theta_i + Gumbel noise: P(s_i > s_j) = sigmoid(theta_i - theta_j) exactly
    (the difference of two independent Gumbels is logistic), i.e. a Bradley-Terry model."""
    rng = np.random.default_rng(seed)
    return theta[:, None] + rng.gumbel(size=(theta.size, n_items))


def test_pairwise_counts_by_hand():
    s = np.array(
        [
            [1.0, 0.0, 1.0, np.nan],
            [0.0, 0.0, 1.0, 1.0],
            [1.0, np.nan, 0.0, 0.0],
        ]
    )
    wins, ties = pairwise_counts(s)
    # model 0 vs 1: items 0 (win), 1 (tie), 2 (tie); item 3 unanswered by 0
    # model 0 vs 2: item 0 tie, item 2 win; item 1 and 3 missing for one side
    # model 1 vs 2: item 0 loss, item 2 win, item 3 win
    np.testing.assert_array_equal(wins, [[0, 1, 1], [0, 0, 2], [0, 1, 0]])
    np.testing.assert_array_equal(ties, [[0, 2, 1], [2, 0, 0], [1, 0, 0]])
    a, b, o = pairwise_matches(s)
    assert len(a) == wins.sum() + ties.sum() // 2  # one match per (item, pair) both answered
    assert set(zip(a.tolist(), b.tolist())) == {(0, 1), (0, 2), (1, 2)}
    np.testing.assert_array_equal(np.sort(o[(a == 1) & (b == 2)]), [0.0, 1.0, 1.0])


def test_fit_recovers_strengths_from_simulated_bt_outcomes():
    rng = np.random.default_rng(0)
    m, n = TRUE_THETA.size, 400  # 400 games per pair
    wins = np.zeros((m, m))
    for i in range(m):
        for j in range(i + 1, m):
            w = rng.binomial(n, sigmoid(TRUE_THETA[i] - TRUE_THETA[j]))
            wins[i, j], wins[j, i] = w, n - w
    theta = fit_bradley_terry(wins, l2=1e-6)
    centred = theta - theta.mean()
    assert np.abs(centred - (TRUE_THETA - TRUE_THETA.mean())).max() < 0.12
    assert kendalltau(theta, TRUE_THETA).statistic == pytest.approx(1.0)
    # the fit is the likelihood's stationary point: predicted wins per model equal observed wins
    p = sigmoid(theta[:, None] - theta[None, :])
    np.testing.assert_allclose(((wins + wins.T) * p).sum(1), wins.sum(1), rtol=1e-6)


def test_bradley_terry_from_items_recovers_known_model_with_calibrated_intervals():
    scores = gumbel_items(TRUE_THETA, n_items=1500, seed=1)
    res = bradley_terry(scores, n_bootstrap=100, seed=2)
    expected = to_elo_scale(TRUE_THETA)  # mean 1000, 400/ln(10) points per nat
    assert np.abs(res.ratings - expected).max() < 30
    assert kendalltau(res.ratings, TRUE_THETA).statistic == pytest.approx(1.0)
    assert res.ratings.mean() == pytest.approx(1000.0)
    covered = (res.ci_low <= expected) & (expected <= res.ci_high)
    assert covered.sum() >= 6  # 95% intervals: most of the 8 cover the truth
    assert np.all(res.ci_low <= res.ratings) and np.all(res.ratings <= res.ci_high)
    assert res.bootstrap.shape == (100, 8)


def test_bradley_terry_seeded_anchor_and_separation():
    scores = gumbel_items(TRUE_THETA, n_items=200, seed=3)
    a = bradley_terry(scores, n_bootstrap=100, seed=4)
    b = bradley_terry(scores, n_bootstrap=100, seed=4)
    np.testing.assert_array_equal(a.ci_low, b.ci_low)
    anchored = bradley_terry(scores, n_bootstrap=100, seed=4, anchor=0)
    assert anchored.ratings[0] == pytest.approx(1000.0)
    np.testing.assert_allclose(np.diff(anchored.ratings), np.diff(a.ratings))  # a shift only
    # Perfect separation (model 0 beats all on every benchmark): the ridge keeps it finite.
    table = np.array([[9.0, 9.0, 9.0], [5.0, 6.0, 4.0], [4.0, 5.0, 6.0]])
    sep = bradley_terry(table, n_bootstrap=100, seed=5)
    assert np.isfinite(sep.ratings).all() and np.argmax(sep.ratings) == 0


def test_online_elo_by_hand_and_on_known_strengths():
    # One match, a beats b, equal start: expected score 0.5 -> a gains k/2, b loses k/2.
    one = elo_from_matches([0], [1], [1.0], 2, k=16, n_permutations=3, seed=0)
    np.testing.assert_allclose(one.ratings, [1008.0, 992.0])
    # Two matches, a wins one and b the other: the rating depends on the order.
    e = 1 / (1 + 10 ** (-16 / 400))  # expected score of the side 16 points ahead
    a_first = 1008.0 - 16 * e  # a wins (+8), then loses while 16 ahead
    b_first = 992.0 + 16 * e  # a loses (-8), then wins while 16 behind
    one_order = elo_from_matches([0, 0], [1, 1], [1.0, 0.0], 2, k=16, n_permutations=1, seed=1)
    assert min(abs(one_order.ratings[0] - a_first), abs(one_order.ratings[0] - b_first)) < 1e-9
    many = elo_from_matches([0, 0], [1, 1], [1.0, 0.0], 2, k=16, n_permutations=200, seed=1)
    assert a_first < many.ratings[0] < b_first and many.spread[0] > 0
    np.testing.assert_allclose(many.ratings.sum(), 2000.0)  # Elo is zero-sum
    res = elo(gumbel_items(TRUE_THETA, n_items=150, seed=6), n_permutations=20, seed=7)
    assert kendalltau(res.ratings, TRUE_THETA).statistic > 0.85
    again = elo(gumbel_items(TRUE_THETA, n_items=150, seed=6), n_permutations=20, seed=7)
    np.testing.assert_array_equal(res.ratings, again.ratings)


def test_mean_score_and_mean_rank_with_ties():
    s = np.array([[3.0, 1.0], [3.0, 2.0], [1.0, 3.0]])
    np.testing.assert_allclose(mean_score(s), [2.0, 2.5, 2.0])
    # benchmark 0: models 0 and 1 tie for ranks 1-2 -> 1.5 each; model 2 rank 3
    # benchmark 1: ranks 3, 2, 1
    np.testing.assert_allclose(mean_rank(s), [(1.5 + 3) / 2, (1.5 + 2) / 2, (3 + 1) / 2])


def test_kendall_tau_and_matrix():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert kendall_tau(x, 10 * x) == pytest.approx(1.0)
    assert kendall_tau(x, -x) == pytest.approx(-1.0)
    assert np.isnan(kendall_tau(x, np.ones(4)))
    names, tau = tau_matrix({"a": x, "b": x[::-1], "c": [1, 2, 4, 3]})
    assert names == ["a", "b", "c"]
    np.testing.assert_allclose(tau, tau.T)
    np.testing.assert_allclose(np.diag(tau), 1.0)
    assert tau[0, 1] == pytest.approx(-1.0) and tau[0, 2] == pytest.approx(4 / 6)


@pytest.mark.parametrize(
    "call,needle",
    [
        (lambda: bradley_terry(np.ones((1, 3))), "at least 2 models"),
        (lambda: bradley_terry(np.ones((3, 3)), n_bootstrap=50), "n_bootstrap must be an integer >= 100"),
        (lambda: bradley_terry(np.ones((3, 3)), ci=1.5), "ci must be in (0, 1)"),
        (lambda: bradley_terry(np.ones((3, 3)), anchor=7), "anchor must be a model index"),
        (lambda: bradley_terry(np.array([[1.0, np.nan], [np.nan, 1.0]])), "no item answered by two models"),
        (lambda: fit_bradley_terry(np.ones((2, 3))), "square"),
        (lambda: fit_bradley_terry(np.ones((2, 2)), l2=0), "l2 must be > 0"),
        (lambda: elo_from_matches([0], [0], [1.0], 2), "two different model indices"),
        (lambda: elo_from_matches([0], [1], [0.3], 2), "outcome must be"),
        (lambda: mean_rank(np.array([[1.0, np.nan], [2.0, 3.0]])), "NaN"),
        (lambda: kendall_tau([1, 2, 3], [1, 2]), "same length"),
    ],
)
def test_bad_input_raises_one_line_user_error(call, needle):
    with pytest.raises(UserError) as info:
        call()
    assert needle in str(info.value) and "\n" not in str(info.value)
