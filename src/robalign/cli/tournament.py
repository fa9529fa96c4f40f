"""`robalign tournament CONFIG.yaml`: generate -> score -> rank -> report (see robalign.eval.tournament)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("tournament", help="evaluate models/adapters on benchmarks and rank them (Swiss tournament, BT, Elo); writes report.html")
    p.add_argument("config", help="tournament YAML (e.g. eval/tournaments/demo.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a config value (YAML-parsed), e.g. --set ranking.n_sims=1000 --set output_dir=runs/t; repeatable")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--overwrite", action="store_true", help="replace another tournament's results in output_dir (the same config re-runs in place without it)")
    p.set_defaults(func=run)


def run(args) -> int:
    import os

    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # vLLM's INFO lines would bury the progress bars
    from robalign.eval.config import load_tournament
    from robalign.eval.tournament import run_tournament

    cfg = load_tournament(args.config, args.overrides)
    res = run_tournament(cfg, args.config, progress=not args.no_progress, overwrite=args.overwrite)
    from robalign.ranking import format_markdown

    print(format_markdown(res.leaderboard["rows"]))
    for w in res.warnings:
        print(f"warning: {w}")
    print(f"report: {res.output_dir / 'report.html'}")
    return 0
