"""A visual hull from Murko's foreground masks: the sample's 3D shape on the CPU.

A voxel belongs to the sample if it projects inside the silhouette in (at least ``threshold`` of)
the views. SOLEIL does this with an unfiltered back-projection on a GPU (ASTRA); carving the
masks directly gives the same strict or soft hull with numpy alone. Rows of every mask are
bit-packed along the rotation axis, so each view costs one gather of bytes, not of booleans.

Frame of the hull (mm), for a horizontal rotation axis along the picture's columns:
``x`` along the axis, from the left edge of the mask (column j's centre at ``j * pixel_mm[1]``);
``u, v`` across it, such that a point projects to row ``axis_row + (u cos w + v sin w) / pixel_mm[0]``
at rotation angle ``w``. ``u``/``v`` are the ``A``/``B`` of the centring fit (murko.fit).
For a vertical rotation axis, pass the masks transposed (murko.frames.MotorFrame does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Hull:
    """The carved volume, its voxel centres as points and its surface as a triangle mesh (mm)."""

    volume: np.ndarray
    """bool (Nx, Nu, Nv)."""
    voxel_size_mm: float
    origin_mm: np.ndarray
    """Centre of voxel (0, 0, 0): (x, u, v) mm."""
    points_mm: np.ndarray
    vertices_mm: np.ndarray
    faces: np.ndarray
    views: int = 0
    threshold: float = 1.0

    def contains(self, points_mm: np.ndarray) -> np.ndarray:
        """Which (x, u, v) points fall in a voxel of the hull."""
        idx = np.floor((np.atleast_2d(points_mm) - self.origin_mm) / self.voxel_size_mm + 0.5).astype(int)
        ok = np.all((idx >= 0) & (idx < np.array(self.volume.shape)), axis=1)
        out = np.zeros(len(idx), dtype=bool)
        out[ok] = self.volume[idx[ok, 0], idx[ok, 1], idx[ok, 2]]
        return out

    @property
    def volume_mm3(self) -> float:
        return float(self.volume.sum()) * self.voxel_size_mm**3


def visual_hull(
    masks: np.ndarray,
    omega_deg: Any,
    *,
    pixel_mm: tuple[float, float],
    axis_row_px: float,
    voxel_mm: float = 0.004,
    threshold: float = 1.0,
    mesh: bool = True,
) -> Hull:
    """Carve the silhouettes ``masks`` (N, H, W) seen at ``omega_deg``.

    ``pixel_mm`` is the (vertical, horizontal) size of a mask pixel; ``axis_row_px`` the
    (fractional) mask row where the rotation axis projects. ``threshold`` is the fraction of
    views a voxel must project into (1: the strict hull; 0.75: SOLEIL's noise-tolerant one).
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3 or masks.shape[0] < 2:
        raise ValueError(f"the hull needs at least 2 masks (N, H, W), got shape {masks.shape}")
    w = np.radians(np.asarray(omega_deg, dtype=float).reshape(-1))
    if w.size != masks.shape[0]:
        raise ValueError(f"{masks.shape[0]} masks but {w.size} angles")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if voxel_mm <= 0:
        raise ValueError(f"voxel size must be positive, got {voxel_mm}")
    n, h, width = masks.shape
    py, px = (float(v) for v in pixel_mm)
    union = masks.any(axis=0)
    cols = np.nonzero(union.any(axis=0))[0]
    rows = np.nonzero(union.any(axis=1))[0]
    if cols.size == 0:
        raise ValueError("no silhouette in any view: nothing to reconstruct")

    radius = (max(abs(rows.min() - axis_row_px), abs(rows.max() - axis_row_px)) + 1) * py
    x = np.arange(cols.min() * px, (cols.max() + 1) * px, voxel_mm)
    uv = np.arange(-radius, radius + voxel_mm, voxel_mm)
    u, v = np.meshgrid(uv, uv, indexing="ij")
    col_idx = np.clip(np.floor(x / px + 0.5).astype(int), 0, width - 1)
    # the mask row every (u, v) column of voxels projects to, per view; -1 when off the picture
    needed = math.ceil(threshold * n - 1e-9)

    if needed == n:
        packed = np.full((uv.size, uv.size, (x.size + 7) // 8), 0xFF, dtype=np.uint8)
        for k in range(n):
            rows_k = _rows(u, v, w[k], axis_row_px, py, h)
            lines = np.packbits(masks[k][:, col_idx], axis=1)  # (H, Nx/8)
            lines = np.vstack([lines, np.zeros((1, lines.shape[1]), np.uint8)])  # row -1: empty
            packed &= lines[rows_k]
        inside = np.unpackbits(packed, axis=2, count=x.size).astype(bool)
    else:
        counts = np.zeros((uv.size, uv.size, x.size), dtype=np.uint16)
        for k in range(n):
            rows_k = _rows(u, v, w[k], axis_row_px, py, h)
            lines = np.vstack([masks[k][:, col_idx], np.zeros((1, x.size), bool)])
            counts += lines[rows_k]
        inside = counts >= needed
    volume = np.ascontiguousarray(np.moveaxis(inside, 2, 0))  # (Nx, Nu, Nv)
    origin = np.array([x[0], uv[0], uv[0]])
    points = origin + np.argwhere(volume) * voxel_mm
    vertices, faces = _mesh(volume, origin, voxel_mm) if mesh else (np.zeros((0, 3)), np.zeros((0, 3), np.int32))
    return Hull(volume, float(voxel_mm), origin, points, vertices, faces, views=n, threshold=float(threshold))


def _rows(u: np.ndarray, v: np.ndarray, w: float, axis_row_px: float, py: float, h: int) -> np.ndarray:
    rows = np.floor(axis_row_px + (u * math.cos(w) + v * math.sin(w)) / py + 0.5).astype(np.intp)
    rows[(rows < 0) | (rows >= h)] = h  # index of the appended empty line
    return rows


def _mesh(volume: np.ndarray, origin: np.ndarray, voxel_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes on the occupied box only (padded so the surface closes)."""
    if not volume.any():
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int32)
    from skimage.measure import marching_cubes

    occupied = np.argwhere(volume)
    lo, hi = occupied.min(axis=0), occupied.max(axis=0) + 1
    box = np.pad(volume[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]], 1).astype(np.float32)
    verts, faces, _normals, _values = marching_cubes(box, level=0.5)
    vertices = origin + (verts - 1.0 + lo) * voxel_mm
    # skimage winds the triangles with normals towards the inside of a high-valued region;
    # viewers and volume formulas expect them outwards
    return vertices, np.ascontiguousarray(faces[:, ::-1]).astype(np.int32)
