"""Murko's wire format: the request every server version accepts, and a guarded reading of replies.

Murko (M. Savko, SOLEIL) speaks pickle over ZeroMQ REQ/REP. Unpickling is code execution, so
replies go through :class:`RestrictedUnpickler`, which builds only the numpy types real replies
contain (recorded from the ``main`` server and SOLEIL's 2026 ``predictor.py``). Reply checks
follow what the real servers send on success and on failure: ``{}``, ``{"original_image_shape":
…}`` without descriptions, ``descriptions: None``, a raw list when no notions were asked for,
an int64 ``[-1, -1]`` (``main``) or a tuple ``(-1, -1)`` (SOLEIL) click when nothing was found,
and tiny negative extreme points (``[-1/Hp, -1/Wp]``).

Pure: no zmq, no mxcubecore. Coordinates are Murko's: (row, column) fractions of the picture.
"""

from __future__ import annotations

import importlib
import io
import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mxcubecore_interleave.errors import MurkoProtocolError, UnsafeReplyError

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

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    # pickle protocol 5 (a server that dumps with protocol=5): arrays come as
    # _frombuffer(buffer, dtype, shape, order), i.e. np.frombuffer(...).reshape(...). It only
    # reinterprets bytes that are in the pickle; object dtypes are refused by np.frombuffer.
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


def _numpy_core(submodule: str) -> Any:
    """numpy's ``multiarray``/``numeric``: ``numpy._core`` on numpy 2, ``numpy.core`` on numpy 1."""
    try:
        return importlib.import_module(f"numpy._core.{submodule}")
    except ImportError:
        return importlib.import_module(f"numpy.core.{submodule}")


class RestrictedUnpickler(pickle.Unpickler):
    """Builds plain containers and numpy arrays; refuses every other global (no code runs)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafeReplyError(
                f"the Murko reply asks to load {module}.{name}, which a Murko reply never contains; "
                "refused without running it (is something else listening on the Murko port?)"
            )
        if module.endswith(".multiarray"):
            return getattr(_numpy_core("multiarray"), name)
        if module.endswith(".numeric"):
            return getattr(_numpy_core("numeric"), name)
        return getattr(np, name)


def safe_loads(data: bytes) -> Any:
    """Unpickle a reply with :class:`RestrictedUnpickler`; any decoding failure is a protocol error."""
    try:
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except UnsafeReplyError:
        raise
    except Exception as exc:  # truncated or foreign bytes: pickle raises many types
        raise MurkoProtocolError(f"the Murko reply is not a readable pickle ({type(exc).__name__}: {exc})") from exc


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
        shape = reply.get("original_image_shape")
        raise MurkoProtocolError(
            f"Murko replied without descriptions (original_image_shape={shape!r}): it failed "
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


def parse_description(description: dict[str, Any], index: int = 0) -> Description:
    """Read one description; ``present`` only if Murko says so *and* the click is a real point."""
    try:
        present = bool(int(description["present"]))
        click_value = description["most_likely_click"]
    except KeyError as exc:
        raise MurkoProtocolError(f"Murko's description of picture {index} has no {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        raise MurkoProtocolError(f"Murko's description of picture {index} has an unreadable 'present': {exc}") from exc
    click = _point(click_value)
    foreground = description.get("foreground")
    mask_value = foreground.get("notion_mask") if isinstance(foreground, dict) else None
    if mask_value is None:
        shape = description.get("prediction_shape", PREDICTION_SHAPE)
        try:
            mask = np.zeros(tuple(int(v) for v in np.asarray(shape).reshape(2)), dtype=bool)
        except (TypeError, ValueError) as exc:
            raise MurkoProtocolError(f"Murko's description of picture {index} has no usable foreground mask") from exc
    else:
        mask = np.asarray(mask_value).astype(bool)
        if mask.ndim != 2:
            raise MurkoProtocolError(f"Murko's foreground mask of picture {index} is {mask.ndim}-D, not 2-D")
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
