"""How well posteriors separate flipped from clean pairs (needs the data's `label_flipped`)."""

from __future__ import annotations

import torch


def weight_auc(w: torch.Tensor, flipped: torch.Tensor) -> float:
    """P(w_clean > w_flipped) for a random clean/flipped pair (ties count 1/2): the ROC AUC
    of w as a score for "clean". NaN when one class is absent. Mann-Whitney U / (n_clean n_flipped)."""
    from scipy.stats import mannwhitneyu

    w = w.detach().to(torch.float64).flatten()
    clean = ~flipped.detach().bool().flatten()
    if bool(clean.all()) or not bool(clean.any()):
        return float("nan")
    scores = w.numpy()
    u = mannwhitneyu(scores[clean.numpy()], scores[~clean.numpy()], alternative="two-sided").statistic
    return float(u / (int(clean.sum()) * int((~clean).sum())))
