"""Murko's per-picture description, computed by classical image processing instead of a network.

The mock server answers with exactly the schema of Murko's ``main`` server (murko.md §1.3), so the
client and the centring are exercised against the real field names, types and "nothing found"
spellings. The segmentation itself is thresholding that suits the simulated camera (a dark pin,
loop and brown crystal on a light background, tip to the left); it is not a model of Murko's
accuracy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mxcubecore_interleave.murko.protocol import PREDICTION_SHAPE

HIERARCHY = ("foreground", "pin", "stem", "loop", "loop_inside", "crystal")
"""Label order of ``hierarchical_mask`` (1..6, painted in this order; 0 is background)."""

_NAN = float("nan")


def _resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    hp, wp = shape
    return np.asarray(Image.fromarray(image).resize((wp, hp), Image.BILINEAR), dtype=np.int32)


def segment(image: np.ndarray, shape: tuple[int, int] = PREDICTION_SHAPE, min_size: int = 64) -> dict[str, np.ndarray]:
    """Boolean masks on the prediction grid for foreground, pin, stem, loop, loop_inside, crystal."""
    from scipy import ndimage
    from skimage.morphology import remove_small_objects

    small = _resize(np.asarray(image, dtype=np.uint8), shape)
    grey = small.sum(axis=2)
    dark = grey < 450
    crystal = dark & (small[..., 0] - small[..., 2] > 50)
    wire = dark & (grey < 190) & ~crystal
    foreground = ndimage.binary_fill_holes(dark)
    loop = ndimage.binary_fill_holes(wire | crystal) | crystal
    loop_inside = (loop & ~wire) | crystal
    stem = dark & ~loop & (grey >= 250)
    pin = dark & ~loop & ~stem
    masks = {"foreground": foreground, "pin": pin, "stem": stem, "loop": loop, "loop_inside": loop_inside, "crystal": crystal}
    if min_size > 0:
        masks = {k: remove_small_objects(m, min_size=min_size) for k, m in masks.items()}
    return masks


def hierarchical_mask(masks: dict[str, np.ndarray]) -> np.ndarray:
    out = np.zeros(next(iter(masks.values())).shape, dtype=np.uint8)
    for label, name in enumerate(HIERARCHY, start=1):
        out[masks[name]] = label
    return out


def _extremes(rows: np.ndarray, cols: np.ndarray, centre: np.ndarray, axis: np.ndarray) -> dict[str, np.ndarray]:
    """Extreme points "out" (smallest column: the tip, as ``main`` assumes) and "in", overall and
    restricted to 5 px around the principal axis."""
    def pick(r: np.ndarray, c: np.ndarray, out: bool) -> np.ndarray:
        edge = c.min() if out else c.max()
        on_edge = c == edge
        return np.array([float(np.median(r[on_edge])), float(edge)])

    normal = np.array([-axis[1], axis[0]])
    distance = np.abs((rows - centre[0]) * normal[0] + (cols - centre[1]) * normal[1])
    near = distance <= 5.0
    ra, ca = (rows[near], cols[near]) if near.any() else (rows, cols)
    return {"epo": pick(rows, cols, True), "epi": pick(rows, cols, False),
            "epooa": pick(ra, ca, True), "epioa": pick(ra, ca, False)}


def _convex_area(rows: np.ndarray, cols: np.ndarray) -> float:
    from scipy.spatial import ConvexHull, QhullError

    # pixel corners, so a one-pixel-wide line still has an area
    points = np.concatenate([np.column_stack([rows + dr, cols + dc]) for dr in (-0.5, 0.5) for dc in (-0.5, 0.5)])
    try:
        return float(ConvexHull(points).volume)
    except QhullError:
        return float(rows.size)


def notion(mask: np.ndarray, min_size: int) -> dict[str, Any]:
    """One notion's dict, with ``main``'s types: ints for present/h/w, float64 arrays for points."""
    mask = np.asarray(mask, dtype=bool)
    rows, cols = np.nonzero(mask)
    area = _convex_area(rows, cols) if rows.size else 0.0
    if rows.size == 0 or area <= min_size:
        return {"present": 0, "r": _NAN, "c": _NAN, "h": _NAN, "w": _NAN, "area": _NAN,
                "epo": (-1, -1), "epi": (-1, -1), "epooa": (-1, -1), "epioa": (-1, -1),
                "pa": _NAN, "notion_mask": np.zeros(mask.shape, np.uint8)}
    centre = np.array([rows.mean(), cols.mean()])
    coords = np.column_stack([rows, cols]).astype(float) - centre
    inertia = coords.T @ coords / len(coords)
    eigenvalues, eigenvectors = np.linalg.eigh(inertia)
    axis = eigenvectors[:, int(np.argmax(eigenvalues))]
    return {
        "present": 1,
        "r": np.float64(centre[0]),
        "c": np.float64(centre[1]),
        "h": int(rows.max() - rows.min() + 1),
        "w": int(cols.max() - cols.min() + 1),
        "area": np.float64(area),
        **_extremes(rows, cols, centre, axis),
        "pa": (inertia, eigenvalues, eigenvectors, centre),
        "notion_mask": mask.astype(np.uint8),
    }


def describe(image: np.ndarray, min_size: int = 64, shape: tuple[int, int] = PREDICTION_SHAPE,
             blank: bool = False) -> dict[str, Any]:
    """A ``main``-server description of one RGB picture (``blank``: as if nothing were there)."""
    masks = segment(image, shape, min_size=0)
    if blank:
        masks = {k: np.zeros_like(m) for k, m in masks.items()}
    notions = {
        "foreground": notion(masks["foreground"], min_size),
        "crystal": notion(masks["crystal"], min_size),
        "loop_inside": notion(masks["loop_inside"], min_size),
        "loop": notion(masks["loop"], min_size),
        "crystal,loop": notion(masks["crystal"] | masks["loop"], min_size),
        "crystal,loop,stem": notion(masks["crystal"] | masks["loop"] | masks["stem"], min_size),
    }
    prediction_shape = np.array(shape, dtype=np.int64)
    scale = prediction_shape.astype(float)
    present = notions["foreground"]["present"]
    for name in ("crystal", "loop_inside", "loop"):
        if notions[name]["present"]:
            click = np.array([notions[name]["r"], notions[name]["c"]]) / scale
            break
    else:
        click = notions["foreground"]["epo"] / scale if present else np.array([-1, -1], dtype=np.int64)

    def point(value: Any) -> np.ndarray:  # absent: (-1, -1) / shape, the tiny negatives
        return np.asarray(value, dtype=float) / scale

    aoi = notions["crystal,loop"]
    if aoi["present"]:
        bbox = (1, aoi["r"] / scale[0], aoi["c"] / scale[1], aoi["h"] / scale[0], aoi["w"] / scale[1])
    else:
        bbox = (0, _NAN, _NAN, _NAN, _NAN)
    return {
        "original_shape": np.array(np.asarray(image).shape[:2], dtype=np.int64),
        "prediction_shape": prediction_shape,
        "hierarchical_mask": hierarchical_mask(masks),
        "present": int(present),
        "most_likely_click": click,
        "aoi_bbox": bbox,
        "crystal_bbox": bbox,  # as the real server: its crystal_bbox is the crystal ∪ loop box
        "extreme": point(notions["foreground"]["epo"]),
        "end_likely": point(aoi["epooa"]),
        "start_likely": point(aoi["epioa"]),
        "start_possible": point(notions["crystal,loop,stem"]["epioa"]),
        **notions,
    }
