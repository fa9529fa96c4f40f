"""LCPO composes with C-AdvIPO: `method: cadv_ipo` + `noise_model: lcpo` trains with the same
NoiseModel as the preference trainer (eta logged, saved in the checkpoint)."""

from __future__ import annotations

import json


def test_cadv_ipo_with_lcpo_trains(tmp_path, cadv_recipe):
    from robalign.train import main

    path = cadv_recipe("cadv_ipo", lcpo={"posterior": "implicit", "eta_0": 0.8, "alpha": 0.5})
    assert main([str(path)]) == 0
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    trained = [r for r in rows if "loss" in r]
    assert len(trained) == 3 and all("ipo/loss" in r and "adv/delta_norm" in r for r in trained)
    etas = [r["lcpo/eta"] for r in trained]
    assert all(0.5 <= e < 1 for e in etas) and etas[0] != 0.8  # updated from the posteriors after each step
    state = json.loads((tmp_path / "run" / "checkpoint-3" / "robalign_state.json").read_text())
    assert state["lcpo"]["eta"] == [etas[-1]] and state["lcpo"]["steps"] == 3
