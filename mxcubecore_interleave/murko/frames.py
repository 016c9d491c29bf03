"""Between the hull's frame (x, u, v; murko.hull.Hull) and motor coordinates (phiy, sampx, sampy).

A point with hull coordinates (x, u, v) is centred by ``phiy = phiy0 + s_a (x - x_beam)``,
``sampx = sampx0 + s_x v``, ``sampy = sampy0 + s_y u`` (phiz at the centred value): ``u``/``v``
are its ``A``/``B`` in ``c + A cos w + B sin w`` (murko.md §2.3). That map swaps u and v, a
mirror whenever ``s_a s_x s_y = +1``; a mirror turns a mesh inside out, so :meth:`MotorFrame.mesh_to_motor`
re-winds the triangles whenever the map's determinant is negative, keeping them wound outwards
(positive volume) in the motor frame.

The masks are turned so that the rotation axis runs along their columns (a vertical axis'
masks are transposed), and mask pixels map to camera pixels with the same pixel rule as the
clicks (murko.solver.PIXEL_CONVENTIONS), so a voxel at a click is the point the moves centre.

Pure: numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mxcubecore_interleave.murko.solver import Geometry


@dataclass
class MotorFrame:
    """The hull's inputs for one round, and the maps between its frame and the motors'."""

    start: dict[str, float]
    signs: dict[str, int]
    x_beam_mm: float
    masks: np.ndarray
    omega_deg: np.ndarray
    """Angles of the masks (views with the sample), minus omega_zero_deg."""
    omega_deg_all: np.ndarray
    mask_pixel_mm: tuple[float, float]
    axis_row_mask_px: float
    image_shape: tuple[int, int]
    axis: str = "horizontal"
    grid_shape: tuple[int, int] = (0, 0)
    """The prediction grid (rows, columns) in the camera's frame."""

    @classmethod
    def for_views(cls, *, masks: list[np.ndarray], present: Any, omega_deg: Any, geometry: Geometry,
                  across_c_mm: float, start: Mapping[str, float], signs: Mapping[str, int],
                  pixel: str = "centre") -> MotorFrame:
        """The frame of a round: its found views' masks, its fit's axis offset ``c``, its start."""
        idx = [i for i, p in enumerate(present) if p]
        stack = np.stack([np.asarray(masks[i], dtype=bool) for i in idx])
        grid = stack.shape[1:]
        h, w = geometry.image_shape
        (beam_x, beam_y), (ppmm_x, ppmm_y) = geometry.beam_px, geometry.pixels_per_mm
        if geometry.axis == "vertical":  # along the axis: the rows; across it: the columns
            stack = np.ascontiguousarray(stack.transpose(0, 2, 1))
            along, across = (h, grid[0], beam_y, ppmm_y), (w, grid[1], beam_x, ppmm_x)
        else:
            along, across = (w, grid[1], beam_x, ppmm_x), (h, grid[0], beam_y, ppmm_y)
        s_along = along[0] / along[1]  # camera pixels per mask pixel
        s_across = across[0] / across[1]
        # mask pixel j sits at camera pixel j*s + shift: its centre ("centre") or corner ("corner")
        shift_along = 0.5 * s_along - 0.5 if pixel == "centre" else 0.0
        shift_across = 0.5 * s_across - 0.5 if pixel == "centre" else 0.0
        axis_px = across[2] + across_c_mm * across[3]  # where the axis is, camera pixels across it
        omega = np.asarray(omega_deg, dtype=float) - geometry.omega_zero_deg
        return cls(
            start=dict(start),
            signs={k: int(v) for k, v in signs.items()},
            x_beam_mm=(along[2] - shift_along) / along[3],
            masks=stack,
            omega_deg=omega[idx],
            omega_deg_all=omega,
            mask_pixel_mm=(s_across / across[3], s_along / along[3]),
            axis_row_mask_px=(axis_px - shift_across) / s_across,
            image_shape=(int(h), int(w)),
            axis=geometry.axis,
            grid_shape=(int(grid[0]), int(grid[1])),
        )

    @property
    def determinant(self) -> int:
        """Of the linear part of :meth:`to_motor`: -1 means a mirror."""
        s = self.signs
        return -s["phiy"] * s["sampx"] * s["sampy"]

    def to_motor(self, points: np.ndarray) -> np.ndarray:
        p = np.atleast_2d(np.asarray(points, dtype=float)).reshape(-1, 3)
        s = self.signs
        return np.column_stack([
            self.start["phiy"] + s["phiy"] * (p[:, 0] - self.x_beam_mm),
            self.start["sampx"] + s["sampx"] * p[:, 2],
            self.start["sampy"] + s["sampy"] * p[:, 1],
        ])

    def to_hull(self, positions: np.ndarray) -> np.ndarray:
        q = np.atleast_2d(np.asarray(positions, dtype=float)).reshape(-1, 3)
        s = self.signs
        return np.column_stack([
            self.x_beam_mm + s["phiy"] * (q[:, 0] - self.start["phiy"]),
            s["sampy"] * (q[:, 2] - self.start["sampy"]),
            s["sampx"] * (q[:, 1] - self.start["sampx"]),
        ])

    def mesh_to_motor(self, vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vertices in motor coordinates and the faces wound outwards there (re-wound after a mirror)."""
        faces = np.asarray(faces, dtype=np.int32).reshape(-1, 3)
        if self.determinant < 0:
            faces = np.ascontiguousarray(faces[:, ::-1])
        return self.to_motor(vertices), faces
