"""No run is overwritten without asking, no folder has two writers, a resume cannot train a hybrid.

Each refusal is one line, exit 2, and the folder's listing (names, sizes, mtimes) is unchanged.
"""

from __future__ import annotations

import json

import pytest

from robalign.outputs import LOCK_FILE, DirLock

RECIPE = """
model:
  model_name_or_path: {model}
data:
  train:
    path: {data}/prefs_uniform_0.3.jsonl
    max_samples: 16
method:
  name: preference
  loss_type: {loss}
  noise_model: lcpo
training:
  output_dir: {out}
  seed: 0
  learning_rate: 1.0e-3
  max_steps: 2
  per_device_train_batch_size: 8
  logging_steps: 1
  save_strategy: {save}
  save_steps: 2
  max_length: 48
  report_to: []
peft:
  r: 4
  lora_alpha: 8
  target_modules: all-linear
"""


def _recipe(tmp_path, test_model_dir, data_dir, name="r", loss="dpo", save="steps", out=None):
    out = out or tmp_path / "run"
    path = tmp_path / f"{name}.yaml"
    path.write_text(RECIPE.format(model=test_model_dir, data=data_dir, out=out, loss=loss, save=save))
    return path, out


def listing(folder):
    """Every file under `folder` with its size and mtime (the lock file aside)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK_FILE}


def _refused(capsys, argv, needle):
    from robalign.train import main

    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and needle in err, err
    return err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, test_model_dir, data_dir):
    """A finished 2-step LCPO-DPO LoRA run with a checkpoint at step 2."""
    from robalign.train import main

    tmp = tmp_path_factory.mktemp("finished")
    path, out = _recipe(tmp, test_model_dir, data_dir)
    assert main([str(path)]) == 0
    return path, out


def test_finished_run_is_not_overwritten(tmp_path, test_model_dir, data_dir, capsys):
    from robalign.train import main

    path, out = _recipe(tmp_path, test_model_dir, data_dir, save="'no'")
    assert main([str(path)]) == 0
    capsys.readouterr()
    before = listing(out)
    assert "metrics.jsonl" in before and not any(k.startswith("checkpoint-") for k in before)
    _refused(capsys, [str(path)], "already holds a training run; pass --overwrite")
    assert listing(out) == before
    assert main([str(path), "--overwrite"]) == 0
    assert set(listing(out)) == set(before)


def test_folder_of_other_files_is_never_emptied(tmp_path, test_model_dir, data_dir, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my thesis")
    path, _ = _recipe(tmp_path, test_model_dir, data_dir, out=out)
    _refused(capsys, [str(path)], "files robalign did not write")
    _refused(capsys, [str(path), "--overwrite"], "files robalign did not write")
    assert (out / "notes.txt").read_text() == "my thesis" and listing(out) == {"notes.txt": listing(out)["notes.txt"]}


def test_output_dir_that_is_a_file_or_empty(tmp_path, test_model_dir, data_dir, capsys):
    f = tmp_path / "afile"
    f.write_text("x")
    path, _ = _recipe(tmp_path, test_model_dir, data_dir, out=f)
    _refused(capsys, [str(path)], "is a file; expected a folder")
    path, _ = _recipe(tmp_path, test_model_dir, data_dir, out="''")
    _refused(capsys, [str(path)], "training.output_dir: expected a folder path")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "r.yaml"]


def test_second_writer_is_refused_while_a_run_holds_the_folder(finished_run, capsys):
    path, out = finished_run
    before = listing(out)
    with DirLock(out, "test"):
        _refused(capsys, [str(path), "--overwrite"], "is being written by another run")
    assert listing(out) == before


def test_resume_with_a_changed_recipe_is_refused(finished_run, capsys):
    path, out = finished_run
    before = listing(out)
    _refused(capsys, [str(path), "--resume", "--set", "method.loss_type=ipo"], "method.loss_type is 'ipo' but the checkpoint's run used 'dpo'")
    _refused(capsys, [str(path), "--resume", "--set", "training.learning_rate=0.1"], "training.learning_rate")
    assert listing(out) == before


def test_resume_of_a_finished_run_does_nothing(finished_run, capsys):
    from robalign.train import main

    path, out = finished_run
    before = listing(out)
    assert main([str(path), "--resume"]) == 0
    assert "already finished at step 2; nothing to do" in capsys.readouterr().out
    assert listing(out) == before
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]


def test_resume_may_extend_max_steps(finished_run, capsys, tmp_path):
    import shutil

    from robalign.train import main

    path, out = finished_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    moved = tmp_path / "moved.yaml"
    moved.write_text(path.read_text().replace(str(out), str(copy)))
    # output_dir differs from the checkpoint's own record only by where it lives: that is allowed too
    assert main([str(moved), "--resume", "--set", "training.max_steps=3"]) == 0
    rows = [json.loads(x) for x in (copy / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3]


def test_resume_skips_a_damaged_checkpoint(tmp_path, test_model_dir, data_dir, capsys):
    from robalign.train import main

    path, out = _recipe(tmp_path, test_model_dir, data_dir)
    assert main([str(path), "--set", "training.save_steps=1"]) == 0
    weights = out / "checkpoint-2" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a disk that filled up
    capsys.readouterr()
    assert main([str(path), "--set", "training.save_steps=1", "--set", "training.max_steps=3", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "checkpoint-2 is damaged (adapter_model.safetensors: cut short" in err and "resuming from checkpoint-1" in err
    assert (out / "checkpoint-2.damaged").is_dir() and (out / "checkpoint-3").is_dir()
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3]

    # nothing intact left: one line, nothing changed
    for ckpt in ("checkpoint-1", "checkpoint-2", "checkpoint-3"):
        if (out / ckpt).is_dir():
            (out / ckpt / "optimizer.pt").write_bytes(b"truncated")
    before = listing(out)
    _refused(capsys, [str(path), "--set", "training.save_steps=1", "--set", "training.max_steps=4", "--resume"],
             "optimizer.pt: not a complete torch file")
    assert listing(out) == before
