"""leaderboard.json and leaderboard.md of a tournament: formatting and writing only.

The board itself (every ranking, every elimination level, the intervals) is computed by the
tournament's ranking stage, `robalign.eval.leaderboard.rank_all`, from `robalign.ranking`; its
keys are listed there.
"""

from __future__ import annotations

from robalign.atomic import atomic_write_json, atomic_write_text


def format_scores_markdown(board: dict) -> str:
    benches = board["benchmarks"]
    lines = ["| model | " + " | ".join(benches) + " |", "|:---|" + "---:|" * len(benches)]
    for row in board["rows"]:
        n = row["model"]
        lines.append(f"| {n} | " + " | ".join(f"{board['scores'][n][b]:.3f}" for b in benches) + " |")
    return "\n".join(lines) + "\n"


def format_levels_markdown(board: dict) -> str:
    """E[S] at every elimination level with its 95% item-resampling interval (or, without one, its Monte Carlo s.e.)."""
    levels = board["settings"]["eliminate"]
    rows = board["rows"]
    has_ci = bool(rows) and rows[0].get("expected_score_ci") is not None
    what = "[95% CI]" if has_ci else "± MC s.e."
    lines = ["| model | " + " | ".join(f"E[S] T={t} {what}" for t in levels) + " | P(1st) in sims | E[rank] in sims |",
             "|:---|" + "---:|" * (len(levels) + 2)]
    for row in rows:
        if has_ci:
            cells = [f"{row[f'expected_score_T{t}']:.3f} [{row['expected_score_ci'][str(t)][0]:.2f}, {row['expected_score_ci'][str(t)][1]:.2f}]"
                     for t in levels]
        else:
            cells = [f"{row[f'expected_score_T{t}']:.3f} ± {row[f'expected_score_T{t}_se']:.3f}" for t in levels]
        lines.append(f"| {row['model']} | " + " | ".join(cells) + f" | {row['p_first']:.2f} | {row['expected_rank']:.2f} |")
    return "\n".join(lines) + "\n"


def format_training_markdown(board: dict) -> str:
    from robalign.report.runs import TRAINING_KEYS

    tr = board.get("training") or {}
    keys = [k for k in TRAINING_KEYS if any(k in m for m in tr.values())]
    if not keys:
        return ""
    lines = ["| model | " + " | ".join(keys) + " |", "|:---|" + "---:|" * len(keys)]
    for row in board["rows"]:
        m = tr.get(row["model"])
        if m:
            lines.append(f"| {row['model']} | " + " | ".join(f"{m[k]:.3f}" if k in m else "" for k in keys) + " |")
    return "\n".join(lines) + "\n"


def format_markdown_document(board: dict) -> str:
    from robalign.ranking import format_agreement_markdown, format_markdown, headline, rules_note, uncertainty_note

    s = board["settings"]
    parts = [
        f"# {board['title']}\n",
        f"{len(board['models'])} models, {len(board['benchmarks'])} benchmarks in {len(board['rounds'])} rounds; "
        f"{s['n_sims']:,} simulated Swiss tournaments per elimination level ({s['pairing']} pairing, seed {s['seed']}). "
        f"{rules_note(s['pairing'], s.get('reference_exact', False))}\n",
        f"{headline(board['rows'])}\n",
        f"{uncertainty_note(board.get('uncertainty'))}\n",
        "## Leaderboard\n",
        format_markdown(board["rows"]),
        "## Swiss expected score by elimination level\n",
        format_levels_markdown(board),
        "## Scores (models x benchmarks)\n",
        format_scores_markdown(board),
        "## Agreement between ranking methods\n",
        format_agreement_markdown(board["agreement"]),
    ]
    training = format_training_markdown(board)
    if training:
        parts += ["## Training metrics (last logged value)\n", training]
    if board.get("warnings"):
        parts += ["## Warnings\n", "".join(f"- {w}\n" for w in board["warnings"])]
    return "\n".join(parts)


def write_leaderboard(out_dir, board: dict) -> None:
    atomic_write_json(f"{out_dir}/leaderboard.json", board)
    atomic_write_text(f"{out_dir}/leaderboard.md", format_markdown_document(board))
