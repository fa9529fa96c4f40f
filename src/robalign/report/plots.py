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
    """Written atomically, as every report file (robalign.atomic: no half-written PNG, mode 0666 - umask)."""
    import io

    from robalign.atomic import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    _plt().close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def expected_scores(board: dict, path: Path) -> Path:
    """E[S] per model, one bar per elimination level, with the 95% interval from item resampling
    when the board has one (else 1.96 Monte Carlo s.e., which only says how well the simulations
    pin down E[S] of this table)."""
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
        if "expected_score_ci" in sw:
            ci = np.array(sw["expected_score_ci"])[idx]  # (M, 2)
            yerr = np.clip(np.stack([es - ci[:, 0], ci[:, 1] - es]), 0, None)  # a point at an interval's edge: no negative bar
        else:
            yerr = 1.96 * np.array(sw["std_error"])[idx]
        ax.bar(x + (k - (len(levels) - 1) / 2) * width, es, width, yerr=yerr, capsize=3, label=f"T = {t}")
    ax.set_xticks(x, order, rotation=30 if len(order) > 5 else 0, ha="right" if len(order) > 5 else "center")
    ax.set_ylabel("expected points E[S]")
    what = "95% intervals from item resampling" if "expected_score_ci" in board["swiss"][str(levels[0])] else "Monte Carlo error only"
    ax.set_title(f"Swiss tournament: expected score, {len(board['rounds'])} rounds ({what})")
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
    ax.set_title("Rank in simulated tournaments of this table (Swiss, T = 0)")
    fig.colorbar(im, ax=ax, fraction=0.04)
    return _save(fig, path)


def resampled_ranks(board: dict, path: Path) -> Path | None:
    """Share of item resamples in which each model finishes at each rank by Swiss E[S] (T = 0):
    how surely the DATA place it (the Monte Carlo rank probabilities describe one table's luck)."""
    unc = board.get("uncertainty") or {}
    method = (unc.get("methods") or {}).get("swiss_T0")
    if method is None:
        return None
    plt = _plt()
    order = [r["model"] for r in board["rows"]]
    P = np.array(method["rank_probs"])[[unc["models"].index(m) for m in order]]
    fig, ax = plt.subplots(figsize=(max(4.5, 0.6 * P.shape[1] + 2.5), 0.5 * len(order) + 1.6))
    im = _heatmap(ax, P, order, [str(r + 1) for r in range(P.shape[1])], ".2f", "Greens", 0.0, 1.0)
    ax.set_xlabel("rank by E[S] in the resampled table")
    ax.set_title(f"Rank across {unc['n_resamples']} item resamples (Swiss, T = 0)")
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
    cis = [r.get("failure_sensitivity_ci") for r in rows][::-1]
    xerr = None
    if all(c is not None for c in cis):  # the 95% interval from item resampling
        xerr = np.clip(np.array([[v - c[0], c[1] - v] for v, c in zip(vals, cis)]).T, 0, None)
    fig, ax = plt.subplots(figsize=(5.5, 0.55 * len(rows) + 1.8))
    ax.barh(names, vals, xerr=xerr, capsize=3, color=["#c44e52" if v > 0 else "#4c72b0" for v in vals])
    ax.axvline(0, color="black", lw=0.8)
    t = rows[0]["eliminate"] if rows else 2
    ax.set_xlabel(f"E[S] at T=0 minus E[S] at T={t} (larger = more brittle)")
    ax.set_title("Failure sensitivity")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return _save(fig, path)


def _is_ce(k: str) -> bool:
    return k.startswith("adv/") and ("_ce_" in k or k.endswith("_loss"))


#: One panel per unit, so no series flattens another: losses, accuracies in [0, 1], reward margins,
#: LCPO state, attack cross-entropies, perturbation size, attack time in seconds.
#: Not plotted: `train_loss`, the trainer's one end-of-run average (an orphan dot, and 0.0 after a
#: resume that ran no step); the per-step `loss` is the curve.
CURVE_GROUPS = (
    ("loss", lambda k: k in ("loss", "eval_loss") or k.endswith("/loss")),
    ("preference accuracy", lambda k: k in ("rewards/accuracies", "eval_rewards/accuracies", "eval/clean_accuracy")),
    ("reward margin", lambda k: k in ("rewards/margins", "eval_rewards/margins")),
    ("lcpo", lambda k: k.startswith("lcpo/") and k != "lcpo/temperature"),
    ("lcpo temperature", lambda k: k == "lcpo/temperature"),
    ("adversarial cross-entropy", _is_ce),
    ("perturbation", lambda k: k.startswith("adv/") and ("delta" in k or "epsilon" in k)),
    ("attack time (s)", lambda k: k == "adv/attack_seconds"),
)
PANELS_PER_ROW = 4


def curve_groups(keys) -> list[tuple[str, list[str]]]:
    """(panel title, metric keys) for every CURVE_GROUPS panel that has a key among ``keys``."""
    keys = sorted(keys)
    groups = [(g, [k for k in keys if pred(k)]) for g, pred in CURVE_GROUPS]
    return [(g, ks) for g, ks in groups if ks]


def read_metrics(path: Path) -> list[dict]:
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a kill
    return rows


def training_curves(name: str, metrics: list[dict], path: Path) -> Path | None:
    """Loss, accuracies (eval/clean_accuracy among them), reward margins, lcpo/*, adv/* against the
    step, one panel per CURVE_GROUPS entry present, at most PANELS_PER_ROW panels a row."""
    plt = _plt()
    groups = curve_groups({k for r in metrics for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    if not groups:
        return None
    ncols = min(len(groups), PANELS_PER_ROW)
    nrows = -(-len(groups) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols + 0.6, 2.9 * nrows), squeeze=False)
    for ax in axes.flat[len(groups):]:
        ax.set_visible(False)
    for ax, (g, ks) in zip(axes.flat, groups):
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
