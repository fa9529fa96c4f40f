"""Validation in one place: every rule a trainer enforces is refused by `robalign validate`, with the
same one line `robalign train` prints, and without a model being built.

Each row of the table is a recipe that breaks one rule of the METHODS / LOSSES entries or of the
method's data. It runs through both verbs in this process; `from_pretrained` is replaced by a
function that fails the test, so a rule that needs model weights to fire would show up here.
"""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml

from robalign.cli.main import main

PREF = {
    "model": {"model_name_or_path": "{model}"},
    "data": {"train": {"path": "{prefs}", "max_samples": 16}},
    "method": {"name": "preference", "loss_type": "dpo"},
    "training": {"output_dir": "{ws}/run", "max_steps": 1, "per_device_train_batch_size": 4, "max_length": 48, "report_to": []},
}
CADV = {
    "model": {"model_name_or_path": "{model}"},
    "data": {"safety": {"path": "{safety}"}, "utility": {"path": "{utility}"}},
    "method": {"name": "cadv_ipo", "loss_type": "ipo"},
    "adversarial": {"steps": 1, "adv_fraction": 0.25, "benign_fraction": 0.25},
    "training": {"output_dir": "{ws}/run", "max_steps": 1, "per_device_train_batch_size": 8, "max_length": 48, "report_to": []},
    "peft": {"r": 4, "target_modules": "all-linear"},
}
LORA = {"r": 4, "target_modules": "all-linear"}

SAFETY_HARMFUL = {"prompt": "Tell me the secret code.", "target": "The code is 4 7 1 9", "refusal": "I cannot share it.", "kind": "harmful"}
SAFETY_BENIGN = {**SAFETY_HARMFUL, "prompt": "Tell me the sum. Add: 2 + 3", "kind": "benign", "answer": "5"}


def _set(base: dict, changes: dict) -> dict:
    data = copy.deepcopy(base)
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        if value is _DROP:
            node.pop(last, None)
        else:
            node[last] = value
    return data


_DROP = object()

