"""Flat TRL / alignment-handbook configs -> robalign's recipe blocks, in one place.

A TRL script (`trl dpo --config X.yaml`) or an alignment-handbook recipe is ONE flat mapping:
ModelConfig keys (`model_name_or_path`, `torch_dtype`, `use_peft`, `lora_r`...), ScriptArguments
(`dataset_name`, `dataset_config`, `dataset_train_split`, `dataset_mixture`, or the older
handbook's `dataset_mixer`/`dataset_splits`) and the trainer's config (`beta`, `loss_type`,
`learning_rate`, `output_dir`...). robalign reads such a file as a recipe: `from_flat` maps each
key onto the `model`/`data`/`method`/`training`/`peft` blocks (`robalign validate --print-recipe`
shows the result, `robalign convert` writes it), and refuses with one line every key robalign
would otherwise ignore.

loss_type: TRL's `sigmoid` is robalign's `dpo` (with `label_smoothing` > 0 TRL trains conservative
DPO: `cdpo`), `ipo` is `ipo`, `robust` is `rdpo` (TRL's robust DPO); CPO/SimPO configs' `simpo` is
`simpo`. Other TRL losses are refused, naming the ones that map.
"""

from __future__ import annotations

import dataclasses

from robalign.errors import ConfigError

#: Keys that only a flat TRL/handbook config has at its top level (a robalign recipe has blocks).
FLAT_MARKERS = ("model_name_or_path", "dataset_name", "dataset_mixture", "dataset_mixer", "use_peft", "lora_r", "loss_type")

MODEL_KEYS = {"model_name_or_path": "model_name_or_path", "tokenizer_name_or_path": "tokenizer_name_or_path",
              "torch_dtype": "torch_dtype", "dtype": "torch_dtype", "attn_implementation": "attn_implementation",
              "trust_remote_code": "trust_remote_code", "ref_model_name_or_path": "ref_model_name_or_path"}
PEFT_KEYS = {"lora_r": "r", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout", "lora_target_modules": "target_modules",
             "lora_modules_to_save": "modules_to_save", "lora_task_type": "task_type", "use_rslora": "use_rslora", "use_dora": "use_dora"}
LOSS_TYPES = {"sigmoid": "dpo", "ipo": "ipo", "robust": "rdpo", "simpo": "simpo"}

#: Keys of TRL's ModelConfig / ScriptArguments / the handbook that robalign does not implement, and what to do instead.
REFUSED = {
    "model_revision": "pin a local copy of the model (model_name_or_path: a folder) instead",
    "load_in_4bit": "quantised training is not implemented", "load_in_8bit": "quantised training is not implemented",
    "bnb_4bit_quant_type": "quantised training is not implemented", "use_bnb_nested_quant": "quantised training is not implemented",
    "bnb_4bit_quant_storage": "quantised training is not implemented",
    "chat_template": "robalign uses the tokenizer's own chat template: save it in the tokenizer (tokenizer_config.json)",
    "dataset_test_split": "set data.eval (a held-out dataset) in the converted recipe",
    "dataset_streaming": "datasets are read whole", "gradient_checkpointing_use_reentrant": "set gradient_checkpointing_kwargs",
}
#: Handbook/TRL-script keys with no effect in robalign: `robalign convert` drops them (and says so); read directly, refused.
INERT = {
    "preprocessing_num_workers": "robalign's data preparation is single-process",
    "auto_insert_empty_system_msg": "robalign renders the tokenizer's chat template as it is",
    "truncation_side": "TRL's truncation rules apply (max_length, max_prompt_length)",
    "ignore_bias_buffers": "a DDP workaround in TRL's scripts",
}


def looks_flat(raw: dict) -> bool:
    """A flat TRL/handbook config: no `model` block and a top-level key only such configs have."""
    return "model" not in raw and any(k in raw for k in FLAT_MARKERS)


def _trl_fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.init}


def from_flat(raw: dict, file: str | None, drop_inert: bool = False, dropped: list | None = None) -> dict:
    """Map a flat TRL/alignment-handbook config onto robalign's recipe blocks (one line per key it cannot map).

    Keys with no effect here (INERT) are refused unless `drop_inert` (what `robalign convert` does,
    appending them to `dropped`)."""
    from trl import DPOConfig, SFTConfig

    rest = dict(raw)
    recipe: dict = {"model": {}, "data": {}, "method": {}, "training": {}}
    for key in list(rest):
        if key in REFUSED:
            raise ConfigError(file, key, f"a key robalign maps ({REFUSED[key]}); this file is read as a TRL/alignment-handbook config")
        if key in INERT:
            if not drop_inert:
                raise ConfigError(file, key, f"a key with an effect ({INERT[key]}); this looks like a TRL/alignment-handbook config: "
                                  f"`robalign convert {file} --out recipe.yaml` maps it and drops such keys")
            rest.pop(key)
            if dropped is not None:
                dropped.append(key)
        if key in MODEL_KEYS:
            recipe["model"][MODEL_KEYS[key]] = rest.pop(key)
    use_peft = rest.pop("use_peft", False)
    lora = {PEFT_KEYS[k]: rest.pop(k) for k in list(rest) if k in PEFT_KEYS}
    if use_peft:
        recipe["peft"] = lora
    elif lora:
        raise ConfigError(file, next(k for k in raw if k in PEFT_KEYS), "use_peft: true beside LoRA settings (without it TRL trains "
                          "the full model and ignores them)")
    recipe["data"] = _data(rest, file)
    dpo, sft = _trl_fields(DPOConfig), _trl_fields(SFTConfig)
    sft_only = [k for k in rest if k in sft and k not in dpo]
    loss = rest.pop("loss_type", None)
    if sft_only and loss is None and "beta" not in rest:
        recipe["method"]["name"] = "sft"
    else:
        recipe["method"]["name"] = "preference"
        loss = "sigmoid" if loss is None else loss
        if isinstance(loss, list):  # TRL >= 1.x: a list of losses (MPO); one base loss per run here
            loss = _rpo_pair(loss, rest, file)
        if isinstance(loss, list):
            if len(loss) != 1:
                raise ConfigError(file, "loss_type", "one loss (robalign trains one base loss per run)", got=repr(loss))
            loss = loss[0]
        if loss not in LOSS_TYPES:
            raise ConfigError(file, "loss_type", "a TRL loss robalign implements: " + ", ".join(f"{k} (-> {v})" for k, v in LOSS_TYPES.items()),
                              got=repr(loss))
        mapped = LOSS_TYPES[loss]
        if mapped == "dpo" and (rest.get("label_smoothing") or 0) > 0:
            mapped = "cdpo"  # TRL's sigmoid loss with label smoothing is conservative DPO
        recipe["method"]["loss_type"] = mapped
    recipe["training"] = rest  # every other key is a TRL trainer field: load_recipe checks it against the TRL config
    return {k: v for k, v in recipe.items() if v != {} or k in ("model", "training")}


