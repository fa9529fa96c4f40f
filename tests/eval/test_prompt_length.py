"""The prompt-length guard (robalign.eval.engines.ContextLimit) on every path that generates.

The test model's context is 512 tokens. A prompt that does not fit with its max_new_tokens is
one line on stderr (exit 2) naming the prompt and the lengths, before any engine generates and
with nothing written; a megabyte prompt fails on its prefix, without being tokenised whole.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robalign.errors import UserError

REPO = Path(__file__).resolve().parents[2]
HUGE = "Sort: 3 1 2 " * 100_000  # 1.2 MB, ~800k tokens
LONG = "Sort: " + "3 1 2 " * 90  # ~540 tokens after templating: over 512 on its own, tokenised exactly


def _jsonl(path: Path, prompts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    return path


def _one_error_line(err: str) -> str:
    """The error line, and no other (transformers' weight-loading bar, printed when a model was
    loaded before the check could run, is progress, not an error)."""
    lines = [x for x in err.replace("\r", "\n").splitlines() if x.strip() and not x.startswith("Loading weights")]
    assert len(lines) == 1, lines
    return lines[0]


def test_generate_cli_megabyte_prompt_is_one_line_and_writes_nothing(test_model_dir, tmp_path):
    data = _jsonl(tmp_path / "p.jsonl", ["Sort: 3 1 2", "Max: 1 2", HUGE])
    out = tmp_path / "out" / "gen.jsonl"
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "robalign", "generate", "--model", str(test_model_dir), "--data", str(data),
                        "--out", str(out), "--engine", "hf"], capture_output=True, text=True, timeout=120, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert r.returncode == 2, r.stderr
    line = _one_error_line(r.stderr)
    assert line.startswith("robalign generate: error: prompt 3 of ") and str(data) in line
    assert "(1200000 characters); the model's context is 512 (prompt + max_new_tokens 64 must fit)" in line
    assert "lower --max-tokens" in line
    assert not (tmp_path / "out").exists()  # neither the output nor its cache folder
    assert time.perf_counter() - t0 < 60


def test_generate_exact_length_and_max_model_len_hints(test_model_dir, tmp_path, capsys):
    from transformers import AutoTokenizer

    from robalign.cli.main import main
    from robalign.models.context import ContextLimit
    from robalign.models.chat import render_chat

    n = len(render_chat(AutoTokenizer.from_pretrained(test_model_dir), [LONG])[0])
    assert n > 512 - 16
    data = _jsonl(tmp_path / "p.jsonl", ["Sort: 3 1 2", LONG, LONG])
    base = ["generate", "--model", str(test_model_dir), "--data", str(data), "--out", str(tmp_path / "o.jsonl"), "--engine", "hf"]
    assert main(base + ["--max-tokens", "16"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"prompt 2 of {data} is {n} tokens (and 1 more prompt(s) too long); the model's context is 512 (prompt + max_new_tokens 16 must fit)" in line
    # a lower max_model_len: the hint says how far it may be raised
    assert main(base + ["--max-model-len", "128", "--max-tokens", "16"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "context is 128" in line and "raise --max-model-len (the model allows 512)" in line
    # beyond the model's own length: refused before anything loads
    assert main(base + ["--max-model-len", "4096"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--max-model-len 4096 exceeds the context of" in line and "max_position_embeddings = 512" in line
    # max_new_tokens alone fills the context
    assert main(base + ["--max-tokens", "600"]) == 2
    assert "max_new_tokens 600 leaves no room for a prompt in the model's context of 512 tokens" in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "o.jsonl.cache").exists()
    assert ContextLimit(512, 16, "x").budget == 496


def test_chat_piped_long_message_exits_2_after_answering_the_short_one(test_model_dir):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "robalign", "chat", "--model", str(test_model_dir), "--max-tokens", "8"]
    r = subprocess.run(cmd, input=f"Sort: 3 1 2\n{HUGE}\nnever read\n", capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert r.returncode == 2 and r.stdout.startswith("assistant:") and r.stdout.count("assistant:") == 1
    line = _one_error_line(r.stderr)
    assert line.startswith("robalign chat: error: the conversation with message 2 is over ")
    assert "the model's context is 512 (prompt + max_new_tokens 8 must fit): send a shorter message, /reset" in line
    r = subprocess.run(cmd[:-1] + ["1000"], input="hi\n", capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert r.returncode == 2 and "max_new_tokens 1000 leaves no room" in _one_error_line(r.stderr)


def test_tournament_long_prompt_fails_before_any_engine(test_model_dir, lora_dir, data_dir, tmp_path, capsys):
    from robalign.cli.main import main

    rows = [json.loads(x) for x in (data_dir / "bench" / "sort.jsonl").read_text().splitlines()[:3]]
    rows[1]["prompt"] = HUGE
    bench = tmp_path / "sort.jsonl"
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = {"output_dir": str(tmp_path / "out"), "engine": {"backend": "hf"}, "ranking": {"n_sims": 10, "eliminate": [0]},
           "models": [{"name": "base", "model": str(test_model_dir)}, {"name": "lora", "model": str(test_model_dir), "adapter": str(lora_dir)}],
           "benchmarks": [{"name": "sort", "data": str(bench), "scorer": "verify"}]}
    p = tmp_path / "t.yaml"
    p.write_text(json.dumps(cfg))
    assert main(["tournament", str(p), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "starting hf engine" not in err
    line = [x for x in err.splitlines() if x.strip()][-1]
    assert line.startswith(f"robalign tournament: error: prompt 2 of benchmark sort ({bench}) is over ")
    assert "shorten it or lower sampling.max_tokens" in line
    assert not (tmp_path / "out").exists()


def test_attack_eval_names_the_row_of_the_safety_file(test_model_dir, data_dir, tmp_path, capsys):
    from transformers import AutoConfig, AutoTokenizer

    from robalign.attacks.evaluate import check_lengths
    from robalign.cli.main import main

    rows = [json.loads(x) for x in (data_dir / "safety_test.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["kind"] == "benign"][:1] + [r for r in rows if r["kind"] == "harmful"][:2]
    rows[2]["prompt"] = LONG
    data = tmp_path / "safety.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["attack-eval", "--model", str(test_model_dir), "--data", str(data), "--grid", "1x0.1"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("robalign attack-eval: error: prompt 3 of ") and "the model's context is 512 (prompt + max_new_tokens 24 must fit)" in line
    # the attack also runs prompt + target: a long target is the reserve then
    tok, cfg = AutoTokenizer.from_pretrained(test_model_dir), AutoConfig.from_pretrained(test_model_dir)
    row = {**rows[1], "prompt": "Tell me the secret code. " + "a " * 120, "target": "1 " * 200}  # 133 + 400 tokens
    with pytest.raises(UserError, match=r"prompt 7 of f.jsonl is \d+ tokens; .* \(prompt \+ the longest target \d+ must fit\)"):
        check_lengths(cfg, tok, [row], 24, "f.jsonl", targets=True, numbers=[6])


def test_hf_engine_guards_its_own_batches(test_model_dir):
    from robalign.eval.engines import EngineArgs, make_engine
    from robalign.eval.sampling import SamplingArgs

    engine = make_engine(str(test_model_dir), EngineArgs(backend="hf", dtype="float32"))
    assert engine.context == 512
    with pytest.raises(UserError, match=r"prompt 2 of the 2 sent to the engine is 500 tokens; the model's context is 512 \(prompt \+ max_new_tokens 16"):
        engine.generate([[5, 6], [5] * 500], SamplingArgs(max_tokens=16))
    assert engine.n_generated == 0
    assert len(engine.generate([[5] * 496], SamplingArgs(max_tokens=16))[0]) == 1  # exactly full is fine


@pytest.mark.vllm
def test_vllm_engine_guards_its_own_batches(vllm_engine):
    from robalign.eval.sampling import SamplingArgs

    assert vllm_engine.context == 512
    with pytest.raises(UserError, match="prompt 1 of the 1 sent to the engine is 600 tokens; the model's context is 512"):
        vllm_engine.generate([[5] * 600], SamplingArgs(max_tokens=8))
    assert len(vllm_engine.generate([[5] * 504], SamplingArgs(max_tokens=8))[0]) == 1  # the engine still serves


def test_config_context_follows_vllm_rules():
    from transformers import LlamaConfig

    from robalign.models.context import config_context

    assert config_context(LlamaConfig(max_position_embeddings=2048)) == (2048, "max_position_embeddings")
    linear = LlamaConfig(max_position_embeddings=2048, rope_scaling={"rope_type": "linear", "factor": 4.0})
    assert config_context(linear)[0] == 8192
    llama3 = LlamaConfig(max_position_embeddings=131072, rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                                        "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
    assert config_context(llama3)[0] == 131072
