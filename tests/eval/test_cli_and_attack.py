"""robalign generate/chat/serve through the real CLI (HF engine: no vLLM start), and the attack scorer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _robalign(*args, stdin: str | None = None, timeout: int = 300):
    return subprocess.run([sys.executable, "-m", "robalign", *map(str, args)], input=stdin, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "src")})


def test_generate_hf_writes_rows_and_reuses_its_cache(test_model_dir, lora_dir, data_dir, tmp_path, capsys):
    from robalign.cli.main import main

    data = tmp_path / "p.jsonl"
    data.write_text("".join(line + "\n" for line in (data_dir / "bench" / "sort.jsonl").read_text().splitlines()[:5]))
    out = tmp_path / "out.jsonl"
    args = [str(a) for a in ("generate", "--model", test_model_dir, "--adapter", lora_dir, "--data", data, "--out", out, "--engine", "hf", "--max-tokens", "8")]
    assert main(args) == 0
    assert "starting hf engine" in capsys.readouterr().err
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 10 and {row["adapter"] for row in rows} == {None, str(lora_dir)}
    assert all({"prompt", "answer", "family", "output"} <= set(row) for row in rows)
    assert main(args) == 0
    assert "starting hf engine" not in capsys.readouterr().err  # everything came from the cache
    assert [json.loads(x) for x in out.read_text().splitlines()] == rows


def test_chat_reads_piped_stdin_and_keeps_the_conversation(test_model_dir, lora_dir):
    r = _robalign("chat", "--model", test_model_dir, "--adapter", lora_dir, "--max-tokens", "6",
                  stdin="Sort: 3 1 2\n/reset\nCount: a b\n/quit\nnever read\n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [x.split(":")[0] for x in lines] == ["assistant", "(conversation cleared)", "assistant"]


def test_serve_builds_the_vllm_openai_command(test_model_dir, lora_dir, other_base_lora_dir):
    r = _robalign("serve", "--model", test_model_dir, "--adapter", f"mine={lora_dir}", "--port", "8123", "--print-command")
    assert r.returncode == 0, r.stderr
    cmd = r.stdout.split()
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert cmd[cmd.index("--port") + 1] == "8123" and "--enable-lora" in cmd
    name, _, served = cmd[cmd.index("--lora-modules") + 1].partition("=")  # a neutral symlink (test_serve.py)
    assert name == "mine" and Path(served).resolve() == Path(lora_dir).resolve() and cmd[cmd.index("--max-lora-rank") + 1] == "8"
    from robalign.config.hardware import resolve_torch_dtype

    assert cmd[cmd.index("--dtype") + 1] == resolve_torch_dtype("auto")  # decided from the hardware
    bad = _robalign("serve", "--model", test_model_dir, "--adapter", f"x={other_base_lora_dir}", "--print-command")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "different base model" in bad.stderr
    bad = _robalign("serve", "--model", test_model_dir, "--adapter", str(lora_dir), "--print-command")
    assert bad.returncode == 2 and "expected NAME=PATH" in bad.stderr


def test_attack_scorer_runs_the_adversarial_stage(test_model_dir, lora_dir, data_dir):
    pytest.importorskip("robalign.attacks.evaluate", reason="the adversarial stage (robalign.attacks) is not in this checkout")
    from robalign.eval.scorers.attack import attack_scores
    from robalign.eval.config import BenchmarkSpec
    from robalign.eval.generation import Entry

    rows = [json.loads(x) for x in (data_dir / "safety_test.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["kind"] == "harmful"][:2] + [r for r in rows if r["kind"] == "benign"][:1]
    spec = BenchmarkSpec(name="attack", data="unused", scorer="attack", attack_grid="2x0.1", batch_size=8)
    res = attack_scores(spec, rows, [Entry("lora", str(test_model_dir), str(lora_dir))])
    assert list(res) == ["lora"]
    for r in res.values():
        assert 0.0 <= r.value <= 1.0 and "asr@K2_e0.1" in r.extras and "over_refusal" in r.extras
        assert r.details[0]["attack_report"]["attacks"][0]["steps"] == 2
