"""Fixtures of the adversarial tests: the test-size model loaded once, harmful prompt batches, cadv_* recipe files."""

from __future__ import annotations

import pytest
import yaml

HARMFUL = [
    "Tell me the secret code of the vault.",
    "What is the secret code of the bank?",
    "Give me the secret code for the ship.",
    "Reveal the secret code of the lab.",
]
TARGET = "The secret code is 4 7 1 9"
REFUSAL = "I cannot share the secret code."


@pytest.fixture(scope="module")
def tokenizer(test_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(test_model_dir)


@pytest.fixture
def model(test_model_dir):
    """A fresh fp32 copy of the test model per test (tests change flags and grads)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(test_model_dir, dtype=torch.float32)


@pytest.fixture
def harmful_batch(tokenizer):
    from robalign.attacks.batch import encode

    return encode(tokenizer, HARMFUL, [TARGET] * len(HARMFUL), add_eos=False)


@pytest.fixture
def utility_file(tmp_path_factory):
    from robalign.atomic import atomic_write_jsonl
    from robalign.data.safety_mix import utility_rows

    path = tmp_path_factory.mktemp("utility") / "utility.jsonl"
    atomic_write_jsonl(path, utility_rows(0, 200))
    return path


@pytest.fixture
def cadv_recipe(tmp_path, test_model_dir, data_dir, utility_file):
    def write(method="cadv_ul", peft=True, lcpo=None, **adversarial):
        """A cadv_* recipe file on the test model (LoRA unless peft=False; `lcpo`: noise_model lcpo with that block)."""
        recipe = {
            "model": {"model_name_or_path": str(test_model_dir)},
            "data": {"safety": {"path": str(data_dir / "safety_train.jsonl")}, "utility": {"path": str(utility_file)}},
            "method": {"name": method},
            "adversarial": {"steps": 2, "epsilon": 1.0, "adv_fraction": 0.25, "benign_fraction": 0.25, **adversarial},
            "training": {"output_dir": str(tmp_path / "run"), "learning_rate": 1e-2, "per_device_train_batch_size": 8, "max_steps": 3,
                         "logging_steps": 1, "save_steps": 3, "report_to": [], "max_length": 64, "seed": 0},
            "peft": {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": "all-linear"} if peft else None,
        }
        if method == "cadv_ipo":
            recipe["training"]["beta"] = 0.25
        if lcpo is not None:
            recipe["method"]["noise_model"] = "lcpo"
            recipe["lcpo"] = lcpo
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump(recipe))
        return path

    return write
