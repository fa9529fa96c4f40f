"""Swiss tournament: rules checked against hand-computed values and plain-loop oracles (robalign.ranking.loops)."""

from __future__ import annotations

import numpy as np
import pytest

from robalign.errors import UserError
from robalign.ranking import failure_sensitivity, swiss_tournament
from robalign.ranking.loops import loop_points

N_SIMS = 20_000


def loop_summary(scores: np.ndarray, rounds, eliminate: int, pairing: str, n: int, seed: int, published: bool = False):
    """Mean, s.e. and all final points of ``n`` plain-loop tournaments (the oracle: robalign.ranking.loops)."""
    pts = loop_points(scores, rounds, n=n, eliminate=eliminate, pairing=pairing, published=published, seed=seed)
    return pts.mean(0), pts.std(0, ddof=1) / np.sqrt(n), pts


def assert_matches_loop(res, mean, se, pts) -> None:
    """The simulator agrees with plain-loop tournaments: E[S] (z < 4) and the whole final-points
    distribution, not only its mean (every points level within 4.5 binomial s.d.)."""
    z = np.abs(res.expected_score - mean) / np.sqrt(res.std_error**2 + se**2 + 1e-12)
    assert z.max() < 4, (res.expected_score, mean, z)
    n_loop = pts.shape[0]
    for p in range(res.n_rounds + 1):
        loop_p = (pts == p).mean(0)
        sd = np.sqrt(res.points_probs[:, p] * (1 - res.points_probs[:, p]) / n_loop + 1e-12)
        assert np.all(np.abs(res.points_probs[:, p] - loop_p) < 4.5 * sd + 1e-9), (p, res.points_probs[:, p], loop_p)


def random_case(n_models: int, n_bench: int, seed: int, with_ties: bool):
    rng = np.random.default_rng(seed)
    if with_ties:  # few distinct values: many exact ties, exercising the coin flips
        scores = rng.integers(0, 4, size=(n_models, n_bench)).astype(float)
    else:
        scores = rng.random((n_models, n_bench))
    cols = list(range(n_bench))
    rounds = [cols[0:2], cols[2:3], cols[3:5], cols[5:6], cols[6:8]]
    return scores, rounds


@pytest.mark.parametrize("pairing", ["reference", "swiss"])
@pytest.mark.parametrize("eliminate", [0, 1, 2])
@pytest.mark.parametrize("n_models,with_ties", [(7, False), (6, True), (5, True)])
def test_matches_loop_oracle_in_distribution(pairing, eliminate, n_models, with_ties):
    scores, rounds = random_case(n_models, 8, seed=100 * n_models + eliminate, with_ties=with_ties)
    res = swiss_tournament(scores, rounds, n_sims=N_SIMS, eliminate=eliminate, pairing=pairing, seed=1)
    n_loop = 3_000
    mean, se, pts = loop_summary(scores, rounds, eliminate, pairing, n_loop, seed=2)
    assert_matches_loop(res, mean, se, pts)


# ---------------------------------------------------------------------------------------------
# Exact values worked out by hand: A > B > C > D on every benchmark, 4 models, 2 rounds.
# ---------------------------------------------------------------------------------------------
ORDERED4 = np.array([[4.0, 4.0], [3.0, 3.0], [2.0, 2.0], [1.0, 1.0]])


def test_hand_computed_reference_no_elimination():
    # Round 1 pairs at random; round 2 pairs the two 1-point and the two 0-point models. Whatever
    # the draw, A wins twice, B and C end on 1, D on 0.
    res = swiss_tournament(ORDERED4, [[0], [1]], n_sims=N_SIMS, pairing="reference", seed=3)
    np.testing.assert_array_equal(res.expected_score, [2, 1, 1, 0])
    np.testing.assert_array_equal(res.std_error, [0, 0, 0, 0])


