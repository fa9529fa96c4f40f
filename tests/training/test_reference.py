"""One reference rule for every trainer (`robalign.trainers.reference.reference_model`), on a real LoRA model."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch


def _lora(test_model_dir, name="default", seed=0):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(test_model_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)  # B != 0: the adapter moves the output
    return get_peft_model(model, config, adapter_name=name), config


def _trainer(model, ref_model=None):
    """What reference_model reads of a trainer: its (wrapped) policy, its frozen ref_model and its accelerator."""
    from accelerate import Accelerator

    return SimpleNamespace(model=model, ref_model=ref_model, accelerator=Accelerator(cpu=True))


def _logits(net, ids):
    with torch.no_grad():
        return net(input_ids=ids).logits


@pytest.fixture
def ids():
    return torch.tensor([[1, 5, 9, 13, 17, 21]])


def test_lora_without_a_ref_adapter_is_the_base_model(test_model_dir, ids):
    from robalign.trainers.reference import reference_model

    policy, _ = _lora(test_model_dir)
    with policy.disable_adapter():
        base = _logits(policy, ids)
    assert not torch.allclose(_logits(policy, ids), base)
    with reference_model(_trainer(policy)) as net:
        torch.testing.assert_close(_logits(net, ids), base)
    torch.testing.assert_close(_logits(policy, ids), _logits(policy, ids))  # the adapter is back on
    assert not torch.allclose(_logits(policy, ids), base)


def test_an_adapter_named_ref_is_the_reference(test_model_dir, ids):
    from robalign.trainers.reference import reference_model

    policy, config = _lora(test_model_dir)
    torch.manual_seed(1)
    policy.add_adapter("ref", config)
    policy.set_adapter("ref")
    ref = _logits(policy, ids)
    policy.set_adapter("default")
    trained = _logits(policy, ids)
    assert not torch.allclose(ref, trained)
    with reference_model(_trainer(policy)) as net:
        torch.testing.assert_close(_logits(net, ids), ref)
    assert policy.active_adapter == "default"
    torch.testing.assert_close(_logits(policy, ids), trained)


def test_a_frozen_ref_model_wins(test_model_dir, ids):
    from transformers import AutoModelForCausalLM

    from robalign.trainers.reference import reference_model

    policy, _ = _lora(test_model_dir)
    frozen = AutoModelForCausalLM.from_pretrained(test_model_dir)
    with reference_model(_trainer(policy, ref_model=frozen)) as net:
        assert net is frozen
