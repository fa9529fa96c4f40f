"""The training run directory contract: what every run writes next to its checkpoints.

    <output_dir>/resolved_recipe.yaml   the recipe after overrides and hardware resolution
    <output_dir>/run_info.json          seed, package versions, git commit, command line, hardware
    <output_dir>/metrics.jsonl          one JSON object per logging step (see callbacks.py)
    <output_dir>/checkpoint-N/          Trainer checkpoints; complete ones carry COMPLETE_MARKER
    <output_dir>/                       the final model or adapter + tokenizer (HF format)

Why a completion marker instead of trusting `checkpoint-*` folders: the Trainer writes a
checkpoint file by file, so a run killed mid-save leaves a folder that looks like the newest
checkpoint but lacks the optimizer or RNG state. `--resume` only considers checkpoints whose
marker was written (atomically, after every rank finished saving).
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import yaml

from robalign.atomic import atomic_write_json, atomic_write_text

COMPLETE_MARKER = "robalign_checkpoint.json"
_CKPT = re.compile(r"^checkpoint-(\d+)$")
PACKAGES = ["robalign", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "deepspeed", "tokenizers"]


def write_resolved_recipe(out_dir: str | Path, resolved: dict) -> Path:
    return atomic_write_text(Path(out_dir) / "resolved_recipe.yaml", yaml.safe_dump(resolved, sort_keys=False))


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def run_info(seed: int, hardware, world_size: int, argv: list[str] | None = None) -> dict:
    import torch

    return {
        "seed": seed,
        "command": " ".join([Path(sys.executable).name, *(argv if argv is not None else sys.argv)]),
        "git_commit": _git_commit(),
        "versions": _versions(),
        "python": platform.python_version(),
        "hardware": {
            "cuda": hardware.cuda,
            "bf16_supported": hardware.bf16_supported,
            "cpu_fast_bf16": hardware.cpu_fast_bf16,
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "gpus": torch.cuda.device_count() if hardware.cuda else 0,
            "world_size": world_size,
            "platform": platform.platform(),
        },
    }


def write_run_info(out_dir: str | Path, info: dict) -> Path:
    return atomic_write_json(Path(out_dir) / "run_info.json", info)


def mark_complete(checkpoint_dir: str | Path, step: int, extra: dict | None = None) -> Path:
    return atomic_write_json(Path(checkpoint_dir) / COMPLETE_MARKER, {"global_step": step, **(extra or {})})


def complete_checkpoints(out_dir: str | Path) -> list[Path]:
    """`checkpoint-N` folders whose completion marker exists, newest first."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    found = []
    for p in out_dir.iterdir():
        m = _CKPT.match(p.name)
        if m and p.is_dir() and (p / COMPLETE_MARKER).is_file():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found, reverse=True)]


