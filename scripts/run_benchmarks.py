#!/usr/bin/env python
"""`make bench`: run every scripts/bench_*.py and collect their output in bench/results.md.

Each benchmark prints its own side-by-side measurements (ratios measured in one run); this
runner only records the command, the machine, the wall time and the printed tables, so a
figure quoted in the README or docs/experiments.md can be traced to the command that produced it.
`--quick` passes `--quick` to every benchmark (smaller sizes, same code paths).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument("--only", nargs="*", default=None, help="names (e.g. bench_tournament) to run")
    parser.add_argument("--out", default=str(REPO / "bench" / "results.md"))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    from robalign.atomic import atomic_write_text

    scripts = sorted((REPO / "scripts").glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem in args.only]
    cpu = platform.processor() or platform.machine()
    lines = [
        "# robalign benchmarks",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} on {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
        + (" (quick mode)" if args.quick else ""),
        "",
    ]
    failed = []
    for script in scripts:
        cmd = [sys.executable, str(script.relative_to(REPO))] + (["--quick"] if args.quick else [])
        print(f"== {' '.join(cmd)}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        sys.stdout.write(proc.stdout)
        status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
        if proc.returncode:
            failed.append(script.name)
            sys.stderr.write(proc.stderr[-4000:])
        lines += [f"## {script.stem}", "", f"`{' '.join(['python', *cmd[1:]])}` — {status}, {wall:.0f} s", "", proc.stdout.strip(), ""]
        if proc.returncode:
            lines += ["```", proc.stderr.strip()[-2000:], "```", ""]
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
