#!/usr/bin/env python
"""`make demo`: the whole robalign pipeline on the tiny model, offline, on CPU.

model + data -> SFT warm-up -> safety SFT -> on-policy pairs (the SFT model's own samples, labelled
by the task verifiers; a copy with 30% of the labels flipped) -> preference runs (DPO on the true
labels; DPO, LCPO-DPO, SimPO, LCPO-SimPO on the noisy ones) -> C-AdvIPO -> tournament (vLLM
generation, scoring, Swiss-system ranking) -> leaderboard + report.

Each stage is skipped when its outputs exist and its inputs are unchanged (a stamp holds the hash
of the command, its recipe and the stamps of the stages it reads), so a second `make demo` takes
seconds. `--quick` runs the same code path with far fewer steps (the CI end-to-end test) into
its own root folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROBALIGN = [sys.executable, "-m", "robalign"]


class StageFailed(RuntimeError):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@dataclass
class Stage:
    name: str
    command: list[str]
    output: str  # a file that exists only when the stage finished
    run_dir: str | None = None  # a folder the stage owns (a run, the model): moved aside when the stage must rerun
    needs: list[str] = field(default_factory=list)  # names of upstream stages
    files: list[str] = field(default_factory=list)  # input files whose content matters (recipes, configs)


def _content(path: Path) -> bytes:
    """What of an input file the stamp covers: a YAML file by its parsed value, so editing a
    comment in a recipe does not retrain the stage; any other file byte for byte."""
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return json.dumps(yaml.safe_load(path.read_text()), sort_keys=True).encode()
    return path.read_bytes()


def _hash(stage: Stage, stamps: dict[str, str]) -> str:
    h = hashlib.sha256(json.dumps(stage.command).encode())
    for f in stage.files:
        h.update(_content(REPO / f))
    for n in stage.needs:
        h.update(stamps.get(n, "missing").encode())
    return h.hexdigest()[:16]


def _move_aside(run_dir: str | None) -> None:
    """A stale run folder (its inputs changed) goes to a hidden sibling `.previous-<name>`: the
    trainer refuses to start over a folder with checkpoints, the last results stay inspectable,
    and the tournament's adapter glob (runs/tiny/*) does not pick it up."""
    if run_dir and (REPO / run_dir).exists():
        import shutil

        path = REPO / run_dir
        previous = path.parent / f".previous-{path.name}"
        shutil.rmtree(previous, ignore_errors=True)
        (REPO / run_dir).rename(previous)
        print(f"  inputs changed: previous run moved to {previous.relative_to(REPO)}", flush=True)


def run_stages(stages: list[Stage], root: Path, env: dict, force: bool = False) -> dict[str, float]:
    stamp_dir = root / ".stamps"
    stamp_dir.mkdir(parents=True, exist_ok=True)
    stamps: dict[str, str] = {}
    timings: dict[str, float] = {}
    for i, stage in enumerate(stages, 1):
        digest = _hash(stage, stamps)
        stamp = stamp_dir / f"{stage.name}.stamp"
        up_to_date = not force and stamp.exists() and stamp.read_text() == digest and (REPO / stage.output).exists()
        header = f"[{i}/{len(stages)}] {stage.name}"
        if up_to_date:
            print(f"{header}: up to date, skipped ({stage.output})", flush=True)
        else:
            print(f"\n{header}: {' '.join(stage.command[2:] if stage.command[:2] == ROBALIGN[:2] else stage.command)}", flush=True)
            _move_aside(stage.run_dir)
            t0 = time.perf_counter()
            code = subprocess.run(stage.command, cwd=REPO, env=env).returncode
            if code:
                raise StageFailed(f"demo: stage {stage.name} failed (exit {code}); its output is above. Fix it and rerun: finished stages are skipped.", code)
            timings[stage.name] = time.perf_counter() - t0
            stamp.write_text(digest)
            print(f"{header}: done in {timings[stage.name]:.0f} s", flush=True)
        stamps[stage.name] = digest
    return timings


def _moved(value, root: str):
    """The path under `root` when `value` is one of the demo's outputs (artifacts/, runs/)."""
    if isinstance(value, str) and value.startswith(("artifacts/", "runs/")):
        return f"{root}/{value}"
    return value


