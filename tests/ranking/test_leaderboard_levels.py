"""build_leaderboard computes the Swiss tournament at every elimination level asked for, on seed
streams it owns (children 5, 6, ... of default_rng(seed).spawn, smallest level first), so the
tournament's report never re-seeds or re-simulates a level."""

from __future__ import annotations

import numpy as np


def test_every_level_is_computed_on_its_own_stream():
    from robalign.ranking import build_leaderboard, resolve_rounds, swiss_tournament

    scores = np.random.default_rng(4).random((6, 4))
    out = {}
    build_leaderboard(scores, list("abcdef"), list("wxyz"), n_sims=2_000, eliminate=3, n_bootstrap=100, seed=11,
                      swiss_out=out, levels=[0, 1, 2, 3], n_resamples=0)
    assert sorted(out) == [0, 1, 2, 3]
    children = np.random.default_rng(11).spawn(7)
    cols = resolve_rounds(None, list("wxyz"))
    for k, t in enumerate([1, 2]):
        again = swiss_tournament(scores, cols, n_sims=2_000, eliminate=t, pairing="swiss", seed=children[5 + k])
        np.testing.assert_array_equal(out[t].expected_score, again.expected_score)
    assert not np.array_equal(out[1].expected_score, out[2].expected_score)
