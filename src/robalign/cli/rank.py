"""`robalign rank SCORES.csv`: rank models from a score table with every method side by side.

The CSV is models x benchmarks: the first column holds model names, the header row benchmark
names; lines starting with ``#`` are comments (a table can carry its source). Round groups name
benchmarks (``--rounds "mmlu,bbh;gsm8k;arc"``: ``;`` between rounds, ``,`` inside a round) or come
from a YAML file; the default is one benchmark a round in column order.

Intervals: a column ``<benchmark>_stderr`` beside a benchmark (or ``--stderr FILE``, a CSV of the
same layout, as lm-eval reports them) gives each score's standard error; the table is then
resampled from them and every method gets a 95% interval. Without them only the Monte Carlo
error of the simulations is shown, and the output says so.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from robalign.cli.dataclass_args import DataclassFlags
from robalign.errors import UserError

# robalign.ranking's leaderboard.DEFAULT_PAIRING, written out because importing robalign.ranking
# here would load scipy on every robalign command's start; tests/ranking/test_cli_rank.py checks it.
DEFAULT_PAIRING = "swiss"

#: The flags that are a tournament's `ranking:` settings (`RankingArgs`): same meaning, same default.
RANKING_FLAGS = DataclassFlags(
    "robalign.eval.config:RankingArgs", ("n_sims", "seed", "n_bootstrap", "n_resamples", "resample_sims"),
)


def register(sub) -> None:
    p = sub.add_parser(
        "rank",
        help="rank models from a score table: Swiss tournament E[S], Bradley-Terry, Elo, mean score/rank",
        description=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("scores", nargs="?", help="CSV, models x benchmarks (first column: model name; header: benchmark names)")
    p.add_argument(
        "--from-lm-eval", nargs="+", metavar="PATH",
        help="instead of a CSV: lm-evaluation-harness results (results_*.json files, or folders holding them, e.g. "
        "lm_eval --output_path DIR); one column per task, its <metric>_stderr as the standard errors",
    )
    p.add_argument(
        "--lm-eval-metric", action="append", default=[], metavar="[TASK=]METRIC",
        help="metric of a task's column (acc_norm, or exact_match,flexible-extract with its filter); without TASK= "
        "for every task that has it; repeatable (default: the first metric lm-eval reports for the task)",
    )
    p.add_argument("--lm-eval-tasks", metavar="LIST", help="comma-separated tasks to rank on (default: every task of the files)")
    rounds = p.add_mutually_exclusive_group()
    rounds.add_argument(
        "--rounds", metavar="SPEC",
        help='round groups by benchmark name: "a,b;c;d,e" (default: one benchmark a round, in column order)',
    )
    rounds.add_argument(
        "--rounds-file", metavar="YAML",
        help="round groups as YAML: a list of rounds, each a list of benchmark names (or a mapping with key 'rounds')",
    )
    p.add_argument(
        "--stderr", metavar="CSV",
        help="standard errors of the scores: a CSV of the same layout (model column + benchmark columns); "
        "alternatively <benchmark>_stderr columns in the score table",
    )
    p.add_argument("--out", metavar="DIR", help="also write DIR/leaderboard.json and DIR/leaderboard.md")
    ranking = RANKING_FLAGS.add_to(p, "ranking (a tournament's ranking: block)")
    # Not RankingArgs.pairing's flag: left unset it follows --reference-exact (reference with it, else swiss).
    ranking.add_argument(
        "--pairing", choices=("reference", "swiss"), default=None,
        help="swiss: the odd model of a points group is paired down, the lowest group's bye scores 1; reference (the "
        f"paper's code): it sits the round out with 0 points (default: {DEFAULT_PAIRING}, reference with --reference-exact; "
        "measured in docs/experiments.md)",
    )
    # Not RankingArgs.reference_exact's flag: here it also selects reference pairing, which the block only requires.
    ranking.add_argument(
        "--reference-exact", action="store_true",
        help="the published loop's rules (LJSthu/LLMSwissRound): reference pairing, and ties at the elimination cut "
        "drop the lowest table row first and the field may shrink to one model "
        "(default: random ties at the cut, two models always stay)",
    )
    # Not RankingArgs.eliminate (a list of levels T): one T, its default fitted to the number of models.
    ranking.add_argument(
        "--eliminate", type=int, default=None,
        help="models dropped per round in the failure-sensitivity tournament "
        "(default: 2, or n_models - 2 for fewer than 4 models)",
    )
    p.set_defaults(func=run)


STDERR_SUFFIX = "_stderr"


def _read_csv(path: Path, what: str) -> list[tuple[int, list[str]]]:
    """Non-comment, non-blank lines of a CSV as (line number, stripped cells); the header first."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found; expected {what}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read: {err}") from None
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise UserError(f"{path}: no header row; expected 'model,<benchmark>,...' then one row per model")
    parsed = [(n, [c.strip() for c in cells]) for (n, _), cells in zip(numbered, csv.reader(line for _, line in numbered))]
    header_line, header = parsed[0]
    if len(header) < 2 or any(not b for b in header[1:]):
        raise UserError(f"{path}:{header_line}: header must be 'model,<benchmark>,...' with non-empty benchmark names")
    dup = next((b for i, b in enumerate(header[1:]) if b in header[1:i + 1]), None)
    if dup is not None:
        raise UserError(f"{path}:{header_line}: benchmark {dup!r} appears twice in the header; expected unique names")
    return parsed


