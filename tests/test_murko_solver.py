"""The pure centring solver, its SOLEIL preset, the plausibility checks and the motor frame's winding."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mxcubecore_interleave.errors import CentringRefused
from mxcubecore_interleave.murko import plausibility
from mxcubecore_interleave.murko.frames import MotorFrame
from mxcubecore_interleave.murko.hull import visual_hull
from mxcubecore_interleave.murko.solver import PRESETS, Conventions, Geometry, clicks_to_pixels, solve

# a SOLEIL-like camera: MD3 vertical axis, 1024 x 1360 pictures, Murko's 256 x 320 grid
SOLEIL = Geometry(image_shape=(1024, 1360), grid_shape=(256, 320), beam_px=(680.0, 512.0),
                  pixels_per_mm=(1052.6, 1052.6), axis="vertical")
TRUTH = {"c": -0.0064, "A": 0.0067, "B": -0.0041, "a": 0.0123, "p": 0.0030, "q": -0.0020}


def _soleil_clicks(omega_deg: np.ndarray) -> np.ndarray:
    """Clicks as SOLEIL reads them (``f·H``): across the axis the columns, along it the rows. The
    along offsets wobble with omega (a tilted sample), so their mean is not their offset ``a``."""
    w = np.radians(omega_deg)
    across = TRUTH["c"] + TRUTH["A"] * np.cos(w) + TRUTH["B"] * np.sin(w)
    along = TRUTH["a"] + TRUTH["p"] * np.cos(w) + TRUTH["q"] * np.sin(w)
    (bx, by), (px, py) = SOLEIL.beam_px, SOLEIL.pixels_per_mm
    col = bx + across * px
    row = by + along * py
    return np.column_stack([row / SOLEIL.image_shape[0], col / SOLEIL.image_shape[1]])


def test_the_soleil_preset_gives_soleils_moves_on_unevenly_spread_views():
    omega = np.sort(np.random.default_rng(7).uniform(0.0, 360.0, 68))  # a continuous scan's frames
    solution = solve(omega, _soleil_clicks(omega), SOLEIL, PRESETS["soleil"])
    c = solution.correction
    assert c["sampx"] == pytest.approx(TRUTH["B"], abs=1e-12)   # CentringX += r sin(alpha)
    assert c["sampy"] == pytest.approx(TRUTH["A"], abs=1e-12)   # CentringY += r cos(alpha)
    assert c["phiz"] == pytest.approx(-TRUTH["c"], abs=1e-12)   # AlignmentZ += -c_ortho
    assert c["phiy"] == pytest.approx(TRUTH["a"], abs=1e-12)    # AlignmentY += c_along
    assert solution.rms_mm < 1e-12
    # the default (mean of the along offsets) is off by what the uneven sampling leaves in
    mean = solve(omega, _soleil_clicks(omega), SOLEIL, PRESETS["soleil"].__class__(
        signs=PRESETS["soleil"].signs, along="mean", pixel="corner"))
    assert abs(mean.correction["phiy"] - TRUTH["a"]) > 1e-5
    assert mean.correction["phiy"] == pytest.approx(np.mean(solution.shift_mm[:, 1]), abs=1e-15)


def test_the_pixel_rule_shifts_every_click_by_half_a_prediction_pixel():
    """centre: (f + 0.5/Hp)·H − 0.5; corner: f·H. At 1024 rows on 256: 1.5 camera pixels."""
    frac = np.array([[0.25, 0.5], [0.0, 0.0]])
    centre = clicks_to_pixels(frac, SOLEIL, "centre")
    corner = clicks_to_pixels(frac, SOLEIL, "corner")
    assert np.allclose(centre - corner, [[1.5, 1.625], [1.5, 1.625]])
    # what it shifts in a centring: the axis offset c (phiz) by 1.625 px across a vertical axis,
    # phiy by 1.5 px; the rotation radius (sampx, sampy) not at all
    omega = np.arange(0.0, 360.0, 45.0)
    a = solve(omega, _soleil_clicks(omega), SOLEIL, Conventions(pixel="centre"))
    b = solve(omega, _soleil_clicks(omega), SOLEIL, Conventions(pixel="corner"))
    assert a.correction["phiz"] - b.correction["phiz"] == pytest.approx(1.625 / 1052.6, rel=1e-9)
    assert a.correction["phiy"] - b.correction["phiy"] == pytest.approx(1.5 / 1052.6, rel=1e-9)
    assert a.correction["sampx"] == pytest.approx(b.correction["sampx"], abs=1e-15)
    assert a.correction["sampy"] == pytest.approx(b.correction["sampy"], abs=1e-15)


def test_views_without_a_click_are_left_out_and_too_few_are_refused():
    omega = np.array([0.0, 90.0, 180.0, 270.0])
    clicks = _soleil_clicks(omega)
    clicks[1] = np.nan
    solution = solve(omega, clicks, SOLEIL, PRESETS["soleil"])
    assert solution.found.tolist() == [True, False, True, True]
    assert np.isnan(solution.shift_mm[1]).all()
    clicks[2] = np.nan
    with pytest.raises(ValueError, match="at least 3 views"):
        solve(omega, clicks, SOLEIL)
    with pytest.raises(ValueError, match="along-axis rule"):
        Conventions(along="median")


def _limits(**kw) -> plausibility.Limits:
    return plausibility.Limits(**kw)


def test_plausibility_refuses_each_case_with_its_numbers():
    grid = (256, 320)
    mask = np.zeros(grid, bool)
    mask[100:140, 50:300] = True
    present = [True, True, True]
    good = np.array([[0.5, 0.2]] * 3)
    plausibility.check_views(good, present, [mask] * 3, grid, _limits())
    with pytest.raises(CentringRefused, match=r"view 2: .*\(57, 91\).*outside the picture") as info:
        plausibility.check_views(np.array([[0.5, 0.2], [0.5, 0.2], [57.0, 91.0]]), present, [mask] * 3, grid, _limits())
    assert info.value.check == "click_inside"
    with pytest.raises(CentringRefused, match="100.0% of the picture") as info:
        plausibility.check_views(good, present, [np.ones(grid, bool)] * 3, grid, _limits())
    assert info.value.check == "coverage"
    with pytest.raises(CentringRefused, match="covers 0.00%"):
        plausibility.check_views(good, present, [np.zeros(grid, bool)] * 3, grid, _limits())
    with pytest.raises(CentringRefused, match="2 x 2, not the prediction grid 256 x 320"):
        plausibility.check_views(good, present, [mask, mask, np.ones((2, 2), bool)], grid, _limits())


def test_the_correction_limit_defaults_to_the_field_of_view():
    omega = np.arange(0.0, 360.0, 60.0)
    solution = solve(omega, _soleil_clicks(omega), SOLEIL, PRESETS["soleil"])
    limit = plausibility.correction_limit_mm(SOLEIL, _limits())
    assert limit["phiz"] == pytest.approx(1360 / 1052.6) and limit["phiy"] == pytest.approx(1024 / 1052.6)
    plausibility.check_solution(solution, SOLEIL, 0.2, _limits())
    with pytest.raises(CentringRefused, match=r"phiy correction 12\.3 um exceeds 10\.0 um") as info:
        plausibility.check_solution(solution, SOLEIL, 0.2, _limits(max_correction_mm=0.01))
    assert info.value.check == "correction_limit"


def test_a_residual_large_against_the_sample_is_refused():
    omega = np.arange(0.0, 360.0, 60.0)
    clicks = _soleil_clicks(omega)
    clicks[::2, 1] += 0.004  # 5.4 camera px of jitter across the axis on every other view
    solution = solve(omega, clicks, SOLEIL, PRESETS["soleil"])
    assert 0.002 < solution.rms_mm < 0.02
    plausibility.check_solution(solution, SOLEIL, 0.2, _limits())
    with pytest.raises(CentringRefused, match="max_rms_fraction 0.25 of the sample's size") as info:
        plausibility.check_solution(solution, SOLEIL, 0.01, _limits())
    assert info.value.check == "residual"


def test_few_views_need_a_verifying_round_that_agrees():
    limits = _limits()
    assert plausibility.needs_verification(4, limits) and not plausibility.needs_verification(5, limits)
    first = {"phiy": 0.03, "phiz": -0.01, "sampx": 0.02, "sampy": 0.0}
    plausibility.check_verification(first, {"phiy": 0.004, "phiz": 0.0, "sampx": 0.0, "sampy": 0.0}, limits)
    with pytest.raises(CentringRefused, match=r"still wants 20\.0 um after a first correction of 30\.0 um"):
        plausibility.check_verification(first, {"phiy": 0.0, "phiz": 0.02, "sampx": 0.0, "sampy": 0.0}, limits)


@pytest.fixture(scope="module")
def ball_masks():
    grid = (64, 80)
    rows, cols = np.mgrid[0:grid[0], 0:grid[1]]
    mask = (rows - 32) ** 2 + (cols - 40) ** 2 < 12**2
    return [mask] * 6, np.arange(0.0, 360.0, 60.0)


@pytest.mark.parametrize("signs", list(itertools.product((1, -1), repeat=3)))
def test_the_motor_frame_mesh_is_wound_outwards_for_every_sign(ball_masks, signs):
    import trimesh

    masks, omega = ball_masks
    geometry = Geometry(image_shape=(256, 320), grid_shape=(64, 80), beam_px=(160.0, 128.0),
                        pixels_per_mm=(400.0, 400.0))
    frame = MotorFrame.for_views(masks=masks, present=[True] * 6, omega_deg=omega, geometry=geometry,
                                 across_c_mm=0.0, start={"phiy": 1.0, "sampx": 0.2, "sampy": -0.1},
                                 signs=dict(zip(("phiy", "sampx", "sampy"), signs)) | {"phiz": 1})
    hull = visual_hull(frame.masks, frame.omega_deg, pixel_mm=frame.mask_pixel_mm,
                       axis_row_px=frame.axis_row_mask_px, voxel_mm=0.004)
    hull_mesh = trimesh.Trimesh(hull.vertices_mm, hull.faces, process=False)
    assert hull_mesh.is_watertight and hull_mesh.volume > 0
    vertices, faces = frame.mesh_to_motor(hull.vertices_mm, hull.faces)
    motor_mesh = trimesh.Trimesh(vertices, faces, process=False)
    assert motor_mesh.volume == pytest.approx(hull_mesh.volume, rel=1e-9)
    assert frame.determinant == -signs[0] * signs[1] * signs[2]
