"""`robalign rank SCORES.csv`: rank models from a score table with every method side by side.

The CSV is models x benchmarks: the first column holds model names, the header row benchmark
names; lines starting with ``#`` are comments (a table can carry its source). Round groups name
benchmarks (``--rounds "mmlu,bbh;gsm8k;arc"``: ``;`` between rounds, ``,`` inside a round) or come
from a YAML file; the default is one benchmark a round in column order.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from robalign.errors import UserError


def register(sub) -> None:
    p = sub.add_parser(
        "rank",
        help="rank models from a score table: Swiss tournament E[S], Bradley-Terry, Elo, mean score/rank",
        description=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("scores", help="CSV, models x benchmarks (first column: model name; header: benchmark names)")
    rounds = p.add_mutually_exclusive_group()
    rounds.add_argument(
        "--rounds", metavar="SPEC",
        help='round groups by benchmark name: "a,b;c;d,e" (default: one benchmark a round, in column order)',
    )
    rounds.add_argument(
        "--rounds-file", metavar="YAML",
        help="round groups as YAML: a list of rounds, each a list of benchmark names (or a mapping with key 'rounds')",
    )
    p.add_argument("--n-sims", type=int, default=100_000, help="simulated tournaments per setting (default: 100000)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random stream (default: 0)")
    p.add_argument(
        "--pairing", choices=("reference", "swiss"), default="reference",
        help="reference: odd model of a points group sits out; swiss: paired down, bye scores 1 (default: reference)",
    )
    p.add_argument(
        "--reference-exact", action="store_true",
        help="the published loop's rules (LJSthu/LLMSwissRound): ties at the elimination cut drop the lowest "
        "table row first and the field may shrink to one model; needs --pairing reference "
        "(default: random ties at the cut, two models always stay)",
    )
    p.add_argument(
        "--eliminate", type=int, default=None,
        help="models dropped per round in the failure-sensitivity tournament "
        "(default: 2, or n_models - 2 for fewer than 4 models)",
    )
    p.add_argument("--n-bootstrap", type=int, default=200, help="Bradley-Terry bootstrap resamples, >= 100 (default: 200)")
    p.add_argument("--out", metavar="DIR", help="also write DIR/leaderboard.json and DIR/leaderboard.md")
    p.set_defaults(func=run)


def read_score_table(path: str | Path) -> tuple[list[str], list[str], list[list[float]]]:
    """Read a models x benchmarks CSV -> (model names, benchmark names, rows of floats).

    Every cell must hold a number: an empty or NaN cell raises a UserError naming the line,
    model and benchmark (a missing score would silently lose every match it touches).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found; expected a CSV score table (models x benchmarks)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read: {err}") from None
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise UserError(f"{path}: no header row; expected 'model,<benchmark>,...' then one row per model")
    parsed = [(n, [c.strip() for c in cells]) for (n, _), cells in zip(numbered, csv.reader(line for _, line in numbered))]
    header_line, header = parsed[0]
    benches = header[1:]
    if not benches or any(not b for b in benches):
        raise UserError(f"{path}:{header_line}: header must be 'model,<benchmark>,...' with non-empty benchmark names")
    dup = next((b for i, b in enumerate(benches) if b in benches[:i]), None)
    if dup is not None:
        raise UserError(f"{path}:{header_line}: benchmark {dup!r} appears twice in the header; expected unique names")
    models, rows = [], []
    for n, cells in parsed[1:]:
        if len(cells) != len(header):
            raise UserError(
                f"{path}:{n}: {len(cells)} cells; expected {len(header)} (model name + {len(benches)} benchmarks)"
            )
        name, values = cells[0], []
        if not name:
            raise UserError(f"{path}:{n}: empty model name; expected a name in the first column")
        for bench, cell in zip(benches, cells[1:]):
            try:
                value = float(cell)
            except ValueError:
                what = "is empty" if not cell else f"is not a number ({cell!r})"
                raise UserError(f"{path}:{n}: model {name!r}, benchmark {bench!r} {what}; expected a number in every cell") from None
            if not math.isfinite(value):
                raise UserError(f"{path}:{n}: model {name!r}, benchmark {bench!r} is {cell}; expected a finite number in every cell")
            values.append(value)
        if name in models:
            raise UserError(f"{path}:{n}: model {name!r} appears twice; expected one row per model")
        models.append(name)
        rows.append(values)
    return models, benches, rows


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
        leaderboard_agreement,
        field_sizes,
        resolve_rounds,
        rules_note,
    )

    models, benches, values = read_score_table(args.scores)
    if args.rounds is not None:
        named = parse_rounds_spec(args.rounds)
    elif args.rounds_file is not None:
        named = read_rounds_file(args.rounds_file)
    else:
        named = [[b] for b in benches]
    cols = resolve_rounds(named, benches)
    if len(models) < 2:
        raise UserError(f"{args.scores}: {len(models)} model row(s); expected at least 2 models to rank")
    if args.reference_exact and args.pairing != "reference":
        raise UserError(f"--reference-exact reproduces the paper's loop, which pairs as 'reference'; got --pairing {args.pairing}")
    max_t = len(models) - 1 if args.reference_exact else len(models) - 2
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
    )
    agreement = leaderboard_agreement(rows)
    settings = {
        "n_sims": args.n_sims, "seed": args.seed, "pairing": args.pairing, "reference_exact": args.reference_exact,
        "eliminate": eliminate, "n_bootstrap": args.n_bootstrap,
    }
    title = (
        f"Leaderboard of {len(models)} models over {len(named)} rounds ({len(benches)} benchmarks): "
        f"{args.n_sims} simulated Swiss tournaments, pairing={args.pairing}, seed={args.seed}"
    )
    active, _ = field_sizes(len(models), len(named), eliminate, reference_exact=args.reference_exact)
    note = f"Active models per round at T={eliminate}: {', '.join(map(str, active))}. {rules_note(args.pairing, args.reference_exact)}"
    table = format_markdown(rows)
    print(f"{title}. {note}")
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
            "agreement": agreement,
        }
        md = f"# Leaderboard\n\n{title}. Rounds: {' | '.join(', '.join(g) for g in named)}. {note}\n\n{table}\n"
        md += f"## Agreement between methods\n\n{format_agreement_markdown(agreement)}"
        atomic_write_json(out / "leaderboard.json", doc)
        atomic_write_text(out / "leaderboard.md", md)
        print(f"\nwrote {out / 'leaderboard.json'} and {out / 'leaderboard.md'}")
    return 0