def _cell(path: Path, n: int, model: str, column: str, cell: str, *, stderr: bool) -> float:
    """A score (a finite number) or a standard error (a number >= 0; empty or nan = unknown -> NaN)."""
    if stderr and cell.lower() in ("", "nan", "n/a", "na"):
        return math.nan
    try:
        value = float(cell)
    except ValueError:
        what = "is empty" if not cell else f"is not a number ({cell!r})"
        expected = "a standard error >= 0 (or empty when unknown)" if stderr else "a number in every cell"
        raise UserError(f"{path}:{n}: model {model!r}, {'column' if stderr else 'benchmark'} {column!r} {what}; expected {expected}") from None
    if not math.isfinite(value) or (stderr and value < 0):
        expected = "a finite standard error >= 0 (or empty when unknown)" if stderr else "a finite number in every cell"
        raise UserError(f"{path}:{n}: model {model!r}, {'column' if stderr else 'benchmark'} {column!r} is {cell}; expected {expected}")
    return value


def read_score_table(path: str | Path) -> tuple[list[str], list[str], list[list[float]], list[list[float]] | None]:
    """Read a models x benchmarks CSV -> (model names, benchmark names, rows of floats, stderr rows or None).

    Every score cell must hold a number: an empty or NaN cell raises a UserError naming the line,
    model and benchmark (a missing score would silently lose every match it touches). A column
    ``<benchmark>_stderr`` holds that benchmark's standard errors (empty = unknown, NaN in the
    stderr rows); the stderr rows are None when there is no such column.
    """
    path = Path(path)
    parsed = _read_csv(path, "a CSV score table (models x benchmarks)")
    header_line, header = parsed[0]
    columns = header[1:]
    se_cols = {c: c[: -len(STDERR_SUFFIX)] for c in columns if c.endswith(STDERR_SUFFIX)}
    benches = [c for c in columns if c not in se_cols]
    if not benches:
        raise UserError(f"{path}:{header_line}: header must be 'model,<benchmark>,...' with at least one benchmark column")
    for c, b in se_cols.items():
        if b not in benches:
            raise UserError(f"{path}:{header_line}: column {c!r} names no benchmark {b!r}; expected <benchmark>{STDERR_SUFFIX} beside a benchmark column")
    models, rows, se_rows = [], [], []
    for n, cells in parsed[1:]:
        if len(cells) != len(header):
            extra = f" + {len(se_cols)} stderr columns" if se_cols else ""
            raise UserError(f"{path}:{n}: {len(cells)} cells; expected {len(header)} (model name + {len(benches)} benchmarks{extra})")
        name = cells[0]
        if not name:
            raise UserError(f"{path}:{n}: empty model name; expected a name in the first column")
        by_col = dict(zip(columns, cells[1:]))
        values = [_cell(path, n, name, b, by_col[b], stderr=False) for b in benches]
        se = {b: _cell(path, n, name, c, by_col[c], stderr=True) for c, b in se_cols.items()}
        if name in models:
            raise UserError(f"{path}:{n}: model {name!r} appears twice; expected one row per model")
        models.append(name)
        rows.append(values)
        se_rows.append([se.get(b, math.nan) for b in benches])
    return models, benches, rows, (se_rows if se_cols else None)