@pytest.mark.parametrize(
    "pairing,expected",
    [
        # After round 1 the two losers (0 points) tie at the cut; one is dropped at random. The
        # other is alone in the 0-point group: it sits out (reference) or gets the bye (swiss).
        # B loses round 1 only against A (p=1/3), C wins only against D (p=1/3).
        ("reference", [2.0, 2 / 3, 1 / 3, 0.0]),
        ("swiss", [2.0, 2 / 3 + 1 / 6, 1 / 3 + 1 / 3, 0.5]),
    ],
)
def test_hand_computed_elimination(pairing, expected):
    res = swiss_tournament(ORDERED4, [[0], [1]], n_sims=N_SIMS, eliminate=1, pairing=pairing, seed=4)
    assert res.n_active == (4, 3)
    z = np.abs(res.expected_score - expected) / np.maximum(res.std_error, 1e-12)
    assert np.all((z < 4) | (res.std_error == 0) & np.isclose(res.expected_score, expected)), (res.expected_score, expected)


# ---------------------------------------------------------------------------------------------
# reference_exact against robalign.ranking.loops.published_loop, a port of the paper's loop.
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "n_models,eliminate,with_ties,field",
    [
        (7, 1, False, (7, 6, 5, 4, 3)),
        (6, 1, True, (6, 5, 4, 3, 2)),
        (7, 2, True, (7, 5, 3, 1, 0)),  # shrinks to one model, then none
        (5, 2, False, (5, 3, 1, 0, 0)),
        (6, 2, True, (6, 4, 2, 0, 0)),  # two left are both dropped: the tournament ends early
    ],
)
def test_reference_exact_matches_the_published_loop(n_models, eliminate, with_ties, field):
    scores, rounds = random_case(n_models, 8, seed=300 + 10 * n_models + eliminate, with_ties=with_ties)
    res = swiss_tournament(scores, rounds, n_sims=N_SIMS, eliminate=eliminate, reference_exact=True, seed=5)
    assert res.n_active == field and res.reference_exact
    n_loop = 4_000
    mean, se, pts = loop_summary(scores, rounds, eliminate, "reference", n_loop, seed=6, published=True)
    assert_matches_loop(res, mean, se, pts)
    # the played-matches count stays consistent: every point is a won match ("reference" pairing)
    assert np.all(res.expected_score <= res.expected_matches + 1e-12)


def test_reference_exact_favours_later_rows_where_the_default_does_not():
    # Identical models: every match is a coin flip. The published cut drops the lowest row index
    # among equal points, so later rows survive longer and score more; random ties keep them equal.
    scores = np.ones((6, 5))
    rounds = [[j] for j in range(5)]
    exact = swiss_tournament(scores, rounds, n_sims=N_SIMS, eliminate=1, reference_exact=True, seed=7)
    default = swiss_tournament(scores, rounds, n_sims=N_SIMS, eliminate=1, seed=7)
    se = exact.std_error.max()
    assert np.all(np.diff(exact.expected_score) > -4 * se), exact.expected_score  # non-decreasing in the row
    spread = exact.expected_score[-1] - exact.expected_score[0]
    assert spread > 10 * np.hypot(exact.std_error[0], exact.std_error[-1])
    z = np.abs(default.expected_score - default.expected_score.mean()) / default.std_error
    assert z.max() < 4.5, default.expected_score


def test_reference_exact_equals_default_without_elimination():
    scores, rounds = random_case(7, 8, seed=8, with_ties=True)
    a = swiss_tournament(scores, rounds, n_sims=5_000, seed=9)
    b = swiss_tournament(scores, rounds, n_sims=5_000, seed=9, reference_exact=True)
    np.testing.assert_array_equal(a.expected_score, b.expected_score)  # same rules, same random stream


