"""Fixtures of the evaluation tests: LoRA adapters of the session's test model, and prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _save_lora(model_dir: Path, out: Path, *, random_b: bool, seed: int = 1) -> Path:
    """A rank-8 LoRA on the attention and MLP projections. random_b=True (peft's
    init_lora_weights=False) makes it change outputs; False leaves B = 0, an adapter that is a no-op."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    cfg = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                     init_lora_weights=not random_b)
    get_peft_model(model, cfg).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def lora_dir(test_model_dir, artifacts_dir) -> Path:
    """A LoRA adapter of the test model with random A and B: it changes the outputs."""
    return _save_lora(test_model_dir, artifacts_dir / "lora-random", random_b=True)


@pytest.fixture(scope="session")
def noop_lora_dir(test_model_dir, artifacts_dir) -> Path:
    """A LoRA adapter at peft's default initialisation (B = 0): outputs identical to the base."""
    return _save_lora(test_model_dir, artifacts_dir / "lora-noop", random_b=False)


@pytest.fixture(scope="session")
def other_base_lora_dir(artifacts_dir) -> Path:
    """A LoRA adapter of a different (wider) Llama: must be refused for the test model."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    base_dir = artifacts_dir / "other-base"
    LlamaForCausalLM(LlamaConfig(vocab_size=384, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=2, num_key_value_heads=2)).save_pretrained(base_dir)
    return _save_lora(base_dir, artifacts_dir / "lora-other-base", random_b=True)


@pytest.fixture(scope="session")
def bench_prompts(data_dir) -> list[str]:
    """64 prompts: 16 from each of four synthetic task families (varied lengths)."""
    rows = []
    for fam in ("sort", "reverse", "count", "max"):
        lines = (data_dir / "bench" / f"{fam}.jsonl").read_text().splitlines()[:16]
        rows += [json.loads(line)["prompt"] for line in lines]
    return rows


@pytest.fixture(scope="session")
def make_reward_model(test_model_dir):
    """Build a tiny reward model (LlamaForSequenceClassification, 1 label) with the test tokenizer in a dir."""

    def build(out: Path, seed: int = 0) -> Path:
        import torch
        from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

        tok = AutoTokenizer.from_pretrained(test_model_dir)
        torch.manual_seed(seed)
        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                          num_key_value_heads=2, num_labels=1, pad_token_id=tok.pad_token_id)
        LlamaForSequenceClassification(cfg).save_pretrained(out)
        tok.save_pretrained(out)
        return out

    return build
