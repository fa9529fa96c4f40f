"""The collator of adversarial training batches (the rows and their layout: robalign.data.adversarial_rows)."""

from __future__ import annotations

from robalign.attacks.batch import encode
from robalign.data.adversarial_rows import RowDataset, build_blocks, split_safety, utility_row  # noqa: F401 (re-exported)


class AdversarialCollator:
    """features -> {"adv": prompt|target, "refusal": prompt|refusal, "util": prompt|completion} in the
    shared layout (robalign.attacks.batch); a group is absent when the batch has none of its rows."""

    def __init__(self, tokenizer, max_length: int | None):
        self.tokenizer = tokenizer
        half = max_length // 2 if max_length else None
        self.limits = dict(max_prompt_length=half, max_completion_length=half)

    def __call__(self, features: list[dict]) -> dict:
        harmful = [f for f in features if f["kind"] == "harmful"]
        util = [f for f in features if f["kind"] == "utility"]
        out = {}
        if harmful:
            prompts = [f["prompt"] for f in harmful]
            out["adv"] = encode(self.tokenizer, prompts, [f["target"] for f in harmful], add_eos=False, **self.limits)
            out["refusal"] = encode(self.tokenizer, prompts, [f["refusal"] for f in harmful], add_eos=True, **self.limits)
        if util:
            out["util"] = encode(self.tokenizer, [f["prompt"] for f in util], [f["completion"] for f in util], add_eos=True, **self.limits)
        return out
