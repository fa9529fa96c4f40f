"""How well posteriors separate flipped from clean pairs (needs the data's `label_flipped`)."""

from __future__ import annotations

import torch


def weight_auc(w: torch.Tensor, flipped: torch.Tensor) -> float:
    """P(w_clean > w_flipped) for a random clean/flipped pair (ties count 1/2): the ROC AUC
    of w as a score for "clean". NaN when one class is absent. Mann-Whitney U on ranks."""
    w = w.detach().to(torch.float64).flatten()
    clean = ~flipped.detach().bool().flatten()
    n_pos, n_neg = int(clean.sum()), int((~clean).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = torch.argsort(w)
    ranks = torch.empty_like(w)
    ranks[order] = torch.arange(1, len(w) + 1, dtype=torch.float64)
    # average ranks over ties
    uniq, inverse = torch.unique(w, return_inverse=True)
    if len(uniq) < len(w):
        sums = torch.zeros(len(uniq), dtype=torch.float64).index_add_(0, inverse, ranks)
        counts = torch.zeros(len(uniq), dtype=torch.float64).index_add_(0, inverse, torch.ones_like(ranks))
        ranks = (sums / counts)[inverse]
    u = ranks[clean].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))