def last_complete_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest `checkpoint-N` folder whose completion marker exists (None if there is none)."""
    found = complete_checkpoints(out_dir)
    return found[0] if found else None


def checkpoint_damage(checkpoint_dir: str | Path) -> str | None:
    """Why a complete-marked checkpoint cannot be loaded (None if its files look whole).

    Cheap, structural checks only (a disk that filled up, a file cut or overwritten after the
    save): every safetensors file's header parses and its tensors fit in the file; every torch
    file (optimizer, scheduler, RNG state) is an intact zip archive."""
    import struct
    import zipfile

    from robalign.models.fingerprint import safetensors_header

    folder = Path(checkpoint_dir)
    for f in sorted(folder.glob("*.safetensors")):
        try:
            header, start = safetensors_header(f)
            end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        except json.JSONDecodeError as err:
            return f"{f.name}: unreadable ({type(err).__name__})"
        except ValueError as err:  # the header reader's own finding, e.g. a header longer than the file
            return f"{f.name}: {err}"
        except (OSError, KeyError, TypeError, struct.error) as err:
            return f"{f.name}: unreadable ({type(err).__name__})"
        size = f.stat().st_size
        if start + end > size:
            return f"{f.name}: cut short ({size} bytes, {start + end} expected)"
    for f in sorted([*folder.glob("*.pt"), *folder.glob("*.pth")]):
        if not zipfile.is_zipfile(f):
            return f"{f.name}: not a complete torch file"
    return None


def read_marker(checkpoint_dir: str | Path) -> dict:
    return json.loads((Path(checkpoint_dir) / COMPLETE_MARKER).read_text())


# ----- claiming the folder: fresh, --resume or --overwrite ---------------------------------------
#: Settings a resumed run may change: how long it trains and how it logs and saves, never what it
#: optimises. Everything else must equal the checkpoint's run (a changed loss would train a hybrid).
MAY_CHANGE_ON_RESUME = (
    "training.max_steps", "training.num_train_epochs", "training.save_steps", "training.save_total_limit",
    "training.logging_steps", "training.eval_steps", "training.report_to", "training.logging_dir", "training.run_name",
    "training.disable_tqdm", "training.dataloader_num_workers", "training.per_device_eval_batch_size", "training.output_dir",
    "launch.",
)
RUN_FILES = ("resolved_recipe.yaml", "run_info.json", "metrics.jsonl")


@dataclass
class RunDirClaim:
    resume_from: Path | None = None  # the checkpoint to resume from
    clear: bool = False  # --overwrite: empty the folder (under the run's lock) before writing
    fresh_dir: bool = False  # the folder was missing or empty: a failed start leaves it as it was
    finished: int | None = None  # --resume of a finished run: its final step, nothing to do
    damaged: list[Path] = field(default_factory=list)  # newer checkpoints to set aside (renamed *.damaged) before resuming


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def resume_mismatch(saved: dict, now: dict) -> tuple[str, object, object] | None:
    """The first setting (dotted key, saved value, new value) that differs and may not change on resume."""
    a, b = _flat(saved), _flat(now)
    for key in sorted(set(a) | set(b)):
        if key.startswith(MAY_CHANGE_ON_RESUME):
            continue
        if a.get(key) != b.get(key):
            return key, a.get(key, "<unset>"), b.get(key, "<unset>")
    return None


def is_run_dir(path: Path) -> bool:
    return any((path / f).exists() for f in RUN_FILES) or any(_CKPT.match(p.name) for p in path.iterdir())


def claim_run_dir(out: Path, resolved: dict, source: str, *, resume: bool, overwrite: bool, check_recipe: bool = True) -> RunDirClaim:
    """Decide what a run may do with `out`; refuse (one line) what would lose or mix up work.

    - fresh: the folder is missing or empty;
    - `--resume`: a complete checkpoint exists and the recipe equals the checkpoint run's in all but
      MAY_CHANGE_ON_RESUME; a run that already finished is reported, not redone;
    - `--overwrite`: the folder holds an earlier robalign run, which is deleted. A folder holding
      anything else is never emptied, even with --overwrite (it may be a user's home).
    """
    from robalign.errors import UserError
    from robalign.outputs import check_output_dir, is_empty_dir

    what = f"{source}: training.output_dir"
    check_output_dir(out, what)
    if resume and overwrite:
        raise UserError(f"{source}: --resume and --overwrite contradict each other; choose one")
    ckpt = last_complete_checkpoint(out)
    if resume:
        if ckpt is None:
            raise UserError(f"{source}: --resume: no complete checkpoint in {out} (drop --resume to start fresh)")
        ckpt, damaged = _first_intact(out, source)
        saved_path = out / "resolved_recipe.yaml"
        if not check_recipe:
            return RunDirClaim(resume_from=ckpt, damaged=damaged)
        if saved_path.is_file():
            saved = yaml.safe_load(saved_path.read_text(encoding="utf-8")) or {}
            diff = resume_mismatch(saved, resolved)
            if diff:
                key, was, now = diff
                raise UserError(f"{source}: --resume: {key} is {now!r} but the checkpoint's run used {was!r}; resume with the same "
                                "recipe (only max_steps, epochs, logging and saving may change) or start a new run elsewhere")
        info = _read_json(out / "run_info.json")
        done = (info or {}).get("finished_at_step")
        step = int(read_marker(ckpt).get("global_step", -1))
        if done is not None and int(done) == step and _no_more_steps(resolved, saved if saved_path.is_file() else {}, step):
            return RunDirClaim(finished=step)
        return RunDirClaim(resume_from=ckpt, damaged=damaged)
    if is_empty_dir(out):
        return RunDirClaim(fresh_dir=True)
    if not overwrite:
        if ckpt is not None:
            raise UserError(f"{what}: {out} already holds checkpoints ({ckpt.name}); pass --resume to continue that run, "
                            "--overwrite to replace it, or choose another training.output_dir")
        if is_run_dir(out):
            raise UserError(f"{what}: {out} already holds a training run; pass --overwrite to replace it, or choose another training.output_dir")
    if not is_run_dir(out):
        why = "; --overwrite only replaces an earlier robalign run" if overwrite else ""
        raise UserError(f"{what}: {out} holds files robalign did not write{why}: choose an empty or new training.output_dir")
    return RunDirClaim(clear=True)


def _first_intact(out: Path, source: str) -> tuple[Path, list[Path]]:
    """The newest complete checkpoint whose files are whole; a damaged newer one is skipped with a
    warning (its folder is kept for inspection), and none intact is a one-line error."""
    import sys

    from robalign.errors import UserError

    damaged = []
    for ckpt in complete_checkpoints(out):
        why = checkpoint_damage(ckpt)
        if why is None:
            for bad, reason in damaged:
                print(f"warning: {bad} is damaged ({reason}); resuming from {ckpt.name} instead", file=sys.stderr)
            return ckpt, [bad for bad, _ in damaged]
        damaged.append((ckpt, why))
    bad, reason = damaged[0]
    raise UserError(f"{source}: --resume: {bad} is damaged ({reason}) and no earlier complete checkpoint is intact; "
                    "start a new run (--overwrite)")


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _no_more_steps(resolved: dict, saved: dict, step: int) -> bool:
    """True when the recipe asks for no step beyond `step` (max_steps, or unchanged epochs)."""
    now, before = resolved.get("training", {}), saved.get("training", {})
    max_steps = now.get("max_steps", -1)
    if isinstance(max_steps, int) and max_steps > 0:
        return max_steps <= step
    return now.get("num_train_epochs") == before.get("num_train_epochs")


def mark_finished(out_dir: str | Path, step: int) -> None:
    """Record in run_info.json that the run ended normally (final model saved) at `step`."""
    path = Path(out_dir) / "run_info.json"
    info = _read_json(path) or {}
    info["finished_at_step"] = step
    write_run_info(out_dir, info)
