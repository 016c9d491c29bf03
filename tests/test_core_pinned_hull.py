"""Pinned behaviour of murko/hull.py: exact hulls of silhouettes made for them, every refusal,
and the carving checked voxel by voxel against the projection rule the module documents.

Pure and fast (numpy, skimage for the mesh): the mutation run of the module uses this file.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxcubecore_interleave.murko.hull import Hull, visual_hull

H, W, AXIS = 21, 10, 10.0


def band(rows: range, cols: range = range(2, 6)) -> np.ndarray:
    m = np.zeros((H, W), dtype=bool)
    m[rows.start:rows.stop, cols.start:cols.stop] = True
    return m


def hull(masks, omega, **kw):
    kw = {"pixel_mm": (1.0, 1.0), "axis_row_px": AXIS, "voxel_mm": 1.0, **kw}
    return visual_hull(np.array(masks), omega, **kw)


def cells(h: Hull) -> set[tuple[float, float, float]]:
    return {tuple(float(c) for c in p) for p in h.points_mm}


def box(xs, us, vs) -> set[tuple[float, float, float]]:
    return {(float(x), float(u), float(v)) for x in xs for u in us for v in vs}


def test_two_square_views_carve_a_box():
    h = hull([band(range(8, 13)), band(range(8, 13))], [0.0, 90.0])
    assert h.volume.shape == (4, 7, 7) and h.volume.dtype == bool  # x: 4 columns; u, v: radius 3
    assert h.origin_mm.tolist() == [2.0, -3.0, -3.0]
    assert h.voxel_size_mm == 1.0 and type(h.voxel_size_mm) is float
    assert (h.views, h.threshold) == (2, 1.0) and type(h.threshold) is float
    assert cells(h) == box(range(2, 6), range(-2, 3), range(-2, 3))
    assert int(h.volume.sum()) == len(h.points_mm) == 100
    assert h.volume_mm3 == 100.0 and type(h.volume_mm3) is float
    assert h.volume.flags["C_CONTIGUOUS"]


def test_u_is_seen_at_zero_and_v_at_ninety_degrees():
    # at 0 deg rows 12..14 (u = 2..4), at 90 deg rows 6..8 (v = -4..-2)
    h = hull([band(range(12, 15)), band(range(6, 9))], [0.0, 90.0])
    assert h.volume.shape == (4, 11, 11) and h.origin_mm.tolist() == [2.0, -5.0, -5.0]
    assert cells(h) == box(range(2, 6), range(2, 5), range(-4, -1))
    assert h.contains(np.array([[3.0, 3.0, -3.0], [3.0, -3.0, 3.0], [3.0, -3.0, -3.0]])).tolist() == [True, False, False]
    # at 180 deg the same sample is seen mirrored (rows 6..8), at 270 deg rows 12..14
    h4 = hull([band(range(12, 15)), band(range(6, 9)), band(range(6, 9)), band(range(12, 15))],
              [0.0, 90.0, 180.0, 270.0])
    assert cells(h4) == cells(h)
    h_wrong = hull([band(range(12, 15)), band(range(6, 9)), band(range(12, 15))], [0.0, 90.0, 180.0])
    assert h_wrong.volume.sum() == 0 and h_wrong.points_mm.shape == (0, 3)
    assert h_wrong.vertices_mm.shape == (0, 3) and h_wrong.faces.shape == (0, 3) and h_wrong.faces.dtype == np.int32


def test_columns_and_voxels_finer_than_pixels():
    h = hull([band(range(8, 13), range(3, 5)), band(range(8, 13), range(3, 5))], [0.0, 90.0], voxel_mm=0.5)
    # x from column 3's centre (3 mm) in steps of 0.5 mm, up to column 4's far edge
    assert h.origin_mm.tolist() == [3.0, -3.0, -3.0] and h.volume.shape[0] == 4  # 3.0, 3.5, 4.0, 4.5
    xs = sorted({p[0] for p in cells(h)})
    assert xs == [3.0, 3.5, 4.0]  # 4.5 rounds to column 5, outside
    us = sorted({p[1] for p in cells(h)})
    assert us == [-2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]  # floor(10.5 + u) in 8..12
    assert h.volume_mm3 == pytest.approx(len(h.points_mm) * 0.125)


def test_pixel_sizes_scale_the_hull():
    h = hull([band(range(8, 13)), band(range(8, 13))], [0.0, 90.0], pixel_mm=(2.0, 3.0), voxel_mm=1.0)
    us = sorted({p[1] for p in cells(h)})
    assert us[0] == -5.0 and us[-1] == 4.0  # floor(10.5 + u / 2) in rows 8..12
    xs = sorted({p[0] for p in cells(h)})
    assert h.origin_mm[0] == 6.0 and xs[0] == 6.0 and xs[-1] == 16.0  # columns 2..5, 3 mm each
    assert h.origin_mm[1] == -6.0  # radius (2 + 1) rows of 2 mm


def test_a_fractional_axis_row():
    h = hull([band(range(8, 13)), band(range(8, 13))], [0.0, 90.0], axis_row_px=9.75)
    # radius: max(|8 - 9.75|, |12 - 9.75|) + 1 = 3.25 rows
    assert h.origin_mm[1] == -3.25 and h.volume.shape[1] == 8
    us = sorted({p[1] for p in cells(h)})
    assert us == [-2.25, -1.25, -0.25, 0.75, 1.75]  # floor(9.75 + u + 0.5) in 8..12


def test_an_uneven_silhouette_sets_the_radius_from_its_far_side():
    a = band(range(4, 11))  # rows 4..10: 6 rows above the axis, 0 below
    h = hull([a, a], [0.0, 90.0])
    assert h.origin_mm[1] == -7.0 and h.volume.shape[1] == 15
    b = band(range(10, 17))  # 6 rows below
    assert hull([b, b], [0.0, 90.0]).origin_mm[1] == -7.0


def test_soft_hulls_count_views():
    sq = band(range(8, 13))
    empty = np.zeros((H, W), dtype=bool)
    masks = [sq, sq, empty]
    assert hull(masks, [0, 90, 45]).volume.sum() == 0  # strict: every view
    two = hull(masks, [0, 90, 45], threshold=2 / 3)  # ceil(2 - 1e-9) = 2 views
    assert cells(two) == box(range(2, 6), range(-2, 3), range(-2, 3)) and two.threshold == 2 / 3
    assert hull(masks, [0, 90, 45], threshold=0.67).volume.sum() == 0  # 3 views needed
    assert cells(hull(masks, [0, 90, 45], threshold=0.34)) == cells(two)
    one = hull(masks, [0, 90, 45], threshold=1 / 3)  # either view
    assert int(one.volume.sum()) == 4 * (5 * 7 + 7 * 5 - 5 * 5)
    assert one.views == 3


def test_the_mesh_closes_around_the_voxels_facing_out():
    h = hull([band(range(8, 13)), band(range(8, 13))], [0.0, 90.0])
    v, f = h.vertices_mm, h.faces
    assert f.dtype == np.int32 and f.ndim == 2 and f.shape[1] == 3 and f.flags["C_CONTIGUOUS"]
    assert v.min(axis=0).tolist() == [1.5, -2.5, -2.5] and v.max(axis=0).tolist() == [5.5, 2.5, 2.5]
    tri = v[f]
    signed = float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)
    assert 0.75 * h.volume_mm3 < signed < h.volume_mm3  # outward normals: positive; corners cut
    # every edge is shared by two faces (a closed surface)
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert set(counts.tolist()) == {2}
    off = hull([band(range(12, 15)), band(range(6, 9))], [0.0, 90.0])
    assert off.vertices_mm.min(axis=0).tolist() == [1.5, 1.5, -4.5]
    assert off.vertices_mm.max(axis=0).tolist() == [5.5, 4.5, -1.5]


def test_no_mesh_when_not_asked():
    h = hull([band(range(8, 13)), band(range(8, 13))], [0.0, 90.0], mesh=False)
    assert h.vertices_mm.shape == (0, 3) and h.faces.shape == (0, 3) and h.faces.dtype == np.int32
    assert h.volume.sum() == 100


def test_contains():
    h = hull([band(range(8, 13)), band(range(8, 13))], [0.0, 90.0])
    assert h.contains(np.array([3.0, 0.0, 0.0])).tolist() == [True]  # one point
    pts = np.array([[2.0, -2.0, -2.0], [5.0, 2.0, 2.0], [1.6, 0.0, 0.0], [1.4, 0.0, 0.0], [5.49, 2.49, 2.49],
                    [5.51, 0.0, 0.0], [3.0, 2.51, 0.0], [3.0, 0.0, -2.51], [-10.0, 0.0, 0.0], [3.0, 40.0, 0.0],
                    [3.0, 0.0, 3.0], [3.0, -3.0, 0.0], [100.0, 100.0, 100.0], [-100.0, -100.0, -100.0]])
    assert h.contains(pts).tolist() == [True, True, True, False, True, False, False, False, False, False,
                                        False, False, False, False]


def test_masks_and_angles_in_any_numeric_form():
    sq = band(range(8, 13)).astype(np.uint8) * 7
    h = visual_hull(np.stack([sq, sq]), np.array([[0], [90]]), pixel_mm=(1, 1), axis_row_px=10, voxel_mm=1)
    assert cells(h) == box(range(2, 6), range(-2, 3), range(-2, 3))
    assert visual_hull([band(range(8, 13))] * 2, (0, 90), pixel_mm=(1.0, 1.0), axis_row_px=10.0,
                       voxel_mm=1.0).volume.sum() == 100


@pytest.mark.parametrize("masks, omega, kw, message", [
    (np.zeros((H, W), bool), [0.0], {}, r"^the hull needs at least 2 masks \(N, H, W\), got shape \(21, 10\)$"),
    (np.ones((1, H, W), bool), [0.0], {}, r"at least 2 masks .*got shape \(1, 21, 10\)"),
    (np.ones((2, H, W, 1), bool), [0.0, 1.0], {}, r"at least 2 masks"),
    (np.ones((2, H, W), bool), [0.0], {}, r"^2 masks but 1 angles$"),
    (np.ones((2, H, W), bool), [0.0, 1.0, 2.0], {}, r"^2 masks but 3 angles$"),
    (np.ones((2, H, W), bool), [0.0, 90.0], {"threshold": 0.0}, r"^threshold must be in \(0, 1\], got 0.0$"),
    (np.ones((2, H, W), bool), [0.0, 90.0], {"threshold": 1.01}, r"threshold must be in \(0, 1\], got 1.01"),
    (np.ones((2, H, W), bool), [0.0, 90.0], {"threshold": -0.5}, r"threshold must be in"),
    (np.ones((2, H, W), bool), [0.0, 90.0], {"voxel_mm": 0.0}, r"^voxel size must be positive, got 0.0$"),
    (np.ones((2, H, W), bool), [0.0, 90.0], {"voxel_mm": -1.0}, r"voxel size must be positive, got -1.0"),
    (np.zeros((2, H, W), bool), [0.0, 90.0], {}, r"^no silhouette in any view: nothing to reconstruct$"),
])
def test_refusals(masks, omega, kw, message):
    with pytest.raises(ValueError, match=message):
        hull(masks, omega, **kw)


def test_the_edges_of_the_checks_are_allowed():
    sq = band(range(8, 13))
    assert hull([sq, sq], [0, 90], threshold=1.0).volume.sum() == 100
    assert hull([sq, sq], [0, 90], threshold=1e-9).volume.sum() == 4 * 45
    assert hull([sq, sq], [0, 90], voxel_mm=1e-0).volume.sum() == 100
    one_pixel = np.zeros((2, H, W), bool)
    one_pixel[0, 10, 0] = one_pixel[1, 10, 0] = True  # column 0, on the axis
    h = hull(one_pixel, [0, 90])
    assert cells(h) == {(0.0, 0.0, 0.0)} and h.volume.shape == (1, 3, 3)


def _carve_by_hand(masks, omega_deg, py, px, axis, voxel, threshold, h: Hull) -> np.ndarray:
    """Each voxel centre of ``h``'s grid projected into each view with the documented rule."""
    n, rows, width = masks.shape
    needed = math.ceil(threshold * n - 1e-9)
    w = np.radians(np.asarray(omega_deg, dtype=float))
    i, j, k = np.indices(h.volume.shape)
    x, u, v = (h.origin_mm[0] + i * voxel, h.origin_mm[1] + j * voxel, h.origin_mm[2] + k * voxel)
    col = np.clip(np.floor(x / px + 0.5).astype(int), 0, width - 1)
    seen = np.zeros(h.volume.shape, dtype=int)
    for m in range(n):
        r = np.floor(axis + (u * math.cos(w[m]) + v * math.sin(w[m])) / py + 0.5).astype(int)
        on = (r >= 0) & (r < rows)
        hit = np.zeros(h.volume.shape, dtype=bool)
        hit[on] = masks[m][r[on], col[on]]
        seen += hit
    return seen >= needed


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_the_carving_is_the_projection_rule_voxel_by_voxel(data):
    n = data.draw(st.integers(2, 4))
    rows, width = data.draw(st.integers(3, 8)), data.draw(st.integers(1, 11))
    masks = np.array(data.draw(st.lists(st.lists(st.lists(st.booleans(), min_size=width, max_size=width),
                                                 min_size=rows, max_size=rows), min_size=n, max_size=n)))
    if not masks.any():
        masks[0, rows // 2, width // 2] = True
    omega = data.draw(st.lists(st.sampled_from([0.0, 30.0, 45.0, 90.0, 135.0, 200.0, 333.0]), min_size=n, max_size=n))
    py, px = data.draw(st.sampled_from([0.5, 1.0, 2.0])), data.draw(st.sampled_from([0.5, 1.0, 2.0]))
    axis = data.draw(st.sampled_from([0.25, 1.0, rows / 2 - 0.25, rows - 1.0]))
    voxel = data.draw(st.sampled_from([0.25, 0.5, 1.0]))
    threshold = data.draw(st.sampled_from([1.0, 0.75, 0.5, 0.25]))
    h = visual_hull(masks, omega, pixel_mm=(py, px), axis_row_px=axis, voxel_mm=voxel, threshold=threshold,
                    mesh=False)
    assert np.array_equal(h.volume, _carve_by_hand(masks, omega, py, px, axis, voxel, threshold, h))
    # the grid spans the silhouettes: x over their columns, u and v over their rows around the axis
    cols = np.nonzero(masks.any(axis=(0, 1)))[0]
    rws = np.nonzero(masks.any(axis=(0, 2)))[0]
    assert h.origin_mm[0] == cols.min() * px
    assert h.origin_mm[0] + (h.volume.shape[0] - 1) * voxel < (cols.max() + 1) * px
    assert h.origin_mm[0] + h.volume.shape[0] * voxel >= (cols.max() + 1) * px - 1e-9
    radius = (max(abs(rws.min() - axis), abs(rws.max() - axis)) + 1) * py
    assert h.origin_mm[1] == h.origin_mm[2] == -radius
    assert h.volume.shape[1] == h.volume.shape[2] == len(np.arange(-radius, radius + voxel, voxel))
    assert np.array_equal(h.points_mm, h.origin_mm + np.argwhere(h.volume) * voxel)


# -- pinned after the first mutation run --------------------------------------------------------------
def test_half_millimetre_voxels_place_the_mesh_and_the_points():
    h = hull([band(range(8, 13)), band(range(8, 13))], [0.0, 90.0], voxel_mm=0.5)
    # voxel centres of x: 2.0 .. 5.0 (5.5 rounds to column 6); the surface half a voxel out
    assert h.vertices_mm[:, 0].min() == 1.75 and h.vertices_mm[:, 0].max() == 5.25
    assert h.vertices_mm[:, 1].min() == -2.75 and h.vertices_mm[:, 1].max() == 2.25
    inside = h.contains(np.array([[3.0, 0.0, 0.0], [5.0, 2.0, 2.0], [5.3, 0.0, 0.0], [3.0, 2.3, 0.0], [3.0, -2.5, 0.0]]))
    assert inside.dtype == bool and inside.tolist() == [True, True, False, False, True]


def test_a_long_thin_sample_meshes_over_all_its_columns():
    h = hull([band(range(6, 9), range(0, 10)), band(range(12, 15), range(0, 10))], [0.0, 90.0])
    assert cells(h) == box(range(0, 10), range(-4, -1), range(2, 5))
    assert h.vertices_mm.min(axis=0).tolist() == [-0.5, -4.5, 1.5]
    assert h.vertices_mm.max(axis=0).tolist() == [9.5, -1.5, 4.5]


def test_the_default_voxel_is_4_micrometres():
    m = np.zeros((2, 8, 3), bool)
    m[:, 4, 1] = True
    h = visual_hull(m, [0.0, 90.0], pixel_mm=(0.004, 0.004), axis_row_px=4.0, mesh=False)
    assert h.voxel_size_mm == 0.004
    assert h.volume.shape == (1, 3, 3) and int(h.volume.sum()) == 1


def test_angles_in_a_row_a_column_or_flat():
    sq = band(range(8, 13))
    want = box(range(2, 6), range(-2, 3), range(-2, 3))
    for omega in ([0.0, 90.0], np.array([[0.0, 90.0]]), np.array([[0.0], [90.0]]), (0, 90)):
        assert cells(hull([sq, sq], omega)) == want


def test_soft_hulls_of_masks_given_as_numbers():
    sq = band(range(8, 13)).astype(np.uint8) * 7  # nonzero is inside, whatever the value
    empty = np.zeros((H, W), np.uint8)
    two = hull([sq, sq, empty], [0, 90, 45], threshold=2 / 3)
    assert cells(two) == box(range(2, 6), range(-2, 3), range(-2, 3))
    assert hull([sq, empty, empty], [0, 90, 45], threshold=2 / 3).volume.sum() == 0
    assert hull([sq, sq, empty], [0, 90, 45], threshold=1 / 3).volume.sum() == 4 * 45
