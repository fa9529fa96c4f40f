"""vLLM generation against the HF reference, the generation cache, and a whole tournament.

All tests share the session's vLLM engine (tests/conftest.py::vllm_engine) on the test model.
"""

from __future__ import annotations

import csv
import json
import shutil

import pytest

pytestmark = pytest.mark.vllm

MAX_TOKENS = 24


def _sampling(**kw):
    from robalign.eval.sampling import SamplingArgs

    return SamplingArgs(**{"temperature": 0.0, "max_tokens": MAX_TOKENS, **kw})


@pytest.fixture(scope="module")
def hf_engine(test_model_dir):
    from robalign.eval.engines import EngineArgs, make_engine

    return make_engine(str(test_model_dir), EngineArgs(backend="hf", dtype="float32", hf_batch_size=32))


def test_vllm_greedy_matches_hf_on_base_and_adapter(vllm_engine, hf_engine, bench_prompts, lora_dir):
    """Same token ids in, greedy decoding: the completions must agree.

    Tolerance: at most 1 of 64 prompts may differ. Both engines compute in fp32 but with
    different kernels (vLLM's CPU attention/paged KV vs torch SDPA on a left-padded batch), so
    when two logits are within ~1e-6 the argmax can flip and the continuation diverges; on
    the 25M model stack.md measured 255/256 on the base for exactly this reason. (Measured
    here on the test model: 64/64 base and 64/64 adapter.)
    """
    from robalign.models.chat import render_chat

    ids = render_chat(vllm_engine.tokenizer, bench_prompts)
    s = _sampling()
    v_base, h_base = vllm_engine.generate(ids, s), hf_engine.generate(ids, s)
    v_lora, h_lora = vllm_engine.generate(ids, s, adapter=str(lora_dir)), hf_engine.generate(ids, s, adapter=str(lora_dir))
    n = len(ids)
    base_match = sum(a == b for a, b in zip(v_base, h_base))
    lora_match = sum(a == b for a, b in zip(v_lora, h_lora))
    print(f"greedy match vLLM vs HF: base {base_match}/{n}, adapter {lora_match}/{n}")
    assert base_match >= n - 1 and lora_match >= n - 1
    changed = sum(a != b for a, b in zip(v_base, v_lora))
    assert changed >= 0.9 * n, "the adapter must change the outputs (a silently unapplied adapter would not)"
    assert all(len(c[0]) <= MAX_TOKENS for c in v_base)


def test_cache_hit_avoids_regeneration_and_new_adapter_only_generates_itself(vllm_engine, test_model_dir, lora_dir, noop_lora_dir, bench_prompts, tmp_path):
    from robalign.eval.cache import GenerationCache
    from robalign.eval.generation import Entry, generate_all

    starts = []

    def factory(model, adapters):
        starts.append((model, tuple(adapters)))
        return vllm_engine

    benches = {"a": bench_prompts[:16], "b": bench_prompts[16:40]}
    cache = GenerationCache(tmp_path / "cache")
    entries = [Entry("base", str(test_model_dir)), Entry("lora", str(test_model_dir), str(lora_dir))]
    from robalign.eval.engines import EngineArgs

    kw = dict(engine=EngineArgs(backend="vllm", dtype="float32", max_lora_rank=16), progress=False, close_engines=False)  # the fixture's

    before = vllm_engine.n_generated
    first, warn = generate_all(entries, benches, _sampling(), cache, factory, **kw)
    assert vllm_engine.n_generated - before == 2 * 40 and len(starts) == 1 and warn == []
    assert len(list((tmp_path / "cache").glob("*.json"))) == 4  # one shard per (model, benchmark)

    before = vllm_engine.n_generated
    again, _ = generate_all(entries, benches, _sampling(), cache, factory, **kw)
    assert vllm_engine.n_generated == before and len(starts) == 1  # all cached: no engine started
    assert again == first

    # one new adapter (a no-op one): only its 40 prompts are generated, and the tournament warns
    before = vllm_engine.n_generated
    more, warn = generate_all(entries + [Entry("noop", str(test_model_dir), str(noop_lora_dir))], benches, _sampling(), cache, factory, **kw)
    assert vllm_engine.n_generated - before == 40 and len(starts) == 2
    assert more[("noop", "a")] == first[("base", "a")]
    assert len(warn) == 1 and warn[0].startswith("noop: adapter") and "exactly the base model's outputs" in warn[0]

    # other sampling settings are another cache key
    before = vllm_engine.n_generated
    generate_all(entries[:1], {"a": benches["a"]}, _sampling(seed=1, temperature=0.7), cache, factory, **kw)
    assert vllm_engine.n_generated - before == 16