# ---------------------------------------------------------------------------------------------
# Properties.
# ---------------------------------------------------------------------------------------------
def dominant_case(n_models: int, n_bench: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = rng.random((n_models, n_bench))
    scores[0] = scores.max(axis=0) + 0.1  # model 0 beats everyone on every benchmark
    return scores


@pytest.mark.parametrize("eliminate", [0, 1, 2])
@pytest.mark.parametrize("n_models", [7, 8])
def test_dominant_model_with_swiss_pairing_scores_every_round(n_models, eliminate):
    scores = dominant_case(n_models, 6)
    rounds = [[j] for j in range(6)]
    res = swiss_tournament(scores, rounds, n_sims=N_SIMS, eliminate=eliminate, pairing="swiss", seed=5)
    assert res.expected_score[0] == len(rounds)
    assert res.std_error[0] == 0
    assert res.rank_probs[0, 0] == 1.0


def test_dominant_model_never_loses_with_reference_pairing():
    # 16 models, 4 rounds: every points group has an even size in every round (16 C(r,p) / 2^r),
    # so nobody ever sits out and the only way to score less than 4 is to lose a match.
    scores = dominant_case(16, 4)
    res = swiss_tournament(scores, [[0], [1], [2], [3]], n_sims=N_SIMS, pairing="reference", seed=6)
    assert res.expected_score[0] == 4 and res.std_error[0] == 0
    assert res.expected_matches[0] == 4
    # Odd fields: it sometimes sits out, but every match it plays is a win (points == matches).
    for eliminate in (0, 1, 2):
        odd = swiss_tournament(dominant_case(7, 5), [[j] for j in range(5)], n_sims=N_SIMS, eliminate=eliminate, seed=7)
        assert odd.expected_matches[0] < 5  # it did sit out some rounds
        assert odd.expected_score[0] == odd.expected_matches[0]


def test_identical_models_get_equal_expected_scores():
    rng = np.random.default_rng(8)
    row = rng.random(6)
    same = np.tile(row, (5, 1))  # every match is a coin flip
    for pairing in ("reference", "swiss"):
        res = swiss_tournament(same, [[0, 1], [2], [3, 4], [5]], n_sims=N_SIMS, pairing=pairing, seed=9)
        e, se = res.expected_score, res.std_error
        z = np.abs(e[:, None] - e[None, :]) / np.sqrt(se[:, None] ** 2 + se[None, :] ** 2)
        assert z.max() < 4, e
        assert np.abs(res.rank_probs - 1 / 5).max() < 0.02
    # two copies of one model inside an otherwise random field
    scores = rng.random((7, 6))
    scores[3] = scores[5]
    res = swiss_tournament(scores, [[j] for j in range(6)], n_sims=N_SIMS, eliminate=1, seed=10)
    assert abs(res.expected_score[3] - res.expected_score[5]) < 4 * np.hypot(res.std_error[3], res.std_error[5])


def test_swiss_total_points_is_one_per_match_or_bye():
    scores, rounds = random_case(7, 8, seed=11, with_ties=True)
    res = swiss_tournament(scores, rounds, n_sims=5_000, pairing="swiss", seed=12)
    # 7 models: 3 matches and 1 bye a round, every one worth exactly 1 point
    assert res.expected_score.sum() == pytest.approx(4 * len(rounds), abs=1e-9)


def test_probabilities_are_normalised_and_consistent():
    scores, rounds = random_case(7, 8, seed=13, with_ties=False)
    res = swiss_tournament(scores, rounds, n_sims=N_SIMS, eliminate=1, seed=14)
    np.testing.assert_allclose(res.rank_probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(res.rank_probs.sum(axis=0), 1.0)  # each rank is taken by exactly one model
    np.testing.assert_allclose(res.points_probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(res.points_probs @ np.arange(len(rounds) + 1), res.expected_score)
    np.testing.assert_allclose(res.expected_rank.sum(), sum(range(1, 8)))
    assert not res.expected_score.flags.writeable


def test_deterministic_for_a_seed_and_chunking_only_changes_the_stream():
    scores, rounds = random_case(6, 8, seed=15, with_ties=True)
    a = swiss_tournament(scores, rounds, n_sims=5_000, eliminate=2, seed=42)
    b = swiss_tournament(scores, rounds, n_sims=5_000, eliminate=2, seed=42)
    c = swiss_tournament(scores, rounds, n_sims=5_000, eliminate=2, seed=43)
    np.testing.assert_array_equal(a.expected_score, b.expected_score)
    np.testing.assert_array_equal(a.rank_probs, b.rank_probs)
    assert not np.array_equal(a.expected_score, c.expected_score)
    small = swiss_tournament(scores, rounds, n_sims=5_001, eliminate=2, seed=42, chunk_size=700)  # ragged last chunk
    assert small.n_sims == 5_001
    z = np.abs(small.expected_score - a.expected_score) / np.hypot(small.std_error, a.std_error)
    assert z.max() < 4
    gen = np.random.default_rng(42)
    g1 = swiss_tournament(scores, rounds, n_sims=1_000, seed=gen)
    g2 = swiss_tournament(scores, rounds, n_sims=1_000, seed=gen)  # the generator was consumed
    assert not np.array_equal(g1.expected_score, g2.expected_score)


def test_elimination_keeps_points_and_never_shrinks_field_below_two():
    scores, rounds = random_case(6, 8, seed=16, with_ties=False)
    res = swiss_tournament(scores, rounds, n_sims=2_000, eliminate=2, seed=17)
    assert res.n_active == (6, 4, 2, 2, 2)
    # only 2 + 2 + 1 + 1 + 1 matches are played: the points handed out can't exceed that
    assert res.expected_score.sum() <= 7 + 1e-9
    assert res.expected_score.sum() > 0


def test_failure_sensitivity_flags_a_model_that_fails_the_first_round():
    rng = np.random.default_rng(18)
    scores = 50 + 40 * rng.random((8, 6))
    scores[0] = 100.0
    scores[0, 0] = 0.0  # best everywhere except round 1, where it is last
    sens = failure_sensitivity(scores, [[j] for j in range(6)], n_sims=N_SIMS, seed=19)
    assert sens.shape == (8,)
    assert np.argmax(sens) == 0
    assert sens[0] > 1.5  # knocked out in ~half the T=2 tournaments after scoring 0


# ---------------------------------------------------------------------------------------------
# Bad input: one UserError, one line, saying what was expected.
# ---------------------------------------------------------------------------------------------
GOOD = np.arange(12, dtype=float).reshape(4, 3)


@pytest.mark.parametrize(
    "scores,rounds,kwargs,needle",
    [
        (np.array([[1.0, np.nan], [0.5, 0.2], [0.1, 0.3]]), [[0], [1]], {}, "NaN"),
        (np.array([[1.0, np.inf], [0.5, 0.2]]), [[0], [1]], {}, "infinite"),
        (GOOD, [[0], [3]], {}, "column 3"),
        (GOOD, [[0], [-1]], {}, "column -1"),
        (GOOD, [[0], []], {}, "round 2"),
        (GOOD, [], {}, "non-empty list"),
        (GOOD, [[0, 0]], {}, "twice"),
        (GOOD, [[0.5]], {}, "integer column index"),
        (GOOD[:1], [[0]], {}, "at least 2 models"),
        (np.arange(4.0), [[0]], {}, "2-D"),
        (GOOD, [[0]], {"pairing": "dutch"}, "pairing must be one of"),
        (GOOD, [[0]], {"eliminate": -1}, "eliminate must be an integer >= 0"),
        (GOOD, [[0]], {"eliminate": 3}, "expected 0..2"),
        (GOOD, [[0]], {"eliminate": True}, "eliminate must be an integer"),
        (GOOD, [[0]], {"n_sims": 1}, "n_sims"),
        (GOOD, [[0]], {"reference_exact": True, "pairing": "swiss"}, "pairs as 'reference'"),
        (GOOD, [[0]], {"reference_exact": True, "eliminate": 4}, "expected 0..3"),
        (GOOD, [[0]], {"reference_exact": "yes"}, "reference_exact must be true or false"),
        ([["a", "b"], ["c", "d"]], [[0]], {}, "numeric"),
    ],
)
def test_bad_input_raises_one_line_user_error(scores, rounds, kwargs, needle):
    with pytest.raises(UserError) as info:
        swiss_tournament(scores, rounds, **{"n_sims": 100, **kwargs})
    msg = str(info.value)
    assert needle in msg and "\n" not in msg


def test_rounds_may_be_numpy_arrays():
    scores, rounds = random_case(6, 8, seed=20, with_ties=False)
    as_lists = swiss_tournament(scores, rounds, n_sims=1_000, seed=21)
    as_arrays = swiss_tournament(scores, [np.array(g) for g in rounds], n_sims=1_000, seed=21)
    np.testing.assert_array_equal(as_lists.expected_score, as_arrays.expected_score)
