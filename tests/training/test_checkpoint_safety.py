"""A checkpoint must never run code: robalign's own state is JSON, and a legacy pickle is read
with `weights_only=True`, which refuses anything but tensors and plain containers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from robalign.errors import UserError
from robalign.trainers.checkpointing import EXTRA_STATE_FILE, LEGACY_EXTRA_STATE_FILE, read_extra_state


class _Exploit:
    """Unpickling this calls os.system: what a planted checkpoint file would do."""

    def __init__(self, witness: Path):
        self.witness = witness

    def __reduce__(self):
        return (os.system, (f"touch {self.witness}",))


def plant_malicious_state(checkpoint: Path, witness_dir: Path) -> Path:
    """Write a `robalign_state.pt` (a genuine torch zip file, as torch.save writes it) that creates a
    witness file when unpickled; return the witness path."""
    witness = witness_dir / "pwned"
    torch.save({"lcpo": _Exploit(witness)}, checkpoint / LEGACY_EXTRA_STATE_FILE)
    return witness


def test_planted_pickle_is_refused_without_running(tmp_path):
    witness = plant_malicious_state(tmp_path, tmp_path)
    with pytest.raises(UserError, match="never unpickles code"):
        read_extra_state(tmp_path)
    assert not witness.exists()
    # the same file through a full unpickler does run: the test's exploit is real
    torch.load(tmp_path / LEGACY_EXTRA_STATE_FILE, weights_only=False)
    assert witness.exists()


def test_state_is_json_and_round_trips_exactly(tmp_path):
    from robalign.noise.state import ReliabilityState

    state = ReliabilityState(eta_0=0.9, alpha=0.3, n_groups=3)
    state.accumulate(torch.tensor([0.1, 0.7, 0.3333333333333333]), torch.tensor([0, 1, 2]))
    state.step()
    (tmp_path / EXTRA_STATE_FILE).write_text(json.dumps({"lcpo": state.state_dict()}))
    back = ReliabilityState(eta_0=0.5, alpha=0.3, n_groups=3)
    back.load_state_dict(read_extra_state(tmp_path)["lcpo"])
    assert torch.equal(back.eta, state.eta) and back.steps == 1


def test_legacy_tensor_state_still_loads(tmp_path):
    torch.save({"lcpo": {"eta": torch.tensor([0.8], dtype=torch.float64), "temperature": 1.0, "steps": 4}}, tmp_path / LEGACY_EXTRA_STATE_FILE)
    assert read_extra_state(tmp_path)["lcpo"]["steps"] == 4


def test_corrupt_json_state_is_one_line(tmp_path):
    (tmp_path / EXTRA_STATE_FILE).write_bytes(b"\xff\xfe{not json")
    with pytest.raises(UserError) as err:
        read_extra_state(tmp_path)
    assert len(str(err.value).splitlines()) == 1 and EXTRA_STATE_FILE in str(err.value)
