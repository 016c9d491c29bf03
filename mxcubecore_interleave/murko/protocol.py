"""Murko's wire format: the request every server version accepts, and a guarded reading of replies.

Murko (M. Savko, SOLEIL) speaks pickle over ZeroMQ REQ/REP. Unpickling is code execution, so
replies go through :func:`murko.unpickle.safe_loads`, which can only build plain data (the numpy
types real replies contain, recorded from the ``main`` server and SOLEIL's 2026 ``predictor.py``). Reply checks
follow what the real servers send on success and on failure: ``{}``, ``{"original_image_shape":
…}`` without descriptions, ``descriptions: None``, a raw list when no notions were asked for,
an int64 ``[-1, -1]`` (``main``) or a tuple ``(-1, -1)`` (SOLEIL) click when nothing was found,
and tiny negative extreme points (``[-1/Hp, -1/Wp]``).

Pure: no zmq, no mxcubecore. Coordinates are Murko's: (row, column) fractions of the picture.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mxcubecore_interleave.errors import MurkoProtocolError
from mxcubecore_interleave.murko.unpickle import safe_loads

__all__ = ["NOTIONS", "Description", "build_request", "check_reply", "parse_description", "parse_reply", "safe_loads"]

NOTIONS: list[str | list[str]] = [
    "foreground",
    "crystal",
    "loop_inside",
    "loop",
    ["crystal", "loop"],
    ["crystal", "loop", "stem"],
]
"""The notion list the server's ``get_descriptions`` needs: fewer and it fails with KeyError."""

DEFAULT_PORT = 8901
"""The ``main`` server's default port (8099 in its README is outdated)."""

DEFAULT_MIN_SIZE = 64
PREDICTION_SHAPE = (256, 320)
"""The server's default model input (rows, columns); masks come back at this size."""

MIN_GRID = 8
"""Smallest prediction grid side accepted (Murko's is 256 x 320; a 1 x 1 or 0 x 0 "mask" is nonsense)."""


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """RGB (H, W, 3) uint8 to JPEG bytes (Murko decodes to RGB)."""
    from PIL import Image

    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"Murko needs RGB uint8 pictures (H, W, 3), got {array.dtype} {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="JPEG", quality=int(quality))
    return buffer.getvalue()


def build_request(jpegs: Sequence[bytes], min_size: int = DEFAULT_MIN_SIZE) -> dict[str, Any]:
    """One request for all views: JPEGs as 1-D uint8 arrays, the form every server accepts.

    (A list of raw ``bytes`` makes ``main`` reply ``{}`` and kills SOLEIL's server.)
    ``save`` is False: True would make the *server* write PNGs on its own disk.
    """
    if not jpegs:
        raise ValueError("a Murko request needs at least one picture")
    return {
        "to_predict": [np.frombuffer(j, dtype=np.uint8) for j in jpegs],
        "description": NOTIONS,
        "min_size": int(min_size),
        "save": False,
        "raw_predictions": False,
    }


@dataclass(frozen=True)
class Description:
    """The part of one per-picture description a centring uses, in the server's picture frame.

    Points are (row, column) fractions, ``None`` when absent. ``mask`` is the foreground
    ``notion_mask`` on the prediction grid (all False when nothing was found).
    """

    present: bool
    click: tuple[float, float] | None
    extreme: tuple[float, float] | None
    aoi_bbox: tuple[float, float, float, float] | None
    """(row, column) centroid and (height, width) of crystal ∪ loop, fractions."""
    mask: np.ndarray
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


def brief(value: Any) -> str:
    """A reply value for a message without ``repr``: up to 4 numbers, else its type's name."""
    if value is None:
        return "None"
    if isinstance(value, (tuple, list, np.ndarray)) and len(value) <= 4:
        try:
            numbers = [float(v) for v in np.asarray(value, dtype=float).reshape(-1)]
        except (TypeError, ValueError):
            numbers = None
        if numbers is not None and len(numbers) == len(value):
            return "(" + ", ".join(f"{v:g}" for v in numbers) + ")"
    return f"a {type(value).__name__}"


