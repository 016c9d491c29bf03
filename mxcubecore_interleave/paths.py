"""User-supplied prefixes and sub-directories must stay inside the data directory."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import UnsafePathError

# What MXCuBE Web accepts for prefix/subdir, minus ':' and ' ' which break XDS templates.
# Matched with fullmatch: ``$`` alone would accept a trailing newline.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
MAX_NAME_LEN = 64  # prefix or sweep id; a file name adds ~30 characters and stays far below 255
MAX_SUBDIR_LEN = 255
MAX_SUBDIR_DEPTH = 8


def check_name(value: str, what: str = "prefix") -> str:
    """A file-name component: letters, digits and ``_ . + -``; no separators, no ``..``.

    ``ref`` is allowed: mxcubecore's ``QueueManager.last_queue_node`` takes a node whose
    ``get_name()`` contains "ref" for a characterisation reference, but the plugin's task nodes
    are named after the task, never the prefix (docs/interleaved-collection.md).
    """
    if not value:
        raise UnsafePathError(f"the {what} is empty")
    if len(value) > MAX_NAME_LEN:
        raise UnsafePathError(f"the {what} is {len(value)} characters long; the limit is {MAX_NAME_LEN}")
    if "/" in value or "\\" in value or os.sep in value:
        raise UnsafePathError(f"the {what} {value!r} contains a path separator; use a plain name")
    if ".." in value:
        raise UnsafePathError(f"the {what} {value!r} contains '..'; use a plain name")
    if not _NAME_RE.fullmatch(value):
        raise UnsafePathError(
            f"the {what} {value!r} may only contain letters, digits and '_', '.', '+', '-' "
            "and must start with a letter or digit"
        )
    return value


def check_subdir(value: str, what: str = "sub-directory") -> str:
    """A relative sub-directory made of safe names (``a/b`` is fine, ``../x`` or ``/x`` is not)."""
    if value in ("", "."):
        return ""
    if value.startswith(("/", "\\")):
        raise UnsafePathError(f"the {what} {value!r} is absolute; give a path inside the data directory")
    if len(value) > MAX_SUBDIR_LEN:
        raise UnsafePathError(f"the {what} is {len(value)} characters long; the limit is {MAX_SUBDIR_LEN}")
    parts = [part for part in value.replace("\\", "/").split("/") if part]
    if len(parts) > MAX_SUBDIR_DEPTH:
        raise UnsafePathError(f"the {what} is {len(parts)} levels deep; the limit is {MAX_SUBDIR_DEPTH}")
    for part in parts:
        try:
            check_name(part, "part")
        except UnsafePathError as exc:  # name the whole sub-directory, not only its bad part
            raise UnsafePathError(f"the {what} {value!r} is refused: {exc}") from None
    return value


def inside(base: str | os.PathLike[str], *parts: str) -> Path:
    """``base/parts…`` resolved, refused if it would leave ``base`` (``..``, absolute parts, links)."""
    root = Path(base).resolve()
    path = root.joinpath(*parts).resolve()
    if path != root and root not in path.parents:
        raise UnsafePathError(f"{path} is outside the data directory {root}")
    return path
