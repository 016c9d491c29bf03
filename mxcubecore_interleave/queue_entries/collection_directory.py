"""Where an interleaved collection goes: its data directory (inside the session's) and its run number."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mxcubecore_interleave.errors import InterleaveError, UnsafePathError
from mxcubecore_interleave.paths import inside
from mxcubecore_interleave.record import RECORD_SUFFIX, AcquisitionRecord


def data_directory(directory: str, session: Any) -> Path:
    """The collection's directory, refused unless it is inside the session's data directory."""
    if not directory:
        raise UnsafePathError("the collection has no data directory")
    base = session.get_base_image_directory() if session is not None else None
    if base:
        try:
            inside(base, directory)
        except UnsafePathError:
            raise UnsafePathError(
                f"the data directory {directory} is outside the session's data directory {base}; "
                "choose a sub-directory of the session") from None
    return Path(directory)


def run_of(path: Path, prefix: str) -> int | None:
    m = re.match(rf"^{re.escape(prefix)}_(\d+){re.escape(RECORD_SUFFIX)}$", path.name)
    return int(m.group(1)) if m else None


def choose_run(directory: Path, prefix: str) -> tuple[int, bool]:
    """(run, unfinished): the latest run of ``prefix`` if its record is unfinished, else a new run.

    Whether an unfinished run is resumed depends on the task (``_choose_run``): the same
    settings resume it, other settings get the next run number.
    """
    runs = []
    if directory.is_dir():
        for p in directory.iterdir():
            r = run_of(p, prefix)
            if r is not None:
                runs.append(r)
    if not runs:
        return 1, False
    last = max(runs)
    try:
        rec = AcquisitionRecord.load(directory / f"{prefix}_{last}{RECORD_SUFFIX}")
    except InterleaveError:
        return last + 1, False
    if rec.status != "completed":
        return last, True
    return last + 1, False
