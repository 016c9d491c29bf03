"""The pure Murko core: the sinusoid fit, the visual hull, the stored files, the picture."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from mxcubecore_interleave.murko.fit import fit_sinusoid
from mxcubecore_interleave.murko.hull import visual_hull
from mxcubecore_interleave.murko.plot import plot_centring
from mxcubecore_interleave.murko.storage import (
    read_centring_h5,
    write_centring_h5,
    write_point_cloud_ply,
    write_ply,
)

# --- fit -----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    c=st.floats(-0.5, 0.5),
    r=st.floats(0.0, 0.5),
    alpha=st.floats(-math.pi, math.pi),
    n=st.integers(3, 24),
    start=st.floats(0, 360),
)
def test_fit_recovers_any_offset_exactly(c, r, alpha, n, start):
    omega = start + np.arange(n) * 360.0 / n
    w = np.radians(omega)
    y = c + r * np.cos(w - alpha)
    fit = fit_sinusoid(omega, y)
    assert fit.c == pytest.approx(c, abs=1e-9)
    assert fit.A == pytest.approx(r * math.cos(alpha), abs=1e-9)
    assert fit.B == pytest.approx(r * math.sin(alpha), abs=1e-9)
    assert fit.r == pytest.approx(r, abs=1e-9) and fit.rms < 1e-9 and fit.n == n
    assert fit(omega) == pytest.approx(y, abs=1e-9)


def test_fit_rms_measures_the_scatter():
    rng = np.random.default_rng(1)
    omega = np.arange(0, 360, 5.0)
    noise = rng.normal(0, 0.003, omega.size)
    fit = fit_sinusoid(omega, 0.01 + 0.02 * np.cos(np.radians(omega)) + noise)
    assert fit.rms == pytest.approx(0.003, rel=0.25)
    assert fit.c == pytest.approx(0.01, abs=0.002)


def test_fit_three_views_at_120_degrees_closed_form():
    """For N equally spaced views: c = mean(y), A = 2/N sum y cos w, B = 2/N sum y sin w."""
    omega = np.array([10.0, 130.0, 250.0])
    y = np.array([0.004, -0.011, 0.007])
    w = np.radians(omega)
    fit = fit_sinusoid(omega, y)
    assert fit.c == pytest.approx(y.mean())
    assert fit.A == pytest.approx(2 / 3 * np.sum(y * np.cos(w)))
    assert fit.B == pytest.approx(2 / 3 * np.sum(y * np.sin(w)))


@pytest.mark.parametrize(
    ("omega", "values", "message"),
    [
        ([0, 90], [1, 2], "at least 3"),
        ([0, 180, 360], [1, 2, 3], "modulo 180"),
        ([0, 90, 180], [1, 2], "3 angles but 2 values"),
        ([0, 90, 180], [1, np.nan, 2], "non-finite"),
    ],
)
def test_fit_refuses_what_cannot_be_fitted(omega, values, message):
    with pytest.raises(ValueError, match=message):
        fit_sinusoid(omega, values)


# --- hull ----------------------------------------------------------------------------------


def _silhouettes(points_xuv: np.ndarray, omega_deg: np.ndarray, shape=(60, 80), pixel=0.001, axis_row=30.0):
    """Masks of a point set (x, u, v mm) seen at each omega, with the hull module's projection."""
    masks = np.zeros((len(omega_deg), *shape), bool)
    for k, om in enumerate(np.radians(omega_deg)):
        rows = np.floor(axis_row + (points_xuv[:, 1] * np.cos(om) + points_xuv[:, 2] * np.sin(om)) / pixel + 0.5).astype(int)
        cols = np.floor(points_xuv[:, 0] / pixel + 0.5).astype(int)
        ok = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
        masks[k, rows[ok], cols[ok]] = True
    return masks


def _ball(centre, radius, step=0.0004):
    g = np.arange(-radius, radius + step, step)
    x, u, v = np.meshgrid(g, g, g, indexing="ij")
    inside = x**2 + u**2 + v**2 <= radius**2
    return np.column_stack([x[inside], u[inside], v[inside]]) + np.asarray(centre)


def test_hull_of_an_off_axis_ball_contains_it_and_little_else():
    centre, radius = (0.04, 0.006, -0.004), 0.008
    ball = _ball(centre, radius)
    omega = np.arange(8) * 22.5
    hull = visual_hull(_silhouettes(ball, omega), omega, pixel_mm=(0.001, 0.001), axis_row_px=30.0, voxel_mm=0.001)
    assert hull.contains(ball[::50]).mean() > 0.98
    assert not hull.contains(np.array([[0.04, 0.006 + 0.014, -0.004], [0.04, -0.02, 0.0]])).any()
    sphere = 4 / 3 * math.pi * radius**3
    assert sphere < hull.volume_mm3 < 1.8 * sphere  # a hull over-estimates, but not wildly
    assert len(hull.points_mm) == hull.volume.sum()
    assert hull.views == 8 and hull.threshold == 1.0
    # the mesh wraps the ball: its vertices lie around the sphere's surface
    distance = np.linalg.norm(hull.vertices_mm - np.asarray(centre), axis=1)
    assert np.median(distance) == pytest.approx(radius, rel=0.3)


