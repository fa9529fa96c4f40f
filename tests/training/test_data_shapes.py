"""User data in the shapes the field publishes reaches the trainer as TRL expects it."""

from __future__ import annotations

import json

import pytest

from tests.training.conftest import make_recipe, run_module


def _ultrafeedback_rows():
    """alignment-handbook's UltraFeedback (binarized) shape: a string prompt, and chosen/rejected
    conversations that already start with that user turn."""
    out = []
    for prompt, good, bad in [("Sort: 3 1 2", "1 2 3", "3 2 1"), ("Max: 4 9 2", "9", "4"), ("Count: a b", "2", "3")]:
        out.append({"prompt": prompt, "prompt_id": str(abs(hash(prompt))),
                    "chosen": [{"role": "user", "content": prompt}, {"role": "assistant", "content": good}],
                    "rejected": [{"role": "user", "content": prompt}, {"role": "assistant", "content": bad}],
                    "score_chosen": 8.0, "score_rejected": 3.0})
    return out


def test_ultrafeedback_shape_sees_the_user_turn_once(tmp_path, test_model_dir):
    from transformers import AutoTokenizer

    from robalign.config import DatasetSpec
    from robalign.trainers.data import load_split

    path = tmp_path / "uf.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _ultrafeedback_rows()))
    recipe = make_recipe(test_model_dir)
    recipe.data.train = DatasetSpec(path=str(path))
    ds = load_split(recipe, "train")
    tok = AutoTokenizer.from_pretrained(test_model_dir)
    for row, src in zip(ds, _ultrafeedback_rows()):
        assert row["prompt"] == [{"role": "user", "content": src["prompt"]}]
        assert row["chosen"] == src["chosen"][1:] and row["rejected"] == src["rejected"][1:]
        text = tok.apply_chat_template(row["prompt"] + row["chosen"], tokenize=False)
        assert text.count("<|user|>") == 1 and text.count(src["prompt"]) == 1


def test_string_prompt_with_assistant_only_conversations_keeps_its_prompt(tmp_path, test_model_dir):
    """The mixed shape without a shared prefix: TRL's maybe_extract_prompt would drop the prompt."""
    from robalign.config import DatasetSpec
    from robalign.trainers.data import load_split

    path = tmp_path / "mixed.jsonl"
    rows = [{"prompt": "Sort: 2 1", "chosen": [{"role": "assistant", "content": "1 2"}], "rejected": [{"role": "assistant", "content": "2 1"}]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = make_recipe(test_model_dir)
    recipe.data.train = DatasetSpec(path=str(path))
    row = load_split(recipe, "train")[0]
    assert row["prompt"] == [{"role": "user", "content": "Sort: 2 1"}] and row["chosen"] == rows[0]["chosen"]


HH_ROWS = [  # Anthropic HH-RLHF: plain-text transcripts, the prompt is the shared part
    {"chosen": "\n\nHuman: What is 2 + 2?\n\nAssistant: 4", "rejected": "\n\nHuman: What is 2 + 2?\n\nAssistant: 5"},
    {"chosen": "\n\nHuman: Sort 3 1 2\n\nAssistant: Which order?\n\nHuman: Ascending.\n\nAssistant: 1 2 3",
     "rejected": "\n\nHuman: Sort 3 1 2\n\nAssistant: Which order?\n\nHuman: Ascending.\n\nAssistant: I won't."},
    {"chosen": "\n\nHuman: Hi\n\nHuman: Are you there?\n\nAssistant: Yes.", "rejected": "\n\nHuman: Hi\n\nHuman: Are you there?\n\nAssistant:"},
]


def _dpo_mix_rows():
    """argilla/dpo-mix-7k's columns: dataset, chosen/rejected conversations (no prompt column), ratings."""
    out = []
    for src, (q, good, bad, rc, rr) in zip(["capybara", "intel-orca", "ultrafeedback"],
                                           [("Max: 4 9 2", "9", "4", 5.0, 2.0), ("Sort: 2 1", "1 2", "2 1", 9.0, 9.0), ("Count: a b", "2", "3", 4.0, 5.0)]):
        out.append({"dataset": src, "chosen": [{"content": q, "role": "user"}, {"content": good, "role": "assistant"}],
                    "rejected": [{"content": q, "role": "user"}, {"content": bad, "role": "assistant"}],
                    "chosen_rating": rc, "rejected_rating": rr})
    return out


def test_hh_rlhf_transcripts_become_prompt_and_answers(tmp_path, test_model_dir):
    from robalign.config import DatasetSpec
    from robalign.trainers.data import load_split

    path = tmp_path / "hh.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in HH_ROWS))
    recipe = make_recipe(test_model_dir)
    recipe.data.train = DatasetSpec(path=str(path))
    ds = load_split(recipe, "train")
    assert ds[0] == {"prompt": [{"role": "user", "content": "What is 2 + 2?"}], "chosen": [{"role": "assistant", "content": "4"}],
                     "rejected": [{"role": "assistant", "content": "5"}]}
    assert [m["role"] for m in ds[1]["prompt"]] == ["user", "assistant", "user"] and ds[1]["prompt"][2]["content"] == "Ascending."
    assert ds[1]["chosen"] == [{"role": "assistant", "content": "1 2 3"}]
    assert ds[2]["prompt"] == [{"role": "user", "content": "Hi\n\nAre you there?"}]  # one speaker's turns joined

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"chosen": "\n\nHuman: Hi\n\nAssistant: Yo\n\nHuman: and?", "rejected": "\n\nHuman: Hi\n\nAssistant: x"}) + "\n")
    recipe.data.train = DatasetSpec(path=str(bad))
    from robalign.errors import ConfigError

    try:
        load_split(recipe, "train")
    except ConfigError as err:
        assert "data.train" in str(err) and "row 0 ends with Human" in str(err) and "\n" not in str(err)
    else:
        raise AssertionError("a transcript ending with a Human turn was accepted")