def read_stderr_table(path: str | Path, models: list[str], benches: list[str]) -> list[list[float]]:
    """Standard errors from a second CSV (model column + benchmark columns, any order, a subset of
    the benchmarks; empty = unknown) -> rows in the score table's model and benchmark order."""
    path = Path(path)
    parsed = _read_csv(path, "a CSV of standard errors (models x benchmarks, as the score table)")
    header_line, header = parsed[0]
    cols = [c.removesuffix(STDERR_SUFFIX) if c.removesuffix(STDERR_SUFFIX) in benches else c for c in header[1:]]
    unknown = [c for c in cols if c not in benches]
    if unknown:
        raise UserError(f"{path}:{header_line}: column {unknown[0]!r} is not a benchmark of the score table; expected some of: {', '.join(benches)}")
    found: dict[str, list[float]] = {}
    for n, cells in parsed[1:]:
        if len(cells) != len(header):
            raise UserError(f"{path}:{n}: {len(cells)} cells; expected {len(header)} (model name + {len(cols)} columns)")
        name = cells[0]
        if name not in models:
            raise UserError(f"{path}:{n}: model {name!r} is not in the score table; expected one of: {', '.join(models)}")
        if name in found:
            raise UserError(f"{path}:{n}: model {name!r} appears twice; expected one row per model")
        se = {c: _cell(path, n, name, c, cell, stderr=True) for c, cell in zip(cols, cells[1:])}
        found[name] = [se.get(b, math.nan) for b in benches]
    missing = [m for m in models if m not in found]
    if missing:
        raise UserError(f"{path}: no row for model {missing[0]!r}; expected a row for every model of the score table (empty cells for unknown errors)")
    return [found[m] for m in models]


def parse_rounds_spec(spec: str) -> list[list[str]]:
    """``"a,b;c;d,e"`` -> ``[["a", "b"], ["c"], ["d", "e"]]``; an empty round is an error."""
    groups = []
    for r, part in enumerate(spec.split(";"), start=1):
        names = [x.strip() for x in part.split(",")]
        if not any(names) or not all(names):
            raise UserError(f"--rounds: round {r} ({part.strip()!r}) has an empty benchmark name; expected e.g. 'a,b;c;d,e'")
        groups.append(names)
    return groups


