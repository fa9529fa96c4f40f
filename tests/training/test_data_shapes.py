"""User data in the shapes the field publishes reaches the trainer as TRL expects it."""

from __future__ import annotations

import json

from tests.training.conftest import make_recipe


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