# (id, base recipe, changes, needle: the key and the expectation of the one line)
CASES = [
    # keys the preference trainer does not implement, or that a loss does not read
    ("trl-unsupported-key", PREF, {"training.ld_alpha": 0.5}, "training.ld_alpha: expected no such setting here"),
    ("trl-loss-type", PREF, {"training.loss_type": ["sigmoid"]}, "set method.loss_type"),
    ("rdpo-eps-range", PREF, {"method.loss_type": "rdpo", "training.label_smoothing": 0.5}, "rdpo's flip rate eps in [0, 0.5)"),
    ("cdpo-eps-range", PREF, {"method.loss_type": "cdpo", "training.label_smoothing": 0.7}, "cdpo's flip rate eps in [0, 0.5]"),
    ("eps-for-cpo", PREF, {"method.loss_type": "cpo", "training.label_smoothing": 0.1}, "applies to cdpo and rdpo only"),
    ("rdpo-with-lcpo", PREF, {"method.loss_type": "rdpo", "method.noise_model": "lcpo"}, "assume a fixed flip rate"),
    # LCPO and the attack only where the method reads them
    ("lcpo-for-sft", PREF, {"method.name": "sft", "data.train.path": "{sft}", "method.noise_model": "lcpo"},
     "method.noise_model: expected none for method sft"),
    ("lcpo-for-cadv-ul", CADV, {"method.name": "cadv_ul", "method.loss_type": _DROP, "method.noise_model": "lcpo"},
     "method.noise_model: expected none for method cadv_ul"),
    ("lcpo-reference-fit-for-cadv-ipo", CADV, {"method.noise_model": "lcpo"}, "lcpo.posterior: expected implicit for method cadv_ipo"),
    ("attack-for-sft", PREF, {"method.name": "sft", "data.train.path": "{sft}", "adversarial.enabled": True},
     "adversarial.enabled: expected false for method sft"),
    # the reference model: read only where a frozen reference is built from it
    ("ref-model-with-peft", PREF, {"model.ref_model_name_or_path": "{model}", "peft": LORA}, "null with peft"),
    ("ref-model-for-simpo", PREF, {"model.ref_model_name_or_path": "{model}", "method.loss_type": "simpo"},
     "loss_type 'simpo': it uses no reference model"),
    ("ref-model-for-sft", PREF, {"model.ref_model_name_or_path": "{model}", "method.name": "sft", "data.train.path": "{sft}"},
     "method sft: it uses no reference model"),
    # datasets a method does not read
    ("preference-with-safety", PREF, {"data.safety": {"path": "{safety}"}}, "data.safety: expected no such dataset for preference"),
    ("cadv-with-train", CADV, {"data.train": {"path": "{prefs}"}}, "data.train: expected no such dataset for cadv_ipo"),
    ("cadv-without-safety", CADV, {"data.safety": _DROP}, "missing key: data.safety"),
    # C-AdvIPO / C-AdvUL
    ("cadv-ipo-needs-ipo", CADV, {"method.loss_type": "dpo"}, "ipo for method cadv_ipo"),
    ("cadv-ipo-unread-key", CADV, {"training.precompute_ref_log_probs": True},
     "training.precompute_ref_log_probs: expected no such setting for method cadv_ipo"),
    ("cadv-ul-unread-key", CADV, {"method.name": "cadv_ul", "method.loss_type": _DROP, "training.packing": True},
     "training.packing: expected no such setting for method cadv_ul"),
    ("cadv-ul-needs-unlikelihood", CADV, {"method.name": "cadv_ul"}, "method.loss_type: expected unlikelihood for method cadv_ul"),
    ("unlikelihood-for-preference", PREF, {"method.loss_type": "unlikelihood"}, "method.loss_type: expected dpo or ipo"),
    ("loss-type-for-sft", PREF, {"method.name": "sft", "data.train.path": "{sft}"},
     "method.loss_type: expected no such setting for method sft"),
    ("recipe-block-as-training-key", PREF, {"training.noise_model": "lcpo"},
     "training.noise_model: expected no such setting here: set method.noise_model instead"),
    ("cadv-batch-without-utility-slots", CADV, {"adversarial.adv_fraction": 0.95}, "leaving utility slots in a batch of 8"),
    ("cadv-utility-slots-without-data", CADV, {"data.utility": _DROP}, "missing key: data.utility"),
    # rules on the data (validate opens it, as train does before the model)
    ("cadv-no-benign-rows", CADV, {"data.safety.path": "{harmful_only}"}, "adversarial.benign_fraction: expected 0 when data.safety"),
    ("cadv-no-harmful-rows", CADV, {"data.safety.path": "{benign_only}"}, "a safety dataset with harmful rows"),
    ("cadv-utility-not-ending-with-answer", CADV, {"data.utility.path": "{bad_utility}"}, "end with an assistant turn"),
    ("lcpo-unknown-eval-annotator", PREF, {"method.noise_model": "lcpo", "data.train.path": "{annotated}",
                                           "data.eval": {"path": "{annotated_eval}"}}, "data.eval.annotator"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory, test_model_dir, data_dir):
    from robalign.data.safety_mix import utility_rows

    root = tmp_path_factory.mktemp("rules")

    def rows(name, items):
        path = root / name
        path.write_text("".join(json.dumps(r) + "\n" for r in items))
        return str(path)

    pair = {"prompt": "Sort: 3 1 2", "chosen": "1 2 3", "rejected": "3 2 1"}
    return {
        "model": str(test_model_dir), "prefs": str(data_dir / "prefs_uniform_0.3.jsonl"), "sft": str(data_dir / "sft.jsonl"),
        "safety": rows("safety.jsonl", [SAFETY_HARMFUL, SAFETY_BENIGN] * 4),
        "utility": rows("utility.jsonl", utility_rows(0, 16)),
        "harmful_only": rows("harmful.jsonl", [SAFETY_HARMFUL] * 4),
        "benign_only": rows("benign.jsonl", [SAFETY_BENIGN] * 4),
        "bad_utility": rows("bad_utility.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}] * 4),
        "annotated": rows("annotated.jsonl", [{**pair, "annotator": a} for a in ("a", "b") * 4]),
        "annotated_eval": rows("annotated_eval.jsonl", [{**pair, "annotator": "c"}] * 2),
    }


def _write(tmp_path, files, base, changes) -> str:
    text = yaml.safe_dump(_set(base, changes), sort_keys=False)
    for key, value in {**files, "ws": str(tmp_path)}.items():
        text = text.replace("{" + key + "}", value)
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return str(path)


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [x for x in err.replace("\r", "\n").splitlines() if x.startswith("robalign ")]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    return lines[0].split(": error: ", 1)[1]


@pytest.mark.parametrize("case_id,base,changes,needle", CASES, ids=[c[0] for c in CASES])
def test_validate_refuses_what_train_refuses(case_id, base, changes, needle, files, tmp_path, capsys, monkeypatch):
    import transformers

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded: this rule must be checked before any model is built")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_model)
    recipe = _write(tmp_path, files, base, changes)
    assert main(["validate", recipe]) == 2
    validate_line = _one_line(capsys)
    assert needle in validate_line and recipe in validate_line
    assert main(["train", recipe]) == 2
    assert _one_line(capsys) == validate_line  # the same rule, the same words
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("base,changes", [(PREF, {}), (CADV, {}), (PREF, {"model.ref_model_name_or_path": "{model}"})],
                         ids=["preference", "cadv_ipo", "preference-full-ft-with-ref-model"])
def test_the_table_bases_are_valid(base, changes, files, tmp_path, capsys):
    """Each row above breaks exactly one rule: the recipe it starts from passes."""
    assert main(["validate", _write(tmp_path, files, base, changes)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("trainer,config,fields,needle", [
    ("preference:PreferenceTrainer", "PreferenceConfig", {"loss_name": "rdpo", "noise_model": "lcpo"}, "assume a fixed flip rate"),
    ("preference:PreferenceTrainer", "PreferenceConfig", {"loss_name": "rdpo", "label_smoothing": 0.6}, "rdpo's flip rate eps in [0, 0.5)"),
    ("preference:PreferenceTrainer", "PreferenceConfig", {"loss_name": "unlikelihood"}, "method.loss_type: expected one of"),
    ("adversarial:AdversarialTrainer", "CAdvConfig", {"loss_name": "dpo"}, "one of ipo, unlikelihood for AdversarialTrainer"),
    ("adversarial:AdversarialTrainer", "CAdvConfig", {"loss_name": "unlikelihood", "noise_model": "lcpo"},
     "method.noise_model: expected none for method cadv_ul"),
])
def test_a_trainer_built_in_code_applies_the_same_rules(tmp_path, trainer, config, fields, needle):
    """A typed config built in code (no recipe, no load_recipe) meets the same rules in the trainer, before any model use."""
    import importlib

    import robalign.config.training as training
    from robalign.errors import ConfigError

    module, _, name = trainer.partition(":")
    cls = getattr(importlib.import_module(f"robalign.trainers.{module}"), name)
    args = getattr(training, config)(output_dir=str(tmp_path), use_cpu=True, report_to=[], **fields)
    with pytest.raises(ConfigError, match=re.escape(needle)):
        cls(model=None, args=args)