def _write_metrics(run_dir):
    """A training log in the format of robalign.trainers.callbacks (what a run leaves next to its adapter)."""
    rows = [{"step": s, "loss": 1.0 / s, "lcpo/eta": 0.3 - 0.01 * s, "adv/target_ce_attacked": 2.0 - 0.1 * s, "rewards/accuracies": 0.5 + 0.02 * s}
            for s in range(1, 11)]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_tournament_end_to_end(vllm_engine, test_model_dir, lora_dir, noop_lora_dir, data_dir, make_reward_model, tmp_path):
    """generate -> score -> rank -> report with every scorer kind, on the shared engine."""
    from robalign.errors import UserError
    from robalign.eval.config import load_tournament
    from robalign.eval.tournament import run_tournament

    run = tmp_path / "runs" / "lora"
    shutil.copytree(lora_dir, run)
    _write_metrics(run)
    rm = make_reward_model(tmp_path / "rm")
    bench = data_dir / "bench"
    cfg_text = f"""
output_dir: {tmp_path / 'out'}
models:
  - {{name: base, model: {test_model_dir}}}
  - {{name: noop, model: {test_model_dir}, adapter: {noop_lora_dir}}}
adapter_globs:
  - {{glob: "{tmp_path / 'runs'}/*", model: {test_model_dir}}}
benchmarks:
  - {{name: sort, data: {bench / 'sort.jsonl'}, scorer: verify, max_items: 12}}
  - {{name: count, data: {bench / 'count.jsonl'}, scorer: verify, max_items: 12}}
  - {{name: safety, data: {data_dir / 'safety_test.jsonl'}, scorer: safety}}
  - {{name: rm, data: {bench / 'max.jsonl'}, scorer: reward_model, reward_model: {rm}, max_items: 8}}
  - {{name: judge, data: {bench / 'reverse.jsonl'}, scorer: judge, judge_model: {test_model_dir}, max_items: 3}}
rounds: [[sort, count], [safety], [rm], [judge]]
sampling: {{max_tokens: 16}}
ranking: {{n_sims: 2000, eliminate: [0, 1], n_bootstrap: 100}}
"""
    path = tmp_path / "t.yaml"
    path.write_text(cfg_text)
    cfg = load_tournament(str(path))

    def factory(model, adapters):
        assert model == str(test_model_dir)
        return vllm_engine

    res = run_tournament(cfg, str(path), engine_factory=factory, close_engines=False, progress=False)
    out = tmp_path / "out"
    for f in ("scores.csv", "items.jsonl", "leaderboard.json", "leaderboard.md", "report.html",
              "plots/expected_score.png", "plots/rank_probs.png", "plots/score_matrix.png", "plots/training_lora.png"):
        assert (out / f).is_file(), f
    table = list(csv.reader((out / "scores.csv").open()))
    assert table[0] == ["model", "sort", "count", "safety", "rm", "judge"] and sorted(r[0] for r in table[1:]) == ["base", "lora", "noop"]

    # every number traces back to generations: the mean of items.jsonl scores is the matrix entry
    items = [json.loads(x) for x in (out / "items.jsonl").read_text().splitlines()]
    n_safety = len((data_dir / "safety_test.jsonl").read_text().splitlines())
    assert len(items) == 3 * (12 + 12 + n_safety + 8 + 3)
    for model in ("base", "lora"):
        sort_items = [i for i in items if i["model"] == model and i["benchmark"] == "sort"]
        assert all({"prompt", "output", "score"} <= set(i) for i in sort_items)
        assert res.scores[model]["sort"] == pytest.approx(sum(i["score"] for i in sort_items) / 12)
    # the noop adapter equals the base everywhere (same outputs) and the tournament says so
    assert res.scores["noop"] == res.scores["base"]
    assert any(w.startswith("noop:") for w in res.warnings)
    # the judge ran both orders for every pair: each model's item score is a mean over 2 opponents
    judge_items = [i for i in items if i["benchmark"] == "judge"]
    assert all(len(i["judge_verdicts"]) == 2 and all(len(v) == 2 for v in i["judge_verdicts"].values()) for i in judge_items)
    judge_total = sum(res.scores[m]["judge"] for m in ("base", "lora", "noop"))
    assert judge_total == pytest.approx(1.5)  # win rates of a round robin sum to n_models / 2

    board = json.loads((out / "leaderboard.json").read_text())
    row = board["rows"][0]
    for key in ("expected_score_T0", "expected_score_T0_se", "expected_score_T1", "failure_sensitivity", "p_first",
                "bt_rating", "bt_ci_low", "bt_ci_high", "bt_item_rating", "elo", "mean_score", "mean_rank", "expected_rank"):
        assert key in row, key
    assert len(board["swiss"]["0"]["rank_probs"]) == 3 and board["agreement"]["methods"]
    assert "safety/refusal_rate" in board["metrics"]["base"]
    assert row["expected_score_T0"] == row["expected_score"]  # the rows and the per-level runs are the same simulations
    assert "## Leaderboard" in (out / "leaderboard.md").read_text()

    # bad input: a reward model with NaN weights makes a NaN score -> one clear line, before ranking
    import torch
    from safetensors.torch import load_file, save_file

    w = load_file(rm / "model.safetensors")
    w["score.weight"] = torch.full_like(w["score.weight"], float("nan"))
    save_file(w, rm / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(UserError, match=r"score of model \w+ on benchmark rm is nan; expected a finite number"):
        run_tournament(cfg, str(path), engine_factory=factory, close_engines=False, progress=False)
