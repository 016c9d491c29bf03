"""Turning pictures so Murko sees the sample the way it was trained, and turning its answers back.

Murko's ``main`` server takes the end with the smaller column as the sample tip (tip left, pin
from the right); SOLEIL's 2026 server takes the smaller row (tip up). A camera that shows the
tip elsewhere must be mirrored or rotated before sending, and the returned points and masks
mapped back, or "extreme"/"end_likely" swap meaning.

Points are (row, column) *positions* in [0, 1] of the picture's extent: pixel ``i`` of ``n``
covers ``[i, i + 1) / n`` and its centre is at ``(i + 0.5) / n``. On positions a mirror is exactly
``1 - p`` and a rotation swaps and mirrors. Murko's own "frac" is not a position: it is a
prediction-pixel index divided by the grid size (``i / n``, murko.md §1.3), so it is half a
prediction pixel short of the position; :func:`position_from_fraction` and
:func:`fraction_from_position` convert, :func:`pixel_from_position` gives camera pixels in the
convention of mxcubecore's beam mark (pixel ``k``'s centre at ``k``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TIP_DIRECTIONS = ("left", "right", "up", "down")

ORIENTATION_ALIASES = {
    "horizontal": "left",
    "horizontal_flipped": "right",
    "vertical_up": "up",
    "vertical_down": "down",
}
"""Names used in configuration files for "where the tip points in the camera picture"."""


AXIS_ORIENTATIONS = {"left": "horizontal", "right": "horizontal", "up": "vertical", "down": "vertical"}
"""The rotation axis runs along the sample, so the tip direction gives the axis' direction."""


def axis_orientation(name: str) -> str:
    """``"horizontal"`` (axis along the picture's rows) or ``"vertical"`` (along its columns)."""
    return AXIS_ORIENTATIONS[tip_direction(name)]


def position_from_fraction(frac: tuple[float, float], grid: tuple[int, int]) -> tuple[float, float]:
    """Murko's fraction (prediction-pixel index / grid size) as a position: ``f + 0.5 / n``."""
    return float(frac[0]) + 0.5 / grid[0], float(frac[1]) + 0.5 / grid[1]


def fraction_from_position(position: tuple[float, float], grid: tuple[int, int]) -> tuple[float, float]:
    """The inverse of :func:`position_from_fraction`."""
    return float(position[0]) - 0.5 / grid[0], float(position[1]) - 0.5 / grid[1]


def pixel_from_position(position: tuple[float, float], shape: tuple[int, int]) -> tuple[float, float]:
    """Camera pixels (row, column) with pixel ``k``'s centre at ``k``: ``p * size - 0.5``."""
    return float(position[0]) * shape[0] - 0.5, float(position[1]) * shape[1] - 0.5


def tip_direction(name: str) -> str:
    """A configured orientation name or a direction, as a direction."""
    direction = ORIENTATION_ALIASES.get(name, name)
    if direction not in TIP_DIRECTIONS:
        allowed = ", ".join([*ORIENTATION_ALIASES, *TIP_DIRECTIONS])
        raise ValueError(f"unknown sample orientation {name!r}; use one of {allowed}")
    return direction


# one elementary operation: its effect on a tip direction, on an array, and on a point
_OPS = {
    "flip_lr": {"left": "right", "right": "left", "up": "up", "down": "down"},
    "flip_ud": {"left": "left", "right": "right", "up": "down", "down": "up"},
    "rot_ccw": {"left": "down", "down": "right", "right": "up", "up": "left"},
    "rot_cw": {"left": "up", "up": "right", "right": "down", "down": "left"},
}
_INVERSE = {"flip_lr": "flip_lr", "flip_ud": "flip_ud", "rot_ccw": "rot_cw", "rot_cw": "rot_ccw"}


def _apply_array(op: str, array: np.ndarray) -> np.ndarray:
    if op == "flip_lr":
        return array[:, ::-1]
    if op == "flip_ud":
        return array[::-1]
    return np.rot90(array, k=1 if op == "rot_ccw" else -1, axes=(0, 1))


def _apply_point(op: str, point: tuple[float, float]) -> tuple[float, float]:
    r, c = point
    if op == "flip_lr":
        return r, 1.0 - c
    if op == "flip_ud":
        return 1.0 - r, c
    if op == "rot_ccw":  # the top row becomes the left column
        return 1.0 - c, r
    return c, 1.0 - r


@dataclass(frozen=True)
class Orientation:
    """The map from the camera's picture to the picture the server expects (and back)."""

    camera_tip: str = "left"
    server_tip: str = "left"

    def __post_init__(self) -> None:
        object.__setattr__(self, "camera_tip", tip_direction(self.camera_tip))
        object.__setattr__(self, "server_tip", tip_direction(self.server_tip))

    @property
    def ops(self) -> tuple[str, ...]:
        """Mirror when the two directions are opposite (keeps the other axis), else rotate."""
        if self.camera_tip == self.server_tip:
            return ()
        for op in ("flip_lr", "flip_ud", "rot_ccw", "rot_cw"):
            if _OPS[op][self.camera_tip] == self.server_tip:
                return (op,)
        raise AssertionError("unreachable: one operation maps any direction to any other")

    @property
    def is_identity(self) -> bool:
        return not self.ops

    def to_server(self, image: np.ndarray) -> np.ndarray:
        out = np.asarray(image)
        for op in self.ops:
            out = _apply_array(op, out)
        return np.ascontiguousarray(out)

    def mask_from_server(self, mask: np.ndarray) -> np.ndarray:
        out = np.asarray(mask)
        for op in reversed(self.ops):
            out = _apply_array(_INVERSE[op], out)
        return np.ascontiguousarray(out)

    def shape_from_server(self, shape: tuple[int, int]) -> tuple[int, int]:
        """The camera-frame (rows, columns) of a server-frame picture or grid of ``shape``."""
        rotated = any(op.startswith("rot") for op in self.ops)
        return (int(shape[1]), int(shape[0])) if rotated else (int(shape[0]), int(shape[1]))

    def point_from_server(self, point: tuple[float, float] | None) -> tuple[float, float] | None:
        """A *position* (see the module docstring) in the server's picture, in the camera's."""
        if point is None:
            return None
        out = (float(point[0]), float(point[1]))
        for op in reversed(self.ops):
            out = _apply_point(_INVERSE[op], out)
        return out
