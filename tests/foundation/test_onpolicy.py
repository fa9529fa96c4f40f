"""On-policy pairs: the pure pair builder and noise on it, directly; then the `data on-policy`
command on the test model (real HF engine, real files), killed mid-run and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from robalign.data import synthetic
from robalign.data.onpolicy import PromptSamples, build_pairs, inject_noise
from robalign.data.tasks import answer_closeness
from robalign.data.verifiers import verify

REPO = Path(__file__).resolve().parents[2]


def _items(n: int = 400, seed: int = 0) -> list[PromptSamples]:
    """Prompts of the on-policy stream with made-up samples: right answers, near misses, junk, empties."""
    rng = np.random.default_rng(seed)
    from robalign.data.tasks import generate
    import random

    r = random.Random(seed)
    out, seen = [], set()
    for row in synthetic.prompt_rows(seed, n):
        if row["prompt"] in seen:  # the stream may repeat a prompt; the checks below look samples up by prompt
            continue
        seen.add(row["prompt"])
        wrong = generate(row["family"], r).wrong  # some other instance's near miss: wrong here too (almost always)
        pool = [row["answer"], " " + row["answer"] + "\n", wrong, "x y z", "", "  "]
        k = int(rng.integers(1, 9))
        out.append(PromptSamples(row["prompt"], row["family"], row["answer"], tuple(pool[int(i)] for i in rng.integers(0, len(pool), k))))
    return out


def test_pairs_chosen_verifies_rejected_does_not_and_are_the_models_own():
    items = _items()
    pairs = build_pairs(items, held_out=set(), rng=np.random.default_rng(0))
    by_prompt = {it.prompt: it for it in items}
    assert 100 < len(pairs) <= len(items) and len(items) > 300
    sources = {p["chosen_source"] for p in pairs}
    assert sources == {"sample", "reference"}
    for p in pairs:
        it = by_prompt[p["prompt"]]
        assert verify(p["family"], p["chosen"], it.answer)
        assert not verify(p["family"], p["rejected"], it.answer) and p["rejected"].strip()
        assert p["rejected"] in {s.strip() for s in it.samples}  # one of the model's own answers
        if p["chosen_source"] == "sample":
            assert p["chosen"] in {s.strip() for s in it.samples}
        else:
            assert p["chosen"] == it.answer and not any(verify(it.family, s, it.answer) for s in it.samples)
        assert p["n_correct"] == sum(verify(it.family, s, it.answer) for s in it.samples)
        assert p["label_flipped"] is False and 0.0 <= p["closeness"] <= 1.0
    # a prompt whose samples are all right (or all empty besides right ones) gives no pair
    paired = {p["prompt"] for p in pairs}
    for it in items:
        has_wrong = any(not verify(it.family, s, it.answer) and s.strip() for s in it.samples)
        assert (it.prompt in paired) == has_wrong


def test_pair_builder_refuses_benchmark_prompts_and_prompt_files_never_hold_them():
    bench = {r["prompt"] for rows in synthetic.benchmark_rows(0).values() for r in rows}
    items = _items(50)
    leaked = items + [PromptSamples(next(iter(bench)), "sort", "1 2", ("2 1",))]
    with pytest.raises(ValueError, match="benchmark split"):
        build_pairs(leaked, held_out=bench, rng=np.random.default_rng(0))
    assert not {r["prompt"] for r in synthetic.prompt_rows(0, 2000)} & bench
    assert build_pairs(items, held_out=bench, rng=np.random.default_rng(0))  # the stream's own prompts pass


@pytest.mark.parametrize("kind", ["uniform", "instance"])
def test_flips_are_recorded_truthfully(kind):
    clean = build_pairs(_items(2000), set(), np.random.default_rng(0))
    noisy = inject_noise(clean, 0.3, kind, np.random.default_rng(1))
    assert len(noisy) == len(clean)
    for c, n in zip(clean, noisy):
        if n["label_flipped"]:
            assert (n["chosen"], n["rejected"]) == (c["rejected"], c["chosen"])
        else:
            assert (n["chosen"], n["rejected"]) == (c["chosen"], c["rejected"])
    rate = np.mean([n["label_flipped"] for n in noisy])
    assert abs(rate - 0.3) < 4 * np.sqrt(0.3 * 0.7 / len(noisy)), rate


def test_annotator_rates_are_each_annotators_own():
    clean = build_pairs(_items(3000), set(), np.random.default_rng(0)) * 3
    noisy = inject_noise(clean, 0.0, "uniform", np.random.default_rng(2), annotator_rates=[0.05, 0.2, 0.45])
    for i, rate in enumerate([0.05, 0.2, 0.45]):
        mine = [n["label_flipped"] for n in noisy if n["annotator"] == f"annotator_{i}"]
        assert abs(np.mean(mine) - rate) < 4 * np.sqrt(rate * (1 - rate) / len(mine)) + 1e-9, (i, np.mean(mine))


def test_answer_closeness_matches_the_generators_scale():
    assert answer_closeness("sort", "1 2 3 4", "1 3 2 4") == pytest.approx(0.75)
    assert answer_closeness("max", "9", "7") == pytest.approx(0.5)
    assert answer_closeness("add", "57", "58") == 1.0 and answer_closeness("add", "57", "abc") == 0.0
    assert answer_closeness("reverse", "a b c", "a b c") == 1.0


def _cli(out: Path, model: Path, data: Path, *extra: str):
    return [sys.executable, "-m", "robalign", "data", "on-policy", "--model", str(model), "--prompts", str(data / "prompts.jsonl"),
            "--samples", "2", "--max-tokens", "8", "--engine", "hf", "--shard-size", "20", "--out", str(out), *extra]


@pytest.mark.slow
def test_on_policy_cli_resumes_after_a_kill(tmp_path, test_model_dir, data_dir):
    """A run killed after its first shard is written resumes: the rerun reuses that shard, and
    the result equals an uninterrupted run's, row for row."""
    prompts = data_dir / "prompts.jsonl"
    rows = [json.loads(x) for x in prompts.read_text().splitlines()][:80]
    small = tmp_path / "data"
    small.mkdir()
    (small / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (small / "bench").symlink_to(data_dir / "bench")
    out = tmp_path / "prefs.jsonl"
    cache = Path(f"{out}.cache")
    proc = subprocess.Popen(_cli(out, test_model_dir, small, "--flip-rate", "0.3"), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not list(cache.glob("*.json")):
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.name for p in cache.glob("*.json")}
    assert 1 <= len(done_before) < 4 and not out.exists()
    mtimes = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.json")}

    resumed = subprocess.run(_cli(out, test_model_dir, small, "--flip-rate", "0.3"), cwd=REPO, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert all((cache / n).stat().st_mtime_ns == mtimes[n] for n in done_before)  # kept, not regenerated
    assert len(list(cache.glob("*.json"))) == 4
    once = tmp_path / "once.jsonl"
    fresh = subprocess.run(_cli(once, test_model_dir, small, "--flip-rate", "0.3"), cwd=REPO, capture_output=True, text=True, timeout=900)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert out.read_text() == once.read_text()
    pairs = [json.loads(x) for x in out.read_text().splitlines()]
    info = json.loads(Path(f"{out}.info.json").read_text())
    assert info["pairs"] == len(pairs) and info["prompts"] == 80 and info["flipped"] == sum(p["label_flipped"] for p in pairs)
    by_prompt = {r["prompt"]: r for r in rows}
    for p in pairs:
        right, wrong = (p["rejected"], p["chosen"]) if p["label_flipped"] else (p["chosen"], p["rejected"])
        assert verify(p["family"], right, by_prompt[p["prompt"]]["answer"]) and not verify(p["family"], wrong, by_prompt[p["prompt"]]["answer"])


def test_on_policy_cli_refuses_benchmark_prompts_in_one_line(tmp_path, test_model_dir, data_dir):
    bench_row = json.loads((data_dir / "bench" / "sort.jsonl").read_text().splitlines()[3])
    small = tmp_path / "data"
    small.mkdir()
    (small / "prompts.jsonl").write_text(json.dumps({"prompt": "Sort: 3 1", "answer": "1 3", "family": "sort"}) + "\n" + json.dumps(bench_row) + "\n")
    (small / "bench").symlink_to(data_dir / "bench")
    res = subprocess.run(_cli(tmp_path / "p.jsonl", test_model_dir, small), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "line 2" in lines[0] and "benchmark split" in lines[0], lines
    assert not (tmp_path / "p.jsonl").exists()


def test_several_pairs_per_prompt_take_different_wrong_answers():
    items = _items(300)
    one = build_pairs(items, set(), np.random.default_rng(0))
    many = build_pairs(items, set(), np.random.default_rng(0), pairs_per_prompt=3)
    assert len(one) < len(many) <= 3 * len(one)
    by_prompt: dict[str, list[str]] = {}
    for p in many:
        assert verify(p["family"], p["chosen"], next(it.answer for it in items if it.prompt == p["prompt"]))
        by_prompt.setdefault(p["prompt"], []).append(" ".join(p["rejected"].split()))
    assert all(len(r) == len(set(r)) for r in by_prompt.values())
    assert {p["prompt"] for p in one} == set(by_prompt)
