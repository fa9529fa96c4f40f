"""Swiss-system Monte Carlo ranking (Competitive Swiss-System Dynamics, CSD), vectorised.

Why a tournament rather than a mean: a mean rewards a model that is excellent on a few
benchmarks and poor on the rest the same as one that is solid everywhere; a Swiss tournament
over an ordered sequence of benchmark rounds pairs models of equal standing, so a win only
counts against a peer, and (with elimination) an early bad benchmark costs the later rounds.
See /work/shared/notes/swiss.md for the rules this module implements.

One tournament (rules, exactly):

1. Every model starts on 0 points; all are active.
2. Round k: the active models are grouped by current points (highest first) and shuffled
   inside each group. Pairing:

   * ``"reference"`` (as the paper's code): pairs are formed inside each group; the odd model
     of an odd-sized group sits the round out and scores 0.
   * ``"swiss"`` (standard Swiss system): the odd model of a group is paired down with a model
     of the next lower group, so only the lowest group can leave a model unpaired; that bye
     scores +1 (a pairing-allocated bye counts as a win, as in FIDE rules). Hence a model that
     beats everyone on every round can never score less than one point a round.

3. The match score of a model in round k is the mean of its scores over the round's benchmark
   columns. The higher match score wins (+1 point); an exact tie goes to a fair coin.
4. After every round but the last, the ``eliminate`` lowest-ranked active models (by points,
   ties at the cut broken at random) are dropped and keep their points. The field never shrinks
   below 2 active models: in a round with fewer than ``eliminate + 2`` active models only
   ``n_active - 2`` are dropped (the per-round field sizes are in ``SwissResult.n_active``).

   Departs from the paper's code, which breaks ties at the cut by model index (the lowest row of
   the score table goes first: Python's stable sort) and lets the field shrink to one model or
   none (the tournament then stops). Random ties do not favour a model for its row, and two
   models always stay to play; ``reference_exact=True`` restores the published loop's rules
   (with ``pairing="reference"``), so its tables can be reproduced within Monte Carlo error.
5. Final points of every model are recorded; its final rank is by points (1 = most), ties
   broken at random.

How it is vectorised: N tournaments advance one round at a time as arrays. ``keys`` (N, k)
holds one sorted uint64 key per active model of every simulation, packing (points, random bits,
model id) so that sorting a row groups the field by points (highest first) and shuffles inside
each group in one ``np.sort`` (see :class:`_Codec`). Pairing is then adjacent in that order (for
"swiss" that *is* the pair-down rule: the last of an odd group meets the first, i.e. a random
member, of the next group). The same sort also ranks the field for elimination: dropping the T
lowest is dropping the last T columns; the survivors of a tied cut group stay in uniformly
random order. With ``reference_exact`` the cut is made on a second sort whose in-group order is
the model id (highest first, so the lowest ids sit in the dropped tail) before the field is
shuffled for pairing. Memory is bounded by advancing ``chunk_size`` simulations at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robalign.errors import UserError
from robalign.ranking._checks import as_int, as_rounds, as_score_matrix, round_scores

PAIRINGS = ("reference", "swiss")

#: Simulations advanced together; bounds memory to a few (chunk, n_models) int arrays.
DEFAULT_CHUNK = 16_384


@dataclass(frozen=True)
class SwissResult:
    """Monte Carlo summary of ``n_sims`` simulated tournaments (arrays are read-only).

    Attributes:
        expected_score: (n_models,) float64, E[S] = mean final points.
        std_error: (n_models,) float64, Monte Carlo standard error of E[S] (sample std / sqrt(n_sims)).
        rank_probs: (n_models, n_models) float64, ``rank_probs[i, r]`` = P(model i finishes at
            rank r + 1); ranks by final points, ties broken at random, so rows and columns sum to 1.
        points_probs: (n_models, n_rounds + 1) float64, ``points_probs[i, p]`` = P(model i ends on p points).
        expected_matches: (n_models,) float64, mean number of matches played (not counting
            sit-outs, byes and rounds after elimination). With "reference" pairing every point is a
            won match, so expected_score / expected_matches is the win rate and a model that never
            loses has expected_score == expected_matches.
        n_active: active models in each round (length n_rounds).
        n_sims, n_rounds, eliminate, pairing, reference_exact: the settings that produced it.
    """

    expected_score: np.ndarray
    std_error: np.ndarray
    rank_probs: np.ndarray
    points_probs: np.ndarray
    expected_matches: np.ndarray
    n_active: tuple[int, ...]
    n_sims: int
    n_rounds: int
    eliminate: int
    pairing: str
    reference_exact: bool = False

    @property
    def expected_rank(self) -> np.ndarray:
        """(n_models,) float64: mean final rank, 1 = best."""
        return self.rank_probs @ np.arange(1, self.rank_probs.shape[1] + 1)


def max_eliminate(n_models: int, reference_exact: bool = False) -> int:
    """The largest T a field of ``n_models`` allows: two must stay to play (with ``reference_exact``,
    the published loop's rules, one must be left to play round 2)."""
    return n_models - (1 if reference_exact else 2)


def field_sizes(
    n_models: int, n_rounds: int, eliminate: int, *, reference_exact: bool = False
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Active models per round and models dropped after each round (none after the last).

    The field never shrinks below 2, except with ``reference_exact`` (the published loop drops
    ``eliminate`` models whatever is left: a field of 1 or 0 plays no more matches).
    """
    floor = 0 if reference_exact else 2
    active, drops = [], []
    k = n_models
    for r in range(n_rounds):
        active.append(k)
        d = max(0, min(eliminate, k - floor)) if r < n_rounds - 1 else 0
        drops.append(d)
        k -= d
    return tuple(active), tuple(drops)


class _Codec:
    """Packs (points, random key, model id) of one active slot into one uint64 sort key.

    Layout, high to low bits: ``n_rounds - points`` | random bits | model id. Sorting the keys
    of a simulation's row ascending therefore orders its field by points descending, uniformly
    at random inside a points level, and the sorted keys still carry who is where and on how
    many points: one np.sort replaces argsort + take_along_axis (figure: docs/experiments.md,
    "Figures behind defaults"). Re-randomising for the next round is one AND/OR with fresh
    random bits, and a win is ``key -= 1 << pts_shift``.
    """

    def __init__(self, n_models: int, n_rounds: int):
        self.id_bits = max(1, (n_models - 1).bit_length())
        pts_bits = max(1, n_rounds.bit_length())  # field holds n_rounds - points in [0, n_rounds]
        self.random_bits = 64 - self.id_bits - pts_bits
        if self.random_bits < 32:  # ~2**-32 chance of two equal keys per pair: random tie-breaks stay fair
            raise UserError(
                f"{n_models} models x {n_rounds} rounds is too large for the simulator; "
                "expected log2(n_models) + log2(n_rounds) <= 30"
            )
        self.pts_shift = 64 - pts_bits
        self.id_mask = np.uint64((1 << self.id_bits) - 1)
        self.random_mask = np.uint64(((1 << self.random_bits) - 1) << self.id_bits)
        self.keep_mask = ~self.random_mask  # points field and id field
        self.win = np.uint64(1 << self.pts_shift)
        self.n_rounds = n_rounds

    def encode(self, points: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Keys for all models: ``points`` (N, M) int, ``raw`` (N, M) uint64 random bits -> (N, M) uint64."""
        ids = np.arange(points.shape[1], dtype=np.uint64)
        key = (self.n_rounds - points.astype(np.int64)).astype(np.uint64) << np.uint64(self.pts_shift)
        key |= raw & self.random_mask
        key |= ids
        return key

    def points(self, keys: np.ndarray) -> np.ndarray:
        """Points of every slot, int64 same shape as ``keys``."""
        return self.n_rounds - (keys >> np.uint64(self.pts_shift)).astype(np.int64)

    def ids(self, keys: np.ndarray) -> np.ndarray:
        """Model ids, int64 same shape as ``keys`` (a view of the masked bits: no cast needed)."""
        return (keys & self.id_mask).view(np.int64)


def _play(sa: np.ndarray, sb: np.ndarray, has_ties: bool, rng: np.random.Generator) -> np.ndarray:
    """Does a beat b in each match, given match scores ``sa``, ``sb`` (same shape)? Bool, fair coin on exact ties."""
    a_wins = sa > sb
    if has_ties:
        tie = sa == sb
        n_ties = int(np.count_nonzero(tie))
        if n_ties:
            a_wins[tie] = rng.random(n_ties) < 0.5
    return a_wins


def _simulate_chunk(
    match_scores: np.ndarray,
    n_sims: int,
    drops: tuple[int, ...],
    swiss: bool,
    rng: np.random.Generator,
    index_cut: bool = False,
) -> np.ndarray:
    """Run ``n_sims`` tournaments (``index_cut``: ties at the elimination cut drop the lowest model ids).

    ``match_scores`` (n_rounds, n_models): the per-round match score of every model.
    Returns final points, int16 (n_sims, n_models), and the total number of matches every model
    played, int64 (n_models,) (summed over simulations and rounds; byes and sit-outs excluded).
    State: ``keys`` (N, k) uint64, the k active slots of every simulation, sorted (see _Codec).
    """
    n_rounds, n_models = match_scores.shape
    codec = _Codec(n_models, n_rounds)
    raw = rng.bit_generator.random_raw
    ties = [np.unique(s).size < n_models for s in match_scores]
    points = np.zeros((n_sims, n_models), dtype=np.int16)  # final points, filled at elimination/end
    rows = np.arange(n_sims, dtype=np.intp)[:, None]  # (N, 1)
    active_rounds = np.zeros(n_models, dtype=np.int64)  # sum over sims of rounds spent in the field
    idle = np.zeros(n_models, dtype=np.int64)  # sum over sims of byes and sit-outs

    def drop_tail(keys: np.ndarray, d: int, r: int) -> np.ndarray:
        """Eliminate the last ``d`` slots of the sorted field after ``r`` rounds: they keep their points."""
        keep = keys.shape[1] - d
        out = keys[:, keep:]
        points[rows, codec.ids(out)] = codec.points(out)
        active_rounds[:] += r * np.bincount(codec.ids(out).ravel(), minlength=n_models)
        return np.ascontiguousarray(keys[:, :keep])

    keys = codec.encode(points, raw(points.shape))
    keys.sort(axis=1)  # round 1: all on 0 points, so this is a uniformly random permutation
    for r in range(n_rounds):
        if r > 0:
            d = drops[r - 1]
            if d and index_cut:
                # The published loop's cut: inside a points level the highest ids sort first, so the
                # lowest ids fill the dropped tail; then the survivors are shuffled for pairing.
                keys &= codec.keep_mask
                keys |= (codec.id_mask - (keys & codec.id_mask)) << np.uint64(codec.id_bits)
                keys.sort(axis=1)
                keys, d = drop_tail(keys, d, r), 0
            keys &= codec.keep_mask  # fresh random bits, same points and ids
            keys |= raw(keys.shape) & codec.random_mask
            keys.sort(axis=1)
            if d:  # eliminate the lowest: the tail of the sorted field keeps its points
                keys = drop_tail(keys, d, r)
        k = keys.shape[1]
        if k < 2:  # only with reference_exact: a field of one (it sits out) or none plays no match
            idle += np.bincount(codec.ids(keys).ravel(), minlength=n_models)
            continue
        ids = codec.ids(keys)  # (N, k) model ids in standing order
        slot_scores = match_scores[r][ids]  # (N, k) this round's match score of every slot
        flat = keys.reshape(-1)  # view: flat[s * k + j] is slot j of simulation s
        base = rows * k  # (N, 1)
        if swiss or r == 0:
            # Adjacent pairs (0,1), (2,3), ...: inside one group, and across groups for "swiss".
            a_wins = _play(slot_scores[:, 0 : k - 1 : 2], slot_scores[:, 1:k:2], ties[r], rng)  # (N, k//2)
            win_pos = 2 * np.arange(k // 2) + ~a_wins  # (N, k//2) slot of each winner
            flat[(base + win_pos).ravel()] -= codec.win
            if k % 2:
                idle += np.bincount(ids[:, k - 1], minlength=n_models)
            if swiss and k % 2:
                flat[base[:, 0] + (k - 1)] -= codec.win  # the bye scores a win
            # "reference", round 1 (one group): the odd model in slot k - 1 sits out.
        else:
            # Pair slots (j, j+1) when both are in the same points group and j is at an even offset
            # in it: greedily left to right, slot j opens a pair iff j+1 has its points and slot j
            # was not taken by the pair (j-1, j). A scan over the k columns of (N,) rows.
            same = (keys[:, 1:] ^ keys[:, :-1]) < codec.win  # (N, k-1) equal points fields
            same_t = np.ascontiguousarray(same.T)  # (k-1, N)
            first_t = np.empty_like(same_t)
            first_t[0] = same_t[0]
            for j in range(1, k - 1):
                np.greater(same_t[j], first_t[j - 1], out=first_t[j])  # same[j] and not first[j-1]
            first = np.ascontiguousarray(first_t.T)  # (N, k-1) pair starts
            a_wins = _play(slot_scores[:, :-1], slot_scores[:, 1:], ties[r], rng)  # (N, k-1)
            won = np.zeros((n_sims, k), dtype=bool)  # (N, k) slots that won this round
            np.logical_and(first, a_wins, out=won[:, :-1])
            won[:, 1:] |= first & ~a_wins
            flat[np.flatnonzero(won)] -= codec.win
            in_pair = np.zeros((n_sims, k), dtype=bool)
            in_pair[:, :-1] = first
            in_pair[:, 1:] |= first
            idle += np.bincount(ids[~in_pair], minlength=n_models)
    points[rows, codec.ids(keys)] = codec.points(keys)
    active_rounds += n_rounds * np.bincount(codec.ids(keys).ravel(), minlength=n_models)
    return points, active_rounds - idle


def swiss_tournament(
    scores,
    rounds,
    *,
    n_sims: int = 100_000,
    eliminate: int = 0,
    seed: int | np.random.Generator = 0,
    pairing: str = "reference",
    reference_exact: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
) -> SwissResult:
    """Expected final Swiss-tournament score of every model, by Monte Carlo.

    Args:
        scores: (n_models, n_benchmarks) accuracy-like numbers, higher is better, no NaN.
        rounds: one group of benchmark column indices per round, in playing order, e.g.
            ``[[0, 1], [2], [3, 4]]``; a round's match score is the mean over its columns.
        n_sims: independent tournaments to simulate (>= 2).
        eliminate: models dropped after each round (T in the paper; 0 = no elimination).
        seed: an int or an ``np.random.Generator`` (consumed). The result is a deterministic
            function of (seed, chunk_size) and the inputs.
        pairing: ``"reference"`` (odd model of a group sits out, 0 points) or ``"swiss"``
            (odd model paired down; a bye for the lowest group scores +1). See module doc.
        reference_exact: the published loop's rules (LJSthu/LLMSwissRound): ties at the
            elimination cut drop the lowest row index first, and the field may shrink to one
            model or none. Needs ``pairing="reference"``; identical to the default at
            ``eliminate=0``. Default False: random ties at the cut, at least two models stay.
        chunk_size: simulations advanced together (memory bound; changes the random stream).

    Returns:
        :class:`SwissResult`.
    """
    scores = as_score_matrix(scores)
    n_models, n_bench = scores.shape
    rounds = as_rounds(rounds, n_bench)
    n_sims = as_int(n_sims, "n_sims", minimum=2)
    eliminate = as_int(eliminate, "eliminate", minimum=0)
    chunk_size = as_int(chunk_size, "chunk_size", minimum=1)
    if not isinstance(reference_exact, (bool, np.bool_)):
        raise UserError(f"reference_exact must be true or false; got {reference_exact!r}")
    reference_exact = bool(reference_exact)
    if pairing not in PAIRINGS:
        raise UserError(f"pairing must be one of {', '.join(repr(p) for p in PAIRINGS)}; got {pairing!r}")
    if reference_exact and pairing != "reference":
        raise UserError(f"reference_exact reproduces the paper's loop, which pairs as 'reference'; got pairing={pairing!r}")
    max_t = max_eliminate(n_models, reference_exact)
    if eliminate > max_t:
        why = "at least 1 must play round 2" if reference_exact else "at least 2 must stay to play"
        raise UserError(f"eliminate={eliminate} is too large for {n_models} models; expected 0..{max_t} ({why})")
    rng = np.random.default_rng(seed)

    match_scores = round_scores(scores, rounds)  # (n_rounds, n_models)
    n_rounds = len(rounds)
    n_active, drops = field_sizes(n_models, n_rounds, eliminate, reference_exact=reference_exact)

    total = np.zeros(n_models)
    total_sq = np.zeros(n_models)
    rank_counts = np.zeros(n_models * n_models, dtype=np.int64)
    points_counts = np.zeros(n_models * (n_rounds + 1), dtype=np.int64)
    played = np.zeros(n_models, dtype=np.int64)
    codec = _Codec(n_models, n_rounds)
    model_ids = np.arange(n_models)
    rank_ids = np.arange(n_models)
    done = 0
    while done < n_sims:
        n = min(chunk_size, n_sims - done)
        pts, chunk_played = _simulate_chunk(match_scores, n, drops, pairing == "swiss", rng, reference_exact)  # (n, M) int16
        played += chunk_played
        total += pts.sum(axis=0)
        total_sq += np.square(pts, dtype=np.float64).sum(axis=0)
        # Final ranks: by points, random among equal points. final[s, r] = model at rank r+1.
        final_keys = codec.encode(pts, rng.bit_generator.random_raw(pts.shape))
        final_keys.sort(axis=1)
        final = codec.ids(final_keys)
        rank_counts += np.bincount((final * n_models + rank_ids).ravel(), minlength=n_models * n_models)
        points_counts += np.bincount((model_ids * (n_rounds + 1) + pts).ravel(), minlength=points_counts.size)
        done += n

    mean = total / n_sims
    var = np.maximum(total_sq - n_sims * mean**2, 0.0) / (n_sims - 1)
    arrays = dict(
        expected_score=mean,
        std_error=np.sqrt(var / n_sims),
        rank_probs=rank_counts.reshape(n_models, n_models) / n_sims,
        points_probs=points_counts.reshape(n_models, n_rounds + 1) / n_sims,
        expected_matches=played / n_sims,
    )
    for a in arrays.values():
        a.flags.writeable = False
    return SwissResult(
        **arrays, n_active=n_active, n_sims=n_sims, n_rounds=n_rounds, eliminate=eliminate, pairing=pairing,
        reference_exact=reference_exact,
    )


def rules_note(pairing: str, reference_exact: bool) -> str:
    """One sentence naming the rules that produced a table, for every report that prints E[S].

    Why: at T >= 1 robalign's default and the published loop give different numbers (up to about
    a point of E[S] on the paper's shape), so a reader comparing with the paper must know which.
    """
    pair = (
        "odd model of a points group sits out" if pairing == "reference"
        else "odd model paired down, the lowest group's bye scores a win"
    )
    if reference_exact:
        cut = "the published loop's rules at the elimination cut (ties drop the lowest table row first; the field may shrink to one model)"
    else:
        cut = "robalign's rules at the elimination cut (ties broken at random; two models always stay), not the published loop's (reference_exact restores them)"
    return f"Swiss rules: {pairing} pairing ({pair}); {cut}."


def failure_sensitivity(
    scores,
    rounds,
    *,
    eliminate: int = 2,
    n_sims: int = 100_000,
    seed: int | np.random.Generator = 0,
    pairing: str = "reference",
    reference_exact: bool = False,
) -> np.ndarray:
    """E[S] without elimination minus E[S] with ``eliminate`` drops a round; shape (n_models,).

    Why: a model that is strong overall but bad on one early benchmark loses little when it can
    recover in later rounds (T=0) and a lot when that round knocks it out (T=2). Large = brittle.
    Both tournaments use generators spawned from ``seed``.
    """
    rng0, rng_t = np.random.default_rng(seed).spawn(2)
    kw = dict(n_sims=n_sims, pairing=pairing, reference_exact=reference_exact)
    base = swiss_tournament(scores, rounds, eliminate=0, seed=rng0, **kw)
    elim = swiss_tournament(scores, rounds, eliminate=eliminate, seed=rng_t, **kw)
    return base.expected_score - elim.expected_score