def _relocate(recipe: str, root: str) -> list[str]:
    """`--set` overrides that move a recipe's artifacts/ and runs/ paths under `root`."""
    import yaml

    data = yaml.safe_load((REPO / recipe).read_text())
    paths = {"model.model_name_or_path": data["model"].get("model_name_or_path"),
             "model.ref_model_name_or_path": data["model"].get("ref_model_name_or_path"),
             "training.output_dir": data["training"]["output_dir"]}
    for key, spec in (data.get("data") or {}).items():
        if isinstance(spec, dict):
            paths[f"data.{key}.path"] = spec.get("path")
    sets = [f"{k}={_moved(v, root)}" for k, v in paths.items() if _moved(v, root) != v]
    if isinstance((data.get("data") or {}).get("eval"), dict):
        sets.append("data.eval.max_samples=64")  # evaluation passes dominate a 3-step run
    return sets


def _tournament_output_dir(config: str) -> str:
    import yaml

    return yaml.safe_load((REPO / config).read_text())["output_dir"]


def _quick_tournament_path(root: str) -> str:
    return f"{root}/demo.yaml"


def _relocated_tournament(config: str, root: str) -> str:
    """Write a copy of a tournament config whose artifacts/ and runs/ paths live under `root`."""
    import yaml

    def move(value):
        if isinstance(value, str):
            return _moved(value, root)
        if isinstance(value, list):
            return [move(v) for v in value]
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        return value

    data = yaml.safe_load((REPO / config).read_text())
    # benchmark definitions kept in their own files are inlined, so their data paths move too
    from robalign.eval.config import read_benchmark_list

    from_files = [b for f in data.pop("benchmark_files", None) or [] for b in read_benchmark_list(str(REPO / f))]
    data["benchmarks"] = from_files + (data.get("benchmarks") or [])  # files first, as the tournament does
    data = move(data)
    for bench in data.get("benchmarks", []):
        bench["max_items"] = 16  # an untrained test model babbles to max_tokens: keep generation short
    data.setdefault("sampling", {})["max_tokens"] = 16
    out = REPO / _quick_tournament_path(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(out.relative_to(REPO))


QUICK_STEPS = ["training.max_steps=3", "training.logging_steps=1", "training.save_steps=3", "training.eval_steps=3"]


def train_stage(name: str, recipe: str, needs: list[str], root: str | None) -> Stage:
    import yaml

    out = yaml.safe_load((REPO / recipe).read_text())["training"]["output_dir"]
    cmd = [*ROBALIGN, "train", recipe]
    if root:  # quick mode: same recipe, relocated outputs, a few steps
        for s in _relocate(recipe, root) + QUICK_STEPS:
            cmd += ["--set", s]
        out = f"{root}/{out}"
    return Stage(name, cmd, f"{out}/tokenizer_config.json", run_dir=out, needs=needs, files=[recipe])


#: On-policy sampling of the demo: 8 samples per prompt at temperature 1 (quick: 2, short answers).
ONPOLICY_SAMPLING = ["--samples", "8", "--temperature", "1.0", "--max-tokens", "24"]
QUICK_SAMPLING = ["--samples", "2", "--temperature", "1.0", "--max-tokens", "12"]
ONPOLICY_FLIP_RATE = "0.3"


def onpolicy_stages(data: str, sft: str, quick: bool) -> list[Stage]:
    """Pairs from the SFT model's own samples: the true labels, then the same pairs with 30% of
    the labels flipped. Both read one generation cache, so the second stage samples nothing."""
    common = [*ROBALIGN, "data", "on-policy", "--model", sft, "--prompts", f"{data}/prompts.jsonl",
              *(QUICK_SAMPLING if quick else ONPOLICY_SAMPLING), "--cache", f"{data}/onpolicy.cache"]
    clean, noisy = f"{data}/onpolicy_clean.jsonl", f"{data}/onpolicy_uniform_{ONPOLICY_FLIP_RATE}.jsonl"
    return [
        Stage("onpolicy_clean", [*common, "--out", clean], clean, needs=["sft", "data"]),
        Stage("onpolicy_noisy", [*common, "--flip-rate", ONPOLICY_FLIP_RATE, "--noise", "uniform", "--out", noisy], noisy,
              needs=["onpolicy_clean"]),
    ]


def demo_stages(quick_root: str | None) -> list[Stage]:
    """The pipeline. Full demo: the recipes' own paths (artifacts/, runs/) so users can rerun
    any stage by hand; quick mode: everything under `quick_root`, test-size model, few steps."""
    pre = f"{quick_root}/" if quick_root else ""
    data = f"{pre}artifacts/data"
    n = ["--n-sft", "2000", "--n-prefs", "400"] if quick_root else []
    pairs = ["onpolicy_clean", "onpolicy_noisy"]
    recipes = [
        ("sft", "recipes/tiny/sft/config.yaml", ["model", "data"]),
        ("safety_sft", "recipes/tiny/safety_sft/config.yaml", ["sft"]),
        ("dpo_clean", "recipes/tiny/dpo/config_clean.yaml", ["sft", *pairs]),
        ("dpo", "recipes/tiny/dpo/config_plain.yaml", ["sft", *pairs]),
        ("lcpo_dpo", "recipes/tiny/dpo/config_lcpo.yaml", ["sft", *pairs]),
        ("simpo", "recipes/tiny/simpo/config_plain.yaml", ["sft", *pairs]),
        ("lcpo_simpo", "recipes/tiny/simpo/config_lcpo.yaml", ["sft", *pairs]),
        ("cadv_ipo", "recipes/tiny/cadv_ipo/config.yaml", ["safety_sft"]),
    ]
    stages = [
        Stage("model", [*ROBALIGN, "make-model", "--size", "test" if quick_root else "demo", "--out", f"{pre}artifacts/models/demo"], f"{pre}artifacts/models/demo/config.json",
              run_dir=f"{pre}artifacts/models/demo"),  # make-model refuses to overwrite: a stale model is moved aside
        Stage("data", [*ROBALIGN, "data", "all", "--out", data, *n], f"{data}/prefs_eval.jsonl"),
        Stage("safety_data", [*ROBALIGN, "data", "safety-sft", "--out", data], f"{data}/safety_sft.jsonl", needs=["data"]),
    ]
    stages += [train_stage(name, recipe, needs, quick_root) for name, recipe, needs in recipes[:2]]
    stages += onpolicy_stages(data, f"{pre}runs/tiny/sft", quick_root is not None)
    stages += [train_stage(name, recipe, needs, quick_root) for name, recipe, needs in recipes[2:]]
    tournament = "eval/tournaments/demo.yaml"
    cmd = [*ROBALIGN, "tournament", tournament]
    if quick_root:  # the same config, relocated under quick_root, fewer simulations
        tournament = _relocated_tournament(tournament, quick_root)
        cmd = [*ROBALIGN, "tournament", tournament, "--set", "ranking.n_sims=2000", "--set", "ranking.n_bootstrap=100"]
    out_dir = _tournament_output_dir(tournament)
    stages.append(Stage("tournament", cmd, f"{out_dir}/report.html", needs=[r[0] for r in recipes], files=["eval/tournaments/demo.yaml"]))
    return stages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="same pipeline, a few steps per stage (CI)")
    parser.add_argument("--root", default=".cache/demo-quick", help="output root of --quick runs")
    parser.add_argument("--force", action="store_true", help="rerun every stage")
    args = parser.parse_args(argv)
    quick_root = args.root if args.quick else None
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    t0 = time.perf_counter()
    try:
        run_stages(demo_stages(quick_root), REPO / (quick_root or "artifacts"), env, force=args.force)
    except StageFailed as err:
        print(err, file=sys.stderr)
        return err.code
    out_dir = REPO / _tournament_output_dir(_quick_tournament_path(quick_root) if quick_root else "eval/tournaments/demo.yaml")
    board = out_dir / "leaderboard.md"
    if board.exists():
        print("\n" + board.read_text().strip())
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s; report: {(out_dir / 'report.html').relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
