"""Atomic file writes: a reader never sees a half-written file, an error never leaves one behind.

The file is written under a temporary name in the target directory (same file system, so the
final ``os.replace`` is atomic), fsynced, made world-readable (``mkstemp`` creates 0600, which
hides files from processing users) and renamed. ``StagedFiles`` does the same for several files
that must appear together or not at all.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import OverwriteRefusedError

FILE_MODE = 0o644


def _temporary(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    return Path(tmp_name)


def remove_stale_temporaries(targets: list[Path], before: float | None = None) -> list[Path]:
    """Remove the temporary files (``_temporary``'s naming) that a killed run left next to
    ``targets``: only ours, only older than ``before`` (default: now), never another live run's
    newer ones. Returns what was removed."""
    before = time.time() if before is None else before
    removed = []
    for target in targets:
        target = Path(target)
        if not target.parent.is_dir():
            continue
        for tmp in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
            with contextlib.suppress(OSError):
                if tmp.stat().st_mtime < before:
                    tmp.unlink()
                    removed.append(tmp)
    return removed


def fsync_path(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it becomes ``target``.

    With ``overwrite=False`` an existing target is refused before and after writing (another
    writer may have created it meanwhile); the temporary file is removed on any exception.
    """
    target = Path(target)
    if not overwrite and target.exists():
        raise OverwriteRefusedError(f"{target} already exists; refusing to overwrite it")
    tmp = _temporary(target)
    try:
        yield tmp
        fsync_path(tmp)
        os.chmod(tmp, FILE_MODE)
        if overwrite:
            os.replace(tmp, target)
        else:
            # link() fails if the target appeared meanwhile: no race can make us overwrite it
            try:
                os.link(tmp, target)
            except FileExistsError as exc:
                raise OverwriteRefusedError(
                    f"{target} already exists; refusing to overwrite it"
                ) from exc
            tmp.unlink()
        with contextlib.suppress(OSError):
            fsync_path(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


class StagedFiles:
    """Several files that appear together, or not at all.

    ``stage(target)`` gives a temporary path next to each target. ``commit()`` fsyncs every
    temporary file and makes it 0644 first, and only then renames them all into place. Leaving
    the ``with`` block by an exception (or calling ``abort()``) removes every temporary file and
    touches no target. A refusal therefore never leaves some targets new and others old; only an
    operating-system failure between two renames (disk gone, permission changed) could.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []

    def __enter__(self) -> "StagedFiles":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.abort()  # after commit() nothing is left to remove

    def stage(self, target: str | os.PathLike[str]) -> Path:
        target = Path(target)
        if any(t == target for _tmp, t in self._staged):
            raise ValueError(f"{target} is staged twice")
        tmp = _temporary(target)
        self._staged.append((tmp, target))
        return tmp

    def discard(self, tmp: Path) -> None:
        """Drop one staged file (its target stays as it is)."""
        self._staged = [(t, g) for t, g in self._staged if t != tmp]
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()

    def commit(self) -> dict[Path, os.stat_result]:
        """Rename every staged file to its target; returns each target's stat as validated
        (the same inode, size and mtime must be found under the target's name)."""
        stats = {}
        for tmp, target in self._staged:
            fsync_path(tmp)
            os.chmod(tmp, FILE_MODE)
            stats[target] = os.stat(tmp)
        staged, self._staged = self._staged, []
        for i, (tmp, target) in enumerate(staged):
            try:
                os.replace(tmp, target)
            except BaseException:
                self._staged = staged[i:]  # removed by abort()
                raise
        for d in {target.parent for _tmp, target in staged}:
            with contextlib.suppress(OSError):
                fsync_path(d)
        return stats

    def abort(self) -> None:
        for tmp, _target in self._staged:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self._staged = []


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> Path:
    with atomic_output(target, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def atomic_write_json(target: str | os.PathLike[str], obj: Any, *, overwrite: bool = True) -> Path:
    text = json.dumps(obj, indent=1, sort_keys=False, allow_nan=False) + "\n"
    return atomic_write_bytes(target, text.encode("utf-8"), overwrite=overwrite)
