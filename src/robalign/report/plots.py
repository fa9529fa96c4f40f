"""PNG plots of a tournament (matplotlib, Agg backend: no display needed).

Each function takes plain data from the leaderboard dict, writes one PNG and returns its path.
Models are shown in leaderboard order (best first) everywhere, so the figures read together.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

DPI = 110


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    _plt().close(fig)
    return path


def expected_scores(board: dict, path: Path) -> Path:
    """E[S] per model with error bars (1.96 s.e.), one bar per elimination level."""
    plt = _plt()
    order = [r["model"] for r in board["rows"]]
    idx = [board["models"].index(m) for m in order]
    levels = board["settings"]["eliminate"]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(order) + 2), 3.6))
    width = 0.8 / len(levels)
    x = np.arange(len(order))
    for k, t in enumerate(levels):
        sw = board["swiss"][str(t)]
        es = np.array(sw["expected_score"])[idx]
        se = np.array(sw["std_error"])[idx]
        ax.bar(x + (k - (len(levels) - 1) / 2) * width, es, width, yerr=1.96 * se, capsize=3, label=f"T = {t}")
    ax.set_xticks(x, order, rotation=30 if len(order) > 5 else 0, ha="right" if len(order) > 5 else "center")
    ax.set_ylabel("expected points E[S]")
    ax.set_title(f"Swiss tournament: expected score, {len(board['rounds'])} rounds (T = models eliminated per round)")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="eliminated")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return _save(fig, path)


def _heatmap(ax, data: np.ndarray, rows: list[str], cols: list[str], fmt: str, cmap: str, vmin=None, vmax=None):
    im = ax.imshow(data, cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(cols)), cols, rotation=30 if len(cols) > 6 else 0, ha="right" if len(cols) > 6 else "center")
    ax.set_yticks(range(len(rows)), rows)
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            v = data[i, j]
            if not math.isnan(v):
                r, g, b, _ = im.cmap(im.norm(v))
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # light text on dark cells, whatever the colormap
                ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=9, color="white" if dark else "black")
    return im


def rank_probabilities(board: dict, path: Path) -> Path:
    """P(model finishes at rank r) in the T = 0 tournament."""
    plt = _plt()
    order = [r["model"] for r in board["rows"]]
    P = np.array(board["swiss"]["0"]["rank_probs"])[[board["models"].index(m) for m in order]]
    fig, ax = plt.subplots(figsize=(max(4.5, 0.6 * P.shape[1] + 2.5), 0.5 * len(order) + 1.6))
    im = _heatmap(ax, P, order, [str(r + 1) for r in range(P.shape[1])], ".2f", "Blues", 0.0, 1.0)
    ax.set_xlabel("final rank")
    ax.set_title("Rank probabilities (Swiss, T = 0)")
    fig.colorbar(im, ax=ax, fraction=0.04)
    return _save(fig, path)


def score_matrix(board: dict, path: Path) -> Path:
    """The score matrix (models x benchmarks), each column on its own colour scale would mislead: one scale."""
    plt = _plt()
    order = [r["model"] for r in board["rows"]]
    benches = board["benchmarks"]
    S = np.array([[board["scores"][m][b] for b in benches] for m in order])
    finite = S[np.isfinite(S)]
    in_unit = finite.size and finite.min() >= 0 and finite.max() <= 1
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(benches) + 3), 0.45 * len(order) + 1.5))
    im = _heatmap(ax, S, order, benches, ".2f", "viridis", 0.0 if in_unit else None, 1.0 if in_unit else None)
    ax.set_title("Benchmark scores")
    fig.colorbar(im, ax=ax, fraction=0.04)
    return _save(fig, path)


def failure_sensitivity(board: dict, path: Path) -> Path:
    """E[S](T=0) - E[S](T=max): how much an early bad benchmark costs each model."""
    plt = _plt()
    rows = board["rows"]
    names = [r["model"] for r in rows][::-1]
    vals = [r["failure_sensitivity"] for r in rows][::-1]
    fig, ax = plt.subplots(figsize=(5.5, 0.55 * len(rows) + 1.8))
    ax.barh(names, vals, color=["#c44e52" if v > 0 else "#4c72b0" for v in vals])
    ax.axvline(0, color="black", lw=0.8)
    t = rows[0]["eliminate"] if rows else 2
    ax.set_xlabel(f"E[S] at T=0 minus E[S] at T={t} (larger = more brittle)")
    ax.set_title("Failure sensitivity")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return _save(fig, path)


CURVE_GROUPS = (
    ("loss", lambda k: k in ("loss", "eval_loss", "train_loss") or k.endswith("/loss")),
    ("lcpo", lambda k: k.startswith("lcpo/")),
    ("adversarial", lambda k: k.startswith("adv/")),
    ("rewards", lambda k: k in ("rewards/accuracies", "rewards/margins")),
)


def read_metrics(path: Path) -> list[dict]:
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a kill
    return rows


def training_curves(name: str, metrics: list[dict], path: Path) -> Path | None:
    """Loss, lcpo/*, adv/* (and reward accuracy/margin) against the step, one panel per group."""
    plt = _plt()
    keys = sorted({k for r in metrics for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    groups = [(g, [k for k in keys if pred(k)]) for g, pred in CURVE_GROUPS]
    groups = [(g, ks) for g, ks in groups if ks]
    if not groups:
        return None
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups) + 0.6, 2.9), squeeze=False)
    for ax, (g, ks) in zip(axes[0], groups):
        for k in ks[:6]:
            pts = [(r["step"], r[k]) for r in metrics if isinstance(r.get(k), (int, float)) and "step" in r]
            if pts:
                ax.plot(*zip(*pts), label=k, lw=1.4, marker="." if len(pts) < 30 else None)
        ax.set_title(g)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    # no figure title: the report puts the model name above the figure
    fig.tight_layout()
    return _save(fig, path)
