"""Atomic file writes: a reader never sees a half-written file, an error never leaves one behind.

The file is written under a temporary name in the target directory (same file system, so the
final ``os.replace`` is atomic), fsynced, made world-readable (``mkstemp`` creates 0600, which
hides files from processing users) and renamed.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import OverwriteRefusedError

FILE_MODE = 0o644


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
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
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


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> Path:
    with atomic_output(target, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def atomic_write_json(target: str | os.PathLike[str], obj: Any, *, overwrite: bool = True) -> Path:
    text = json.dumps(obj, indent=1, sort_keys=False, allow_nan=False) + "\n"
    return atomic_write_bytes(target, text.encode("utf-8"), overwrite=overwrite)
