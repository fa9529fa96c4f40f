"""The tiny model factory: loads in transformers, generates, chat template round-trips, deterministic."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from robalign.models.factory import SIZES, make_model


def test_loads_and_greedy_generates(test_model_dir):
    tok = AutoTokenizer.from_pretrained(test_model_dir)
    model = AutoModelForCausalLM.from_pretrained(test_model_dir)
    assert model.config.head_dim >= 32, "vLLM's CPU attention needs head_dim >= 32"
    enc = tok.apply_chat_template([{"role": "user", "content": "Sort: 3 1 2"}], add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**enc, max_new_tokens=6, do_sample=False)
    assert out.shape[1] > enc["input_ids"].shape[1]
    again = model.generate(**enc, max_new_tokens=6, do_sample=False)
    assert torch.equal(out, again)


def test_parameter_count_matches_size(test_model_dir):
    info = json.loads((test_model_dir / "robalign_model.json").read_text())
    assert 0.5e6 < info["parameters"] < 1.5e6
    assert set(SIZES) == {"test", "demo", "small"}


def test_chat_template_round_trip(test_model_dir):
    tok = AutoTokenizer.from_pretrained(test_model_dir)
    msgs = [{"role": "user", "content": "Add: 23 + 45"}, {"role": "assistant", "content": "68"}]
    full = tok.apply_chat_template(msgs, tokenize=False)
    prompt = tok.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True)
    assert full.startswith(prompt), "TRL relies on the prompt being a prefix of the conversation"
    assert full == "<|user|>\nAdd: 23 + 45<|end|>\n<|assistant|>\n68<|end|>\n"
    ids = tok(full, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == full
    # digits are single tokens, role markers are single special tokens
    assert "<|assistant|>" in tok.convert_ids_to_tokens(ids)
    assert [t for t in tok.convert_ids_to_tokens(tok("2345", add_special_tokens=False)["input_ids"])] == ["2", "3", "4", "5"]
    assert tok.eos_token == "<|end|>" and tok.pad_token == "<|pad|>" and tok.pad_token_id != tok.eos_token_id


def test_deterministic_for_a_seed(tmp_path, test_model_dir):
    other = make_model("test", tmp_path / "again", seed=0)
    a = AutoModelForCausalLM.from_pretrained(test_model_dir).state_dict()
    b = AutoModelForCausalLM.from_pretrained(other).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (test_model_dir / "tokenizer.json").read_text() == (other / "tokenizer.json").read_text()
    different = make_model("test", tmp_path / "seed1", seed=1)
    c = AutoModelForCausalLM.from_pretrained(different).state_dict()
    assert not torch.equal(a["model.embed_tokens.weight"], c["model.embed_tokens.weight"])


def test_unknown_size_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="expected one of"):
        make_model("huge", tmp_path / "x")
