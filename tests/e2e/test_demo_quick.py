"""The shortened demo: the same pipeline as `make demo` (model, data, SFT, safety SFT, on-policy
pairs of the SFT model, DPO on true and on noisy labels, LCPO-DPO, SimPO, LCPO-SimPO, C-AdvIPO,
tournament) on the test-size model with 3 steps per training stage. Proves the stages connect,
the preference runs train on the on-policy pairs, the leaderboard covers every model, the report
is written, and a second run skips every stage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_demo_end_to_end_and_rerun_skips(tmp_path):
    root = tmp_path.relative_to(REPO) if tmp_path.is_relative_to(REPO) else tmp_path
    cmd = [sys.executable, "scripts/demo.py", "--quick", "--root", str(root)]
    env = dict(os.environ)
    first = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=3000)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]

    board = json.loads((tmp_path / "runs/tiny/tournament/leaderboard.json").read_text())
    names = {row["model"] for row in board["rows"]}
    assert {"sft", "safety_sft", "dpo_clean", "dpo_plain", "dpo_lcpo", "simpo_plain", "simpo_lcpo", "cadv_ipo"} <= names, names
    data = tmp_path / "artifacts/data"
    clean = [json.loads(x) for x in (data / "onpolicy_clean.jsonl").read_text().splitlines()]
    noisy = [json.loads(x) for x in (data / "onpolicy_uniform_0.3.jsonl").read_text().splitlines()]
    assert clean and len(noisy) == len(clean) and not any(p["label_flipped"] for p in clean)
    assert 0 < sum(p["label_flipped"] for p in noisy) < len(noisy)
    for c, n in zip(clean, noisy):  # the same pairs, some labels flipped
        assert (n["chosen"], n["rejected"]) == ((c["rejected"], c["chosen"]) if n["label_flipped"] else (c["chosen"], c["rejected"]))
    import yaml

    for run, pairs in (("dpo_clean", "onpolicy_clean.jsonl"), ("dpo_lcpo", "onpolicy_uniform_0.3.jsonl"), ("simpo_plain", "onpolicy_uniform_0.3.jsonl")):
        resolved = yaml.safe_load((tmp_path / "runs/tiny" / run / "resolved_recipe.yaml").read_text())
        assert resolved["data"]["train"]["path"].endswith(f"artifacts/data/{pairs}"), resolved["data"]["train"]
    assert (tmp_path / "runs/tiny/tournament/report.html").stat().st_size > 10_000
    for run in ("dpo_lcpo", "cadv_ipo"):
        lines = (tmp_path / "runs/tiny" / run / "metrics.jsonl").read_text().splitlines()
        assert lines and all(json.loads(line)["step"] >= 0 for line in lines)
    assert any("lcpo/eta" in json.loads(line) for line in (tmp_path / "runs/tiny/dpo_lcpo/metrics.jsonl").read_text().splitlines())

    second = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    skipped = [line for line in second.stdout.splitlines() if "up to date, skipped" in line]
    assert len(skipped) == 14, second.stdout


def test_stage_stamp_ignores_yaml_comments_but_not_values(tmp_path):
    """Editing a recipe's comment must not retrain a stage; changing a value must."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_script", REPO / "scripts/demo.py")
    demo = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("demo_script", demo)  # dataclasses look their module up while it loads
    spec.loader.exec_module(demo)
    recipe = tmp_path / "config.yaml"

    def digest(text: str) -> str:
        recipe.write_text(text)
        return demo._hash(demo.Stage("s", ["robalign", "train", str(recipe)], "out", files=[str(recipe)]), {})

    base = digest("training:\n  max_steps: 100  # a comment\n")
    assert digest("# a new header\ntraining:\n  max_steps: 100   # reworded\n") == base
    assert digest("training:\n  max_steps: 101\n") != base