def test_dpo_mix_parquet_with_margin_weight_and_annotator(tmp_path, test_model_dir):
    import math

    import datasets

    from robalign.config import DatasetSpec
    from robalign.config.recipe import MarginWeight
    from robalign.trainers.data import load_split

    path = tmp_path / "dpo_mix.parquet"
    datasets.Dataset.from_list(_dpo_mix_rows()).to_parquet(str(path))
    recipe = make_recipe(test_model_dir)
    recipe.data.train = DatasetSpec(path=str(path), columns={"dataset": "annotator"},
                                    weight_from_margin=MarginWeight(chosen="chosen_rating", rejected="rejected_rating", scale=2.0))
    ds = load_split(recipe, "train")
    assert sorted(ds.column_names) == ["annotator", "chosen", "prompt", "rejected", "weight"]
    assert ds[0]["prompt"] == [{"role": "user", "content": "Max: 4 9 2"}] and ds[0]["chosen"] == [{"role": "assistant", "content": "9"}]
    assert ds["weight"] == [1 / (1 + math.exp(-1.5)), 0.5, 1 / (1 + math.exp(0.5))]  # (5-2)/2, a tie, a reversed margin
    assert ds["annotator"] == ["capybara", "intel-orca", "ultrafeedback"]


@pytest.mark.slow
def test_ultrafeedback_binarized_columns_weight_and_drop(tmp_path, test_model_dir, capsys):
    """The full UltraFeedback-binarized row (prompt, prompt_id, chosen, rejected, messages, scores) through
    `robalign validate`: a recipe drops `messages`, maps the score margin to `weight`, and trains with LCPO."""
    import datasets
    import yaml

    from robalign.cli.main import main

    rows = _ultrafeedback_rows()
    for r in rows:
        r["messages"] = r["chosen"]
    path = tmp_path / "uf.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    recipe = {
        "model": {"model_name_or_path": str(test_model_dir)},
        "data": {"train": {"path": str(path), "columns": {"messages": None, "prompt_id": None},
                           "weight_from_margin": {"chosen": "score_chosen", "rejected": "score_rejected"}}},
        "method": {"name": "preference", "loss_type": "dpo", "noise_model": "lcpo"},
        "training": {"output_dir": str(tmp_path / "run"), "max_steps": 1, "report_to": []},
        "peft": {"r": 4, "target_modules": ["q_proj", "v_proj"]},
    }
    f = tmp_path / "r.yaml"
    f.write_text(yaml.safe_dump(recipe))
    assert main(["validate", str(f)]) == 0
    assert "train 3 rows" in capsys.readouterr().out
    done = run_module(["-m", "robalign.train", str(f)])  # the real trainer takes the weights as LCPO priors
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "run_info.json").read_text())["finished_at_step"] == 1
    recipe["data"]["train"]["columns"] = {"nope": None}
    f.write_text(yaml.safe_dump(recipe))
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    assert "data.train.columns" in err and "missing ['nope']" in err and err.count("\n") == 1
    recipe["data"]["train"]["columns"] = {}
    recipe["data"]["train"]["weight_from_margin"] = {"chosen": "score", "rejected": "score_rejected"}
    f.write_text(yaml.safe_dump(recipe))
    assert main(["validate", str(f)]) == 2
    assert "'score' is not one" in capsys.readouterr().err