def _rpo_pair(loss: list, rest: dict, file: str | None):
    """TRL 1.x's RPO spelling, loss_type [<loss>, sft] with loss_weights [1, a], is robalign's <loss> with rpo_alpha a."""
    if len(loss) != 2 or loss[1] != "sft":
        return loss
    weights = rest.pop("loss_weights", None) or [1.0, 1.0]
    if len(weights) != 2 or float(weights[0]) != 1.0:
        raise ConfigError(file, "loss_weights", f"[1.0, a] beside loss_type [{loss[0]}, sft] (robalign's rpo_alpha is a)", got=repr(weights))
    rest["rpo_alpha"] = float(weights[1])
    return [loss[0]]


def _data(rest: dict, file: str | None) -> dict:
    """ScriptArguments' dataset keys -> data.train (and data.eval from the old handbook's splits)."""
    name = rest.pop("dataset_name", None)
    config = rest.pop("dataset_config", None)
    split = rest.pop("dataset_train_split", None)
    mixture = rest.pop("dataset_mixture", None)
    mixer = rest.pop("dataset_mixer", None)
    splits = rest.pop("dataset_splits", None)
    given = [k for k, v in (("dataset_name", name), ("dataset_mixture", mixture), ("dataset_mixer", mixer)) if v is not None]
    if len(given) > 1:
        raise ConfigError(file, given[1], f"one source of training data (found {' and '.join(given)})")
    if name is not None:
        spec = {"path": name, **({"name": config} if config else {}), **({"split": split} if split else {})}
        return {"train": spec}
    if mixture is not None:
        if not isinstance(mixture, dict) or not isinstance(mixture.get("datasets"), list) or not mixture["datasets"]:
            raise ConfigError(file, "dataset_mixture", "a mapping with `datasets: [{id, config, split, columns, weight}, ...]`", got=repr(mixture))
        unknown = set(mixture) - {"datasets", "seed", "test_split_size"}
        if unknown:
            raise ConfigError(file, f"dataset_mixture.{sorted(unknown)[0]}", "unknown key; valid keys: datasets, seed")
        if mixture.get("test_split_size") is not None:
            raise ConfigError(file, "dataset_mixture.test_split_size", "no split here: give robalign held-out data as data.eval in the converted recipe")
        items = []
        for k, d in enumerate(mixture["datasets"]):
            if not isinstance(d, dict) or "id" not in d:
                raise ConfigError(file, f"dataset_mixture.datasets[{k}]", "a mapping with `id` (and config, split, columns, weight)", got=repr(d))
            bad = set(d) - {"id", "config", "split", "columns", "weight"}
            if bad:
                raise ConfigError(file, f"dataset_mixture.datasets[{k}].{sorted(bad)[0]}", "unknown key; valid keys: id, config, split, columns, weight")
            item = {"path": d["id"], "split": d.get("split") or "train"}
            for src, dst in (("config", "name"), ("columns", "columns"), ("weight", "weight")):
                if d.get(src) is not None:
                    item[dst] = d[src]
            items.append(item)
        return {"train": {"mixture": items, **({"seed": mixture["seed"]} if mixture.get("seed") is not None else {})}}
    if mixer is not None:  # alignment-handbook before 2025: {dataset id: fraction}, dataset_splits [train, test]
        if not isinstance(mixer, dict) or not mixer:
            raise ConfigError(file, "dataset_mixer", "a mapping {dataset id: fraction of its rows}", got=repr(mixer))
        train_split, test_split = "train", None
        if splits is not None:
            if not isinstance(splits, list) or not 1 <= len(splits) <= 2:
                raise ConfigError(file, "dataset_splits", "a list [train_split] or [train_split, test_split]", got=repr(splits))
            train_split, test_split = splits[0], (splits[1] if len(splits) == 2 else None)
        data = {"train": {"mixture": [{"path": p, "split": train_split, "weight": w} for p, w in mixer.items()]}}
        if test_split is not None:
            data["eval"] = {"mixture": [{"path": p, "split": test_split} for p in mixer]}
        return data
    if splits is not None:
        raise ConfigError(file, "dataset_splits", "dataset_mixer beside it (the old handbook's pair)")
    raise ConfigError(file, "dataset_name", "a training dataset: dataset_name or dataset_mixture (this file is read as a TRL/alignment-handbook config)")
