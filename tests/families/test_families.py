"""Every real model family at tiny size through the whole path (robalign make-model --arch).

Per family: the chat template's conventions, LoRA DPO + LCPO under the embedding attack (2
steps), HF+PEFT greedy against vLLM with the trained adapter and with a random-B adapter (which
must change the outputs: the trained one hardly moves a random model), `attack-eval` on a
handful of prompts, `export --merge` loaded by transformers (equal to HF+PEFT) and, for llama, by vLLM.
One vLLM engine per family on the base (LoRA on), and for llama one on the merged model; the families
differ exactly where pipelines break (see robalign.models.families), so none shares an engine.
"""

from __future__ import annotations

import json

import pytest
import yaml

from robalign.models.families import ARCHS, FAMILIES

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

MAX_TOKENS = 16


def _prompts(data_dir) -> list[str]:
    rows = [json.loads(x) for x in (data_dir / "bench" / "sort.jsonl").read_text().splitlines()[:6]]
    rows += [json.loads(x) for x in (data_dir / "safety_test.jsonl").read_text().splitlines()[:6]]
    return [r["prompt"] for r in rows]


def _random_lora(base, out):
    """A LoRA with random A and B on every linear layer (the family's own module names: Phi-3's
    fused qkv_proj/gate_up_proj included): it must change the outputs in both engines."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(base)
    get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False)).save_pretrained(out)
    return out


def _check_template(tokenizer, family):
    """The prompt rendered with the generation prompt is a prefix of the whole conversation in
    tokens (TRL's DPO tokenisation relies on it), and a system message is handled as the
    family's template says (Gemma-2 and Mistral refuse it)."""
    from robalign.errors import UserError
    from robalign.models.chat import render_chat, render_messages

    conv = [{"role": "user", "content": "Sort: 3 1 2"}]
    prompt = render_chat(tokenizer, ["Sort: 3 1 2"])[0]
    full = tokenizer.apply_chat_template(conv + [{"role": "assistant", "content": "1 2 3"}], tokenize=False)
    assert tokenizer(full, add_special_tokens=False)["input_ids"][: len(prompt)] == prompt
    if family.bos is not None and family.add_bos:  # the template writes bos: the ids must not carry two
        assert prompt[:2] != [tokenizer.bos_token_id] * 2
    system = [{"role": "system", "content": "Answer briefly."}, *conv]
    if family.name in ("gemma2", "mistral"):
        with pytest.raises(UserError, match="chat template .* refuses"):
            render_messages(tokenizer, system)
    else:
        assert "Answer briefly." in tokenizer.decode(render_messages(tokenizer, system))


@pytest.mark.parametrize("arch", ARCHS)
def test_family_whole_path(arch, tmp_path, data_dir):
    from transformers import AutoTokenizer

    from robalign.cli.main import main as cli
    from robalign.eval.engines import EngineArgs
    from robalign.eval.engines.hf import HFEngine
    from robalign.models.chat import render_chat
    from robalign.eval.sampling import SamplingArgs
    from robalign.eval.engines.vllm import VLLMEngine
    from robalign.models.factory import make_model
    from robalign.train import main as train_main

    family = FAMILIES[arch]
    base = make_model("test", tmp_path / "base", seed=0, arch=arch)
    config = json.loads((base / "config.json").read_text())
    assert config["model_type"] == arch
    tokenizer = AutoTokenizer.from_pretrained(base)
    _check_template(tokenizer, family)

    # LoRA DPO + LCPO under the embedding attack, as `robalign train` runs it
    run = tmp_path / "run"
    recipe = {
        "model": {"model_name_or_path": str(base)},
        "data": {"train": {"path": str(data_dir / "prefs_uniform_0.3.jsonl"), "max_samples": 16}},
        "method": {"name": "preference", "loss_type": "dpo", "noise_model": "lcpo"},
        "adversarial": {"enabled": True, "steps": 2, "epsilon": 1.0},
        "lcpo": {"eta_0": 0.8},
        "training": {"output_dir": str(run), "learning_rate": 1e-2, "beta": 0.5, "per_device_train_batch_size": 8, "max_steps": 2,
                     "logging_steps": 1, "save_steps": 2, "report_to": [], "max_length": 96, "seed": 0},
        "peft": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": "all-linear"},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert train_main([str(tmp_path / "recipe.yaml")]) == 0
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    rows = [m for m in metrics if "loss" in m]
    assert len(rows) == 2 and all(r["adv/delta_norm"] > 0 for r in rows) and any(k.startswith("lcpo/") for k in rows[-1])
    assert json.loads((run / "adapter_config.json").read_text())["base_model_name_or_path"] == str(base.resolve())
    assert f"base_model: {base.resolve()}" in (run / "README.md").read_text()

    # export --merge: an ordinary HF model folder
    merged = tmp_path / "merged"
    assert cli(["export", "--model", str(base), "--adapter", str(run), "--out", str(merged), "--merge"]) == 0
    for f in ("config.json", "model.safetensors", "generation_config.json", "tokenizer_config.json", "resolved_recipe.yaml", "README.md"):
        assert (merged / f).is_file(), f
    assert not (merged / "adapter_config.json").exists()

    # greedy: HF+PEFT is the reference for vLLM (base, trained adapter, random adapter) and for the merged model
    rand = _random_lora(base, tmp_path / "random-lora")
    ids = render_chat(tokenizer, _prompts(data_dir))
    s = SamplingArgs(temperature=0.0, max_tokens=MAX_TOKENS)
    hf = HFEngine(str(base), EngineArgs(backend="hf", dtype="float32"))
    ref = {"base": hf.generate(ids, s), "trained": hf.generate(ids, s, adapter=str(run)), "random": hf.generate(ids, s, adapter=str(rand))}
    hf.close()
    hf_merged = HFEngine(str(merged), EngineArgs(backend="hf", dtype="float32"))
    assert hf_merged.generate(ids, s) == ref["trained"], "transformers on the merged export differs from HF+PEFT"
    hf_merged.close()
    n = len(ids)
    assert sum(a != b for a, b in zip(ref["base"], ref["random"])) >= n - 1, "the random adapter must change the outputs"

    engine = VLLMEngine(str(base), EngineArgs(backend="vllm", dtype="float32", max_lora_rank=8))
    try:
        got = {"base": engine.generate(ids, s), "trained": engine.generate(ids, s, adapter=str(run)),
               "random": engine.generate(ids, s, adapter=str(rand))}
    finally:
        engine.close()
    match = {k: sum(a == b for a, b in zip(got[k], ref[k])) for k in ref}
    print(f"{arch}: vLLM vs HF+PEFT greedy matches {match} of {n}")
    assert all(v >= n - 1 for v in match.values()), match  # tolerance as in tests/eval/test_vllm.py

    if arch == "llama":
        # vLLM on the merged export: one family suffices (transformers checks every family's merge above;
        # a second engine per family would cost ~40-100 s each, against make test's 15-minute budget)
        engine = VLLMEngine(str(merged), EngineArgs(backend="vllm", dtype="float32"))
        try:
            merged_out = engine.generate(ids, s)
        finally:
            engine.close()
        assert sum(a == b for a, b in zip(merged_out, ref["trained"])) >= n - 1

    # attack-eval on a handful of prompts, on the base + trained adapter
    report = tmp_path / "attack.json"
    assert cli(["attack-eval", "--model", str(base), "--adapter", str(run), "--data", str(data_dir / "safety_test.jsonl"),
                "--grid", "2x1.0", "--max-samples", "4", "--max-new-tokens", "8", "--out", str(report), "--no-progress"]) == 0
    rep = json.loads(report.read_text())
    assert rep["attacks"][0]["steps"] == 2 and rep["attacks"][0]["target_ce"] <= rep["attacks"][0]["target_ce_clean"] + 1e-6
