"""Output folders a command may write: never over someone else's work, never two writers at once.

Rule (every verb that writes a folder): a folder that holds something robalign did not just make
is refused with one line unless the user says ``--overwrite``. What counts as "ours" is decided by
the verb (a resumable run, the same tournament re-run); this module gives the shared checks:

- :func:`check_output_dir` — the path is a folder we may create or write (not a file, writable);
- :func:`is_empty_dir` — nothing in it but robalign's own lock file;
- :class:`DirLock` — an exclusive ``flock`` on ``<dir>/.robalign.lock`` while a writer runs, so a
  second run into the same folder fails at once instead of interleaving files. The kernel drops
  the lock when the process dies, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from robalign.errors import UserError

LOCK_FILE = ".robalign.lock"


def check_output_dir(path: str | os.PathLike, what: str) -> Path:
    """Raise a one-line UserError unless `path` can be (or is) a folder we can write."""
    if str(path).strip() == "":
        raise UserError(f"{what}: the output folder is empty (''); expected a folder path")
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"{what}: {p} is a file; expected a folder (or a path that does not exist yet)")
    parent = p if p.exists() else next((q for q in p.absolute().parents if q.exists()), None)
    if parent is None or not parent.is_dir():
        raise UserError(f"{what}: cannot create {p}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{what}: cannot write {p}: {parent} is not writable")
    return p


def check_output_file(path: str | os.PathLike, what: str) -> Path:
    """Raise a one-line UserError unless `path` can be written as a file."""
    if str(path).strip() == "":
        raise UserError(f"{what}: the output path is empty (''); expected a file path")
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{what}: {p} is a folder; expected a file path")
    parent = next((q for q in p.absolute().parents if q.exists()), None)
    if parent is None or not parent.is_dir():
        raise UserError(f"{what}: cannot create {p}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UserError(f"{what}: cannot write {p}: permission denied")
    return p


def is_empty_dir(path: Path) -> bool:
    """True for a missing folder or one holding nothing but robalign's lock file."""
    return not path.exists() or all(child.name == LOCK_FILE for child in path.iterdir())


def refuse_unless_overwrite(path: Path, what: str, holds: str, overwrite: bool, hint: str = "") -> None:
    """The one-line refusal for a folder that holds something else."""
    if not overwrite:
        raise UserError(f"{what}: {path} already holds {holds}; pass --overwrite to replace it"
                        + (f", {hint}" if hint else "") + ", or choose another folder")


def clear_dir(path: Path, keep: str | None = None) -> None:
    """Empty `path` (used after --overwrite), keeping the folder, its lock file and the child named `keep`."""
    for child in path.iterdir():
        if child.name in (LOCK_FILE, keep):
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


class DirLock:
    """Exclusive, non-blocking lock on a folder for the life of one writer."""

    def __init__(self, folder: str | os.PathLike, what: str):
        self.folder, self.what, self._fd = Path(folder), what, None

    def __enter__(self) -> "DirLock":
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise UserError(f"{self.what}: {self.folder} is being written by another run (pid {other}); "
                            "wait for it to finish, or choose another folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        import fcntl

        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
