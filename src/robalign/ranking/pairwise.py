"""Pairwise outcomes from per-item results: the input of Bradley-Terry and Elo.

Why per item: two models that both answered the same benchmark item form one "match" decided by
their scores on that item (correct beats wrong, equal scores tie). Counting these matches over
all items gives Chatbot-Arena style win/loss/tie data without a judge. A plain score matrix
(models x benchmarks) is the special case where every benchmark is one item.

Input convention everywhere: ``item_scores`` of shape (n_models, n_items), float, higher is
better, NaN where a model has no result for an item (that item then yields no match for it).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from robalign.ranking._checks import as_score_matrix

#: Items compared at once, at most; with BLOCK_ELEMENTS this bounds the (n_models, n_models,
#: chunk) float32 outcome block to ~16 MB whatever the number of models.
ITEM_CHUNK = 2048
BLOCK_ELEMENTS = 4_000_000


def as_item_scores(item_scores) -> np.ndarray:
    """Validate per-item scores: (n_models, n_items) float64, NaN allowed (= not answered), no inf."""
    return as_score_matrix(item_scores, name="item_scores", allow_nan=True)


def item_outcomes(item_scores: np.ndarray, chunk: int | None = None) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield (item slice, outcome block) with block float32 (n_models, n_models, n_chunk_items).

    ``block[i, j, t]`` is model i's result against j on item t: 1 win, 0.5 tie, 0 loss, and 0 when
    either model has no score for the item (comparisons with NaN are False on both tests).
    So ``block + block.transpose(1, 0, 2)`` is 1 exactly where a match took place.
    """
    n_models, n_items = item_scores.shape
    if chunk is None:
        chunk = max(1, min(ITEM_CHUNK, BLOCK_ELEMENTS // (n_models * n_models)))
    for start in range(0, n_items, chunk):
        sl = slice(start, min(start + chunk, n_items))
        s = item_scores[:, sl]
        a, b = s[:, None, :], s[None, :, :]  # (M, 1, c), (1, M, c)
        block = (a > b).astype(np.float32)
        block += np.float32(0.5) * (a == b)
        idx = np.arange(s.shape[0])
        block[idx, idx, :] = 0.0  # no self-matches
        yield sl, block


def pairwise_counts(item_scores) -> tuple[np.ndarray, np.ndarray]:
    """Win and tie counts over all items both models answered.

    Returns:
        wins: int64 (n_models, n_models), ``wins[i, j]`` = items where i scored strictly higher than j.
        ties: int64 (n_models, n_models), symmetric, zero diagonal: items where both scored equal.
    """
    s = as_item_scores(item_scores)
    m = s.shape[0]
    wins = np.zeros((m, m), dtype=np.int64)
    ties = np.zeros((m, m), dtype=np.int64)
    for _, block in item_outcomes(s):
        wins += (block == 1.0).sum(axis=2)
        ties += (block == 0.5).sum(axis=2)
    return wins, ties


def pairwise_matches(item_scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (item, unordered pair) both models answered, as a match list for online Elo.

    Returns ``model_a`` int64 (T,), ``model_b`` int64 (T,) with model_a < model_b, and
    ``outcome`` float64 (T,): model_a's result, 1 win / 0.5 tie / 0 loss. Ordered item by item.
    """
    s = as_item_scores(item_scores)
    m = s.shape[0]
    ia, ib = np.triu_indices(m, k=1)  # (P,) unordered pairs
    sa, sb = s[ia, :], s[ib, :]  # (P, n_items)
    played = ~(np.isnan(sa) | np.isnan(sb))
    outcome = (sa > sb) + 0.5 * (sa == sb)
    item_idx, pair_idx = np.nonzero(played.T)  # (T,) item-major: item 0's pairs first
    return ia[pair_idx].astype(np.int64), ib[pair_idx].astype(np.int64), outcome[pair_idx, item_idx].astype(np.float64)