def read_rounds_file(path: str | Path) -> list[list[str]]:
    """Round groups from YAML: ``[[a, b], [c], d]`` or ``{rounds: [...]}``; a bare name is a one-benchmark round."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: file not found; expected a YAML list of rounds") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if isinstance(data, dict):
        if set(data) != {"rounds"}:
            raise UserError(f"{path}: expected a list of rounds or a mapping with the single key 'rounds', got keys {sorted(data)}")
        data = data["rounds"]
    if not isinstance(data, list) or not data:
        raise UserError(f"{path}: expected a non-empty list of rounds, each a list of benchmark names")
    groups = []
    for r, group in enumerate(data, start=1):
        group = [group] if isinstance(group, str) else group
        if not isinstance(group, list) or not group or not all(isinstance(x, str) and x for x in group):
            raise UserError(f"{path}: round {r} must be a benchmark name or a non-empty list of names, got {group!r}")
        groups.append(group)
    return groups


def run(args) -> int:
    import numpy as np

    from robalign.atomic import atomic_write_json, atomic_write_text
    from robalign.ranking import (
        build_leaderboard,
        format_agreement_markdown,
        format_markdown,
        headline,
        leaderboard_agreement,
        field_sizes,
        max_eliminate,
        resolve_rounds,
        rules_note,
        uncertainty_document,
    )

    if (args.scores is None) == (args.from_lm_eval is None):
        raise UserError("rank: expected a score CSV or --from-lm-eval PATH..., not " + ("both" if args.scores else "neither"))
    if args.from_lm_eval is not None:
        from robalign.eval.lm_eval_results import read_lm_eval_args

        args.scores, (models, benches, values, stderr) = read_lm_eval_args(args)
    else:
        models, benches, values, stderr = read_score_table(args.scores)
    if args.stderr is not None:
        if stderr is not None:
            raise UserError(f"{args.scores} has {STDERR_SUFFIX} columns and --stderr {args.stderr} was given; expected one source of standard errors")
        stderr = read_stderr_table(args.stderr, models, benches)
    from robalign.ranking.uncertainty import MIN_RESAMPLES

    if not (args.n_resamples == 0 or args.n_resamples >= MIN_RESAMPLES):
        raise UserError(f"--n-resamples {args.n_resamples}: expected 0 (no intervals) or an integer >= {MIN_RESAMPLES}")
    if args.resample_sims < 2:
        raise UserError(f"--resample-sims {args.resample_sims}: expected an integer >= 2")
    if args.rounds is not None:
        named = parse_rounds_spec(args.rounds)
    elif args.rounds_file is not None:
        named = read_rounds_file(args.rounds_file)
    else:
        named = [[b] for b in benches]
    cols = resolve_rounds(named, benches)
    if len(models) < 2:
        raise UserError(f"{args.scores}: {len(models)} model row(s); expected at least 2 models to rank")
    if args.pairing is None:  # the published loop pairs as 'reference'
        args.pairing = "reference" if args.reference_exact else DEFAULT_PAIRING
    if args.reference_exact and args.pairing != "reference":
        raise UserError(f"--reference-exact reproduces the paper's loop, which pairs as 'reference'; got --pairing {args.pairing}")
    max_t = max_eliminate(len(models), args.reference_exact)
    eliminate = min(2, len(models) - 2) if args.eliminate is None else args.eliminate
    if not 0 <= eliminate <= max_t:
        raise UserError(f"--eliminate {eliminate} does not fit {len(models)} models; expected 0..{max_t}")
    if args.out is not None:
        from robalign.outputs import check_output_dir

        check_output_dir(args.out, "rank --out")
    if not 0 <= args.seed < 2**32:
        raise UserError(f"--seed {args.seed}: expected an integer in [0, 2**32)")
    scores = np.array(values, dtype=np.float64).reshape(len(models), len(benches))
    rows = build_leaderboard(
        scores, models, benches, cols,
        n_sims=args.n_sims, eliminate=eliminate, pairing=args.pairing, reference_exact=args.reference_exact,
        n_bootstrap=args.n_bootstrap, seed=args.seed,
        stderr=None if stderr is None else np.array(stderr, dtype=np.float64),
        n_resamples=args.n_resamples, resample_sims=args.resample_sims, uncertainty_out=(unc := {}),
    )
    agreement = leaderboard_agreement(rows)
    uncertainty = uncertainty_document(unc, models)
    settings = {
        "n_sims": args.n_sims, "seed": args.seed, "pairing": args.pairing, "reference_exact": args.reference_exact,
        "eliminate": eliminate, "n_bootstrap": args.n_bootstrap, "n_resamples": args.n_resamples,
        "resample_sims": args.resample_sims,
    }
    title = (
        f"Leaderboard of {len(models)} models over {len(named)} rounds ({len(benches)} benchmarks): "
        f"{args.n_sims} simulated Swiss tournaments, pairing={args.pairing}, seed={args.seed}"
    )
    active, _ = field_sizes(len(models), len(named), eliminate, reference_exact=args.reference_exact)
    note = f"Active models per round at T={eliminate}: {', '.join(map(str, active))}. {rules_note(args.pairing, args.reference_exact)}"
    table = format_markdown(rows)
    facts = f"{headline(rows)}\n{uncertainty['note']}"
    print(f"{title}. {note}")
    print(facts)
    print(table, end="")
    print()
    print(format_agreement_markdown(agreement), end="")
    if args.out:
        out = Path(args.out)
        doc = {
            "source": str(args.scores),
            "settings": settings,
            "rounds": named,
            "active_per_round_elim": list(active),
            "rows": rows,
            "uncertainty": uncertainty,
            "agreement": agreement,
        }
        md = f"# Leaderboard\n\n{title}. Rounds: {' | '.join(', '.join(g) for g in named)}. {note}\n\n{facts}\n\n{table}\n"
        md += f"## Agreement between methods\n\n{format_agreement_markdown(agreement)}"
        atomic_write_json(out / "leaderboard.json", doc)
        atomic_write_text(out / "leaderboard.md", md)
        print(f"\nwrote {out / 'leaderboard.json'} and {out / 'leaderboard.md'}")
    return 0