def check_reply(reply: Any, n_images: int) -> list[dict[str, Any]]:
    """The reply's descriptions, or a :class:`MurkoProtocolError` saying what the server sent."""
    if isinstance(reply, list):
        raise MurkoProtocolError(
            "Murko sent raw model output (a list) instead of descriptions: the request's "
            "'description' did not reach it (client/server version mismatch?)"
        )
    if not isinstance(reply, dict):
        raise MurkoProtocolError(f"the Murko reply is a {type(reply).__name__}, not a dict")
    if not reply:
        raise MurkoProtocolError(
            "Murko replied {}: it could not decode the pictures (see the Murko server's log)"
        )
    descriptions = reply.get("descriptions")
    if descriptions is None:
        shape = brief(reply.get("original_image_shape"))
        raise MurkoProtocolError(
            f"Murko replied without descriptions (original_image_shape={shape}): it failed "
            "after decoding the pictures (see the Murko server's log)"
        )
    if not isinstance(descriptions, list):
        raise MurkoProtocolError(f"Murko's 'descriptions' is a {type(descriptions).__name__}, not a list")
    if len(descriptions) != n_images:
        raise MurkoProtocolError(f"Murko described {len(descriptions)} pictures; {n_images} were sent")
    for k, description in enumerate(descriptions):
        if not isinstance(description, dict):
            raise MurkoProtocolError(f"Murko's description of picture {k} is a {type(description).__name__}, not a dict")
    return descriptions


def _point(value: Any) -> tuple[float, float] | None:
    """A (row, col) fraction, or None for every "not found" spelling: [-1,-1], tiny negatives, NaN."""
    try:
        array = np.asarray(value, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        return None
    if array.size != 2 or not np.all(np.isfinite(array)) or np.any(array < 0):
        return None
    return float(array[0]), float(array[1])


def _bbox(value: Any) -> tuple[float, float, float, float] | None:
    try:
        present, r, c, h, w = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if not present or not all(math.isfinite(v) for v in (r, c, h, w)):
        return None
    return r, c, h, w


def _grid(value: Any, index: int, what: str) -> tuple[int, int]:
    """A (rows, columns) prediction grid of at least :data:`MIN_GRID` each, or a protocol error."""
    try:
        rows, cols = (int(v) for v in np.asarray(value, dtype=float).reshape(2))
    except (TypeError, ValueError):
        raise MurkoProtocolError(f"Murko's {what} of picture {index} is {brief(value)}, not (rows, columns)") from None
    if rows < MIN_GRID or cols < MIN_GRID:
        raise MurkoProtocolError(
            f"Murko's {what} of picture {index} is {rows} x {cols}; a prediction grid is at least "
            f"{MIN_GRID} x {MIN_GRID} (Murko's is {PREDICTION_SHAPE[0]} x {PREDICTION_SHAPE[1]})"
        )
    return rows, cols


def parse_description(description: dict[str, Any], index: int = 0) -> Description:
    """Read one description; ``present`` only if Murko says so *and* the click is a real point.

    The foreground mask must be a 2-D numeric array of the description's ``prediction_shape``
    (when it gives one), at least :data:`MIN_GRID` on each side: anything else is nonsense.
    """
    if "present" not in description or "most_likely_click" not in description:
        missing = "present" if "present" not in description else "most_likely_click"
        raise MurkoProtocolError(f"Murko's description of picture {index} has no {missing!r}")
    present_value = description["present"]
    if not isinstance(present_value, (bool, int, np.integer, np.bool_)) or int(present_value) not in (0, 1):
        raise MurkoProtocolError(f"Murko's description of picture {index} has 'present' = {brief(present_value)}, not 0 or 1")
    present = bool(present_value)
    click = _point(description["most_likely_click"])
    foreground = description.get("foreground")
    mask_value = foreground.get("notion_mask") if isinstance(foreground, dict) else None
    declared = description.get("prediction_shape")
    grid = _grid(declared, index, "prediction_shape") if declared is not None else None
    if mask_value is None:
        mask = np.zeros(grid or PREDICTION_SHAPE, dtype=bool)
    else:
        if not isinstance(mask_value, np.ndarray) or mask_value.ndim != 2:
            kind = f"{mask_value.ndim}-D array" if isinstance(mask_value, np.ndarray) else brief(mask_value)
            raise MurkoProtocolError(f"Murko's foreground mask of picture {index} is {kind}, not a 2-D array")
        _grid(mask_value.shape, index, "foreground mask")
        if grid is not None and tuple(mask_value.shape) != grid:
            raise MurkoProtocolError(
                f"Murko's foreground mask of picture {index} is {mask_value.shape[0]} x {mask_value.shape[1]}, "
                f"but its prediction_shape is {grid[0]} x {grid[1]}"
            )
        mask = mask_value.astype(bool)
    found = present and click is not None
    return Description(
        present=found,
        click=click if found else None,
        extreme=_point(description.get("extreme")) if found else None,
        aoi_bbox=_bbox(description.get("aoi_bbox")) if found else None,
        mask=mask,
        raw=description,
    )


def parse_reply(reply: Any, n_images: int) -> list[Description]:
    """Check a whole reply and read every description."""
    return [parse_description(d, k) for k, d in enumerate(check_reply(reply, n_images))]
