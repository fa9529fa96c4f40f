"""Synthetic data: deterministic, held out, noise at the requested rate, verifiers exact."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from robalign.data import synthetic
from robalign.data.noise import flip_probabilities
from robalign.data.safety import HARMFUL_TARGET, REFUSAL
from robalign.data.tasks import FAMILIES, generate
from robalign.data.verifiers import exact_match, numeric_match, verify


def test_generators_are_deterministic():
    assert synthetic.preference_rows(3, 200, 0.3, "instance") == synthetic.preference_rows(3, 200, 0.3, "instance")
    assert synthetic.sft_rows(3, 300) == synthetic.sft_rows(3, 300)
    assert synthetic.preference_rows(3, 200, 0.3) != synthetic.preference_rows(4, 200, 0.3)


@pytest.mark.parametrize("noise", ["uniform", "instance"])
@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_observed_flip_rate_matches_requested(noise, rate):
    n = 4000
    rows = synthetic.preference_rows(0, n, rate, noise)
    observed = np.mean([r["label_flipped"] for r in rows])
    se = math.sqrt(rate * (1 - rate) / n)
    assert abs(observed - rate) < 4 * se, (observed, rate)


def test_instance_noise_flips_close_pairs_more_often():
    rows = synthetic.preference_rows(0, 4000, 0.3, "instance")
    close = [r["label_flipped"] for r in rows if r["closeness"] >= 0.8]
    far = [r["label_flipped"] for r in rows if r["closeness"] <= 0.5]
    assert np.mean(close) > np.mean(far) + 0.1


def test_flip_probabilities_keep_the_mean_under_the_cap():
    c = np.random.default_rng(0).random(10_000) ** 4
    p = flip_probabilities(c, 0.4, "instance")
    assert p.max() <= 0.95 + 1e-9 and abs(p.mean() - 0.4) < 1e-6


def test_flipped_rows_swap_chosen_and_rejected():
    rng_rows = synthetic.preference_rows(1, 500, 0.4)
    for r in rng_rows:
        fam = r["family"]
        right = r["rejected"] if r["label_flipped"] else r["chosen"]
        wrong = r["chosen"] if r["label_flipped"] else r["rejected"]
        # the truth is recoverable: the right answer verifies, the near miss does not
        assert not verify(fam, wrong, right)


def test_annotators_have_different_rates():
    rows = synthetic.preference_rows(0, 6000, 0.3, "uniform", n_annotators=3)
    rates = {}
    for r in rows:
        rates.setdefault(r["annotator"], []).append(r["label_flipped"])
    means = [np.mean(rates[a]) for a in sorted(rates)]
    assert len(means) == 3 and means[0] < means[1] < means[2]
    assert abs(np.mean([r["label_flipped"] for r in rows]) - 0.3) < 0.03


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_verifiers_accept_right_and_reject_near_misses(family):
    rng = random.Random(0)
    for _ in range(200):
        ex = generate(family, rng)
        assert verify(family, ex.answer, ex.answer)
        assert verify(family, f"  {ex.answer}\nextra chatter", ex.answer)
        assert not verify(family, ex.wrong, ex.answer), (ex, "near miss accepted")


def test_verifier_details():
    assert numeric_match("07", "7") and not numeric_match("7 apples", "7")
    assert exact_match("1  2 3", "1 2 3") and not exact_match("1 2 3 4", "1 2 3")


def test_benchmarks_are_held_out_of_training_data():
    bench = synthetic.benchmark_rows(0)
    held = {r["prompt"] for rows in bench.values() for r in rows}
    assert len(held) == 100 * len(FAMILIES)
    train = {r["prompt"] for r in synthetic.sft_rows(0, 5000)} | {r["prompt"] for r in synthetic.preference_rows(0, 2000)}
    assert not held & train
    for rows in bench.values():
        assert all(verify(r["family"], r["answer"], r["answer"]) for r in rows)


def test_safety_set_shape():
    splits = synthetic.safety_rows(0)
    for rows in splits.values():
        kinds = {r["kind"] for r in rows}
        assert kinds == {"harmful", "benign"}
        harmful = [r for r in rows if r["kind"] == "harmful"]
        assert all(r["target"] == HARMFUL_TARGET and r["refusal"] == REFUSAL for r in harmful)
        benign = [r for r in rows if r["kind"] == "benign"]
        assert all(r["prompt"].startswith("Tell me the") and verify(r["family"], r["answer"], r["answer"]) for r in benign)
    train_prompts = {r["prompt"] for r in splits["train"] if r["kind"] == "harmful"}
    test_prompts = {r["prompt"] for r in splits["test"] if r["kind"] == "harmful"}
    assert not train_prompts & test_prompts


def test_files_load_with_datasets(data_dir):
    import datasets

    ds = datasets.load_dataset("json", data_files=str(data_dir / "prefs_uniform_0.3.jsonl"), split="train")
    assert {"prompt", "chosen", "rejected", "label_flipped", "family"} <= set(ds.column_names)
    assert ds.features["label_flipped"].dtype == "bool"
    first = json.loads((data_dir / "sft.jsonl").read_text().splitlines()[0])
    assert set(first) == {"prompt", "completion", "family"}