def test_a_soft_hull_forgives_a_view_that_missed_part_of_the_sample():
    ball = _ball((0.04, 0.0, 0.0), 0.008)
    omega = np.arange(8) * 22.5
    masks = _silhouettes(ball, omega)
    masks[3, :, :40] = False  # one view lost the left half
    strict = visual_hull(masks, omega, pixel_mm=(0.001, 0.001), axis_row_px=30.0, voxel_mm=0.001, mesh=False)
    soft = visual_hull(masks, omega, pixel_mm=(0.001, 0.001), axis_row_px=30.0, voxel_mm=0.001, threshold=0.85, mesh=False)
    left = ball[ball[:, 0] < 0.0395][::20]
    assert strict.contains(left).mean() < 0.05
    assert soft.contains(left).mean() > 0.95
    assert len(strict.faces) == 0 and len(strict.vertices_mm) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"masks": np.zeros((1, 4, 4), bool)}, "at least 2 masks"),
        ({"omega_deg": [0.0]}, "2 masks but 1 angles"),
        ({"threshold": 0.0}, "threshold"),
        ({"voxel_mm": 0.0}, "voxel size"),
        ({"masks": np.zeros((2, 4, 4), bool)}, "no silhouette"),
    ],
)
def test_hull_refuses_bad_input(kwargs, message):
    base = {"masks": np.ones((2, 4, 4), bool), "omega_deg": [0.0, 90.0]}
    base.update(kwargs)
    with pytest.raises(ValueError, match=message):
        visual_hull(base["masks"], base["omega_deg"], pixel_mm=(0.001, 0.001), axis_row_px=2.0,
                    voxel_mm=kwargs.get("voxel_mm", 0.001), threshold=kwargs.get("threshold", 1.0))


# --- files ---------------------------------------------------------------------------------


@pytest.fixture
def ball_hull():
    ball = _ball((0.03, 0.0, 0.0), 0.006)
    omega = np.arange(6) * 30.0
    return visual_hull(_silhouettes(ball, omega), omega, pixel_mm=(0.001, 0.001), axis_row_px=30.0, voxel_mm=0.001)


def test_ply_mesh_and_points_read_by_trimesh_and_meshio(tmp_path, ball_hull):
    import meshio
    import trimesh

    mesh_path = write_ply(tmp_path / "s_murko_mesh.ply", ball_hull.vertices_mm, ball_hull.faces)
    mesh = trimesh.load(mesh_path, force="mesh", process=False)
    assert len(mesh.faces) == len(ball_hull.faces) and len(mesh.vertices) == len(ball_hull.vertices_mm)
    assert np.allclose(mesh.vertices, ball_hull.vertices_mm, atol=1e-7)
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(ball_hull.volume_mm3, rel=0.25)
    m = meshio.read(mesh_path)
    assert m.cells_dict["triangle"].shape == ball_hull.faces.shape

    points_path = write_point_cloud_ply(tmp_path / "s_murko_points.ply", ball_hull.points_mm)
    cloud = trimesh.load(points_path)
    assert isinstance(cloud, trimesh.PointCloud)
    assert np.allclose(cloud.vertices, ball_hull.points_mm, atol=1e-7)


def test_files_are_never_overwritten_and_bad_faces_are_refused(tmp_path, ball_hull):
    path = write_ply(tmp_path / "m.ply", ball_hull.vertices_mm, ball_hull.faces)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_ply(path, ball_hull.vertices_mm[:3], np.array([[0, 1, 2]]))
    assert path.read_bytes() == before
    with pytest.raises(ValueError, match="do not exist"):
        write_ply(tmp_path / "n.ply", np.zeros((3, 3)), np.array([[0, 1, 5]]))
    assert not (tmp_path / "n.ply").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ply"]  # no temporary left behind


def test_centring_h5_round_trip(tmp_path, ball_hull):
    data = {
        "omega_deg": np.array([0.0, 90.0, 180.0]),
        "masks": np.zeros((3, 256, 320), np.uint8),
        "murko_server": "127.0.0.1:8901",
        "fit": {"c": 0.001, "rms": 0.0002},
        "mesh": {"vertices_mm": ball_hull.vertices_mm.astype(np.float32), "faces": ball_hull.faces},
    }
    path = write_centring_h5(tmp_path / "s_murko.h5", data)
    back = read_centring_h5(path)
    assert back["murko_server"] == "127.0.0.1:8901"
    assert back["fit"]["c"] == pytest.approx(0.001)
    assert np.array_equal(back["mesh"]["faces"], ball_hull.faces)
    import h5py

    with h5py.File(path) as f:
        assert f["murko"].attrs["NX_class"] == "NXcollection"
        assert f["murko/masks"].compression == "gzip"
    with pytest.raises(FileExistsError):
        write_centring_h5(path, {"x": 1})


def test_plot_is_a_png_with_the_fit_and_the_hull(tmp_path, ball_hull):
    omega = np.array([0.0, 90.0, 180.0, 270.0])
    y = 0.002 * np.cos(np.radians(omega))
    fit = fit_sinusoid(omega, y)
    path = plot_centring(tmp_path / "c.png", omega, y * 1000.0, fit, ball_hull.volume, title="t", voxel_mm=0.001)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 800
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # something was drawn
    with pytest.raises(FileExistsError):
        plot_centring(path, omega, y, fit, None)
