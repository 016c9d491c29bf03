"""The centring solver and its plausibility checks pinned against numbers worked out here: clicks
made from a known sample position (the inverse of the pixel rules), the corrections that must come
back, each convention and geometry refusal, and every check of ``plausibility`` at and beyond its
edge."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxcubecore_interleave.errors import CentringRefused
from mxcubecore_interleave.murko import plausibility as pl
from mxcubecore_interleave.murko.fit import SinusoidFit
from mxcubecore_interleave.murko.solver import (PRESETS, TRANSLATIONS, Conventions, Geometry, Solution,
                                                clicks_to_pixels, conventions_from, preset, solve)

IMAGE, GRID = (1024, 1280), (256, 320)
BEAM = (600.0, 500.0)  # x (column), y (row)
PPMM = (640.0, 400.0)  # x, y: different, so a swap shows


def geometry(axis="horizontal", **kw) -> Geometry:
    return Geometry(kw.pop("image_shape", IMAGE), kw.pop("grid_shape", GRID), kw.pop("beam_px", BEAM),
                    kw.pop("pixels_per_mm", PPMM), axis, **kw)


def fractions(across_mm, along_mm, geo: Geometry, pixel="centre") -> np.ndarray:
    """(row, column) fractions of a click at these offsets from the beam (the rule run backwards)."""
    across, along = np.asarray(across_mm, float), np.asarray(along_mm, float)
    d_row, d_col = (across, along) if geo.axis == "horizontal" else (along, across)
    row = geo.beam_px[1] + d_row * geo.pixels_per_mm[1]
    col = geo.beam_px[0] + d_col * geo.pixels_per_mm[0]
    px = np.column_stack([row, col])
    size, grid = np.array(geo.image_shape, float), np.array(geo.grid_shape, float)
    return px / size if pixel == "corner" else (px + 0.5) / size - 0.5 / grid


# -- pixels ----------------------------------------------------------------------------------------
def test_the_pixel_rules_by_hand():
    g = geometry()
    assert clicks_to_pixels([0.25, 0.5], g).tolist() == [[257.5, 641.5]]  # (0.25+1/512)*1024-0.5 ...
    assert clicks_to_pixels([[0.25, 0.5]], g, "corner").tolist() == [[256.0, 640.0]]
    with pytest.raises(ValueError, match="pixel convention 'middle'"):
        clicks_to_pixels([0.25, 0.5], g, "middle")


# -- the solve -------------------------------------------------------------------------------------
OMEGAS = np.array([0.0, 20.0, 50.0, 130.0, 200.0, 300.0])  # unevenly spread: mean != fit c along


def _sample(c=0.03, a=-0.05, b=0.08, a0=0.02, p=0.04):
    w = np.radians(OMEGAS)
    return c + a * np.cos(w) + b * np.sin(w), a0 + p * np.cos(w)


@pytest.mark.parametrize("axis", ["horizontal", "vertical"])
@pytest.mark.parametrize("name", ["default", "soleil"])
def test_a_known_sample_gives_its_corrections(axis, name):
    conv = PRESETS[name]
    g = geometry(axis)
    across, along = _sample()
    sol = solve(OMEGAS, fractions(across, along, g, conv.pixel), g, conv)
    s = conv.signs
    along_value = 0.02 if conv.along == "fit" else float(np.mean(along))
    expect = {"sampx": s["sampx"] * 0.08, "sampy": s["sampy"] * -0.05, "phiz": s["phiz"] * 0.03,
              "phiy": s["phiy"] * along_value}
    assert sol.correction.keys() == expect.keys()
    for k in expect:
        assert sol.correction[k] == pytest.approx(expect[k], abs=1e-9)
    assert sol.along_mm == pytest.approx(along_value, abs=1e-9)
    assert (sol.across.c, sol.across.A, sol.across.B) == pytest.approx((0.03, -0.05, 0.08), abs=1e-9)
    assert (sol.along_fit.c, sol.along_fit.A, sol.along_fit.B) == pytest.approx((0.02, 0.04, 0.0), abs=1e-9)
    assert sol.rms_mm == sol.across.rms == pytest.approx(0.0, abs=1e-9)
    assert np.allclose(sol.shift_mm, np.column_stack([across, along]))
    assert sol.found.tolist() == [True] * 6 and sol.conventions is conv


def test_every_sign_and_rule_is_its_own():
    g = geometry()
    across, along = _sample()
    frac = fractions(across, along, g)
    base = solve(OMEGAS, frac, g).correction
    for m in TRANSLATIONS:
        flipped = solve(OMEGAS, frac, g, Conventions(signs={m: -1})).correction
        assert flipped == {k: (-v if k == m else v) for k, v in base.items()}
    fit = solve(OMEGAS, frac, g, Conventions(along="fit"))
    assert fit.correction["phiy"] == pytest.approx(0.02) and base["phiy"] == pytest.approx(np.mean(along))
    assert abs(np.mean(along) - 0.02) > 0.005


def test_the_click_pixels_and_the_absent_views():
    g = geometry()
    across, along = _sample()
    frac = fractions(across, along, g)
    frac[1] = np.nan
    frac[4, 1] = np.nan
    omega = OMEGAS.copy()
    omega[5] = np.nan
    sol = solve(omega, frac, g)
    assert sol.found.tolist() == [True, False, True, True, False, False]
    px = np.column_stack([BEAM[1] + across * PPMM[1], BEAM[0] + along * PPMM[0]])
    assert np.allclose(sol.click_px[[0, 2, 3]], px[[0, 2, 3]])
    assert np.isnan(sol.click_px[[1, 4]]).all() and np.isnan(sol.shift_mm[1]).all()
    assert sol.across.n == 3 and sol.correction["sampx"] == pytest.approx(0.08)


def test_omega_zero_is_taken_off_the_angles():
    g = geometry(omega_zero_deg=30.0)
    w = np.radians(OMEGAS - 30.0)
    across = 0.01 + 0.02 * np.cos(w) - 0.03 * np.sin(w)
    sol = solve(OMEGAS, fractions(across, np.zeros(6), g), g)
    assert (sol.correction["phiz"], sol.correction["sampy"], sol.correction["sampx"]) == pytest.approx(
        (0.01, 0.02, -0.03), abs=1e-9)


def test_angles_and_clicks_must_pair_up():
    with pytest.raises(ValueError, match="3 angles but 2 clicks"):
        solve([0, 90, 180], [[0.5, 0.5], [0.5, 0.5]], geometry())


@settings(max_examples=40, deadline=None)
@given(st.floats(-0.2, 0.2), st.floats(-0.2, 0.2), st.floats(-0.2, 0.2), st.floats(-0.1, 0.1),
       st.sampled_from(["horizontal", "vertical"]), st.sampled_from(["centre", "corner"]))
def test_any_sample_position_comes_back(c, a, b, a0, axis, pixel):
    g = geometry(axis)
    w = np.radians(OMEGAS)
    sol = solve(OMEGAS, fractions(c + a * np.cos(w) + b * np.sin(w), np.full(6, a0), g, pixel), g,
                Conventions(pixel=pixel))
    assert [sol.correction[m] for m in ("phiz", "sampy", "sampx", "phiy")] == pytest.approx([c, a, b, a0], abs=1e-9)


# -- conventions and geometry ----------------------------------------------------------------------
def test_conventions_fill_and_check_their_fields():
    c = Conventions(signs={"phiz": -1})
    assert c.signs == {"phiy": 1, "phiz": -1, "sampx": 1, "sampy": 1}
    assert (c.along, c.pixel, c.name) == ("mean", "centre", "custom")
    d = c.with_signs({"sampx": -1})
    assert d.signs == {"phiy": 1, "phiz": 1, "sampx": -1, "sampy": 1} and (d.along, d.pixel) == ("mean", "centre")
    assert Conventions(signs={"sampy": -1.0}).signs["sampy"] == -1
    with pytest.raises(ValueError, match=r"unknown motors \['omega'\]"):
        Conventions(signs={"omega": 1})
    for bad in (0, 2, -2):
        with pytest.raises(ValueError, match="must be \\+1 or -1"):
            Conventions(signs={"phiy": bad})
    with pytest.raises(ValueError, match="along-axis rule 'median'"):
        Conventions(along="median")
    with pytest.raises(ValueError, match="pixel convention 'edge'"):
        Conventions(pixel="edge")


def test_presets_and_a_configuration():
    assert preset("soleil") is PRESETS["soleil"] and preset("default") is PRESETS["default"]
    assert PRESETS["soleil"].signs == {"phiy": 1, "phiz": -1, "sampx": 1, "sampy": 1}
    assert (PRESETS["soleil"].along, PRESETS["soleil"].pixel) == ("fit", "corner")
    with pytest.raises(ValueError, match="unknown centring conventions 'esrf'; presets: default, soleil"):
        preset("esrf")
    cfg = SimpleNamespace(conventions="soleil", signs={"sampx": -1}, along_axis=None, pixel_convention=None)
    c = conventions_from(cfg)
    assert (c.name, c.along, c.pixel, c.signs["sampx"], c.signs["phiz"]) == ("soleil", "fit", "corner", -1, 1)
    model = SimpleNamespace(model_dump=lambda: {"phiy": -1})
    c = conventions_from(SimpleNamespace(conventions="default", signs=model, along_axis="fit", pixel_convention="corner"))
    assert (c.name, c.along, c.pixel, c.signs["phiy"]) == ("default", "fit", "corner", -1)


def test_geometry_refusals_and_field_of_view():
    assert geometry().field_of_view_mm() == (1024 / 400, 1280 / 640)
    assert geometry("vertical").field_of_view_mm() == (1280 / 640, 1024 / 400)
    with pytest.raises(ValueError, match="axis 'diagonal'"):
        geometry("diagonal")
    for image, grid in (((0, 5), GRID), (IMAGE, (5, 0)), ((5, 0), GRID), (IMAGE, (0, 5))):
        with pytest.raises(ValueError, match="is empty"):
            geometry(image_shape=image, grid_shape=grid)
    geometry(image_shape=(1, 1), grid_shape=(1, 1))
    for ppmm in ((0.0, 400.0), (640.0, -1.0), (np.nan, 400.0), (640.0, np.inf)):
        with pytest.raises(ValueError, match="pixels per mm must be positive"):
            geometry(pixels_per_mm=ppmm)


# -- plausibility: the views -------------------------------------------------------------------
LIMITS = pl.Limits()


def _refused(check: str, fn, *args):
    with pytest.raises(CentringRefused) as info:
        fn(*args)
    assert info.value.check == check
    return str(info.value)


def _mask(n_true: int, shape=(10, 10)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m.flat[:n_true] = True
    return m


def test_limits_from_a_configuration():
    values = dict(min_foreground_fraction=0.01, max_foreground_fraction=0.5, max_correction_mm=1.0, max_rms_mm=0.1,
                  max_rms_fraction=0.3, min_views=4, verify_ratio=0.4, verify_floor_mm=0.002)
    assert pl.limits_from(SimpleNamespace(**values, other=1)) == pl.Limits(**values)


def test_clicks_at_the_picture_edges():
    grid, masks = (10, 20), [_mask(50, (10, 20))]
    lo, hi = -0.5 / np.array(grid), 1 - 0.5 / np.array(grid)
    for f in (lo, hi, (lo[0], hi[1]), (0.5, 0.5)):
        pl.check_views([f], [True], masks, grid, LIMITS)
    for f in ((lo[0] - 1e-9, 0.5), (0.5, lo[1] - 1e-9), (hi[0] + 1e-9, 0.5), (0.5, hi[1] + 1e-9), (np.nan, 0.5)):
        msg = _refused("click_inside", pl.check_views, [f], [True], masks, grid, LIMITS)
        assert msg.startswith("view 0: Murko's click at fractions") and msg.endswith("; nothing moved")
        assert ") (row, column) lies outside the picture (fractions are in [0, 1)); nothing" in msg
    pl.check_views([(5.0, 5.0)], [False], masks, grid, LIMITS)  # an absent view's click is not looked at
    msg = _refused("click_inside", pl.check_views, [(0.5, 0.5), (2.0, 0.5)], [True, True], masks * 2, grid, LIMITS)
    assert msg.startswith("view 1:")


def test_masks_must_have_the_grid_shape_even_when_absent():
    msg = _refused("mask_shape", pl.check_views, [(0.5, 0.5)], [False], [_mask(5, (10, 9))], (10, 10), LIMITS)
    assert "10 x 9, not the prediction grid 10 x 10" in msg
    _refused("mask_shape", pl.check_views, [(0.5, 0.5)], [True], [_mask(5, (9, 10))], (10, 10), LIMITS)


def test_foreground_coverage_limits_are_inclusive():
    lim = pl.Limits(min_foreground_fraction=0.05, max_foreground_fraction=0.7)
    for n in (5, 70):
        pl.check_views([(0.5, 0.5)], [True], [_mask(n)], (10, 10), lim)
    assert "covers 4.00% of the picture" in _refused("coverage", pl.check_views, [(0.5, 0.5)], [True], [_mask(4)],
                                                      (10, 10), lim)
    assert "covers 71.0% of the picture" in _refused("coverage", pl.check_views, [(0.5, 0.5)], [True], [_mask(71)],
                                                      (10, 10), lim)
    pl.check_views([(0.5, 0.5)], [False], [_mask(0)], (10, 10), lim)  # absent: coverage not looked at
    pl.check_views([(0.5, 0.5)], [False], [_mask(100)], (10, 10), lim)


# -- plausibility: size, limits, solution ----------------------------------------------------------
def test_sample_size_is_the_median_extent_across_the_axis():
    g = geometry(image_shape=(1000, 2000), grid_shape=(100, 200), pixels_per_mm=(500.0, 250.0))
    m1 = np.zeros((100, 200), bool)
    m1[10:20, 50:150] = True  # 10 rows, 100 columns
    m2 = np.zeros((100, 200), bool)
    m2[30:60, 0:3] = True  # 30 rows, 3 columns
    m3 = np.zeros((100, 200), bool)
    m3[5, 7] = m3[25, 9] = True  # rows 5..25: 21 rows, columns 7..9: 3
    row_mm, col_mm = 1000 / 100 / 250.0, 2000 / 200 / 500.0
    masks = [m1, m2, m3, np.ones((100, 200), bool)]
    assert pl.sample_size_mm(masks, [True, True, True, False], g) == pytest.approx(21 * row_mm)
    gv = geometry("vertical", image_shape=(1000, 2000), grid_shape=(100, 200), pixels_per_mm=(500.0, 250.0))
    assert pl.sample_size_mm(masks, [True, True, True, False], gv) == pytest.approx(3 * col_mm)
    assert pl.sample_size_mm(masks[:2], [True, True], g) == pytest.approx(20 * row_mm)
    assert pl.sample_size_mm([np.zeros((100, 200), bool), m1, m2], [True, True, True], g) == pytest.approx(10 * row_mm)
    assert pl.sample_size_mm(masks, [False] * 4, g) == 0.0


def test_the_correction_limit():
    g = geometry()
    assert pl.correction_limit_mm(g, LIMITS) == {"phiy": 2.0, "phiz": 2.56, "sampx": 2.56, "sampy": 2.56}
    assert pl.correction_limit_mm(g, pl.Limits(max_correction_mm=0.3)) == dict.fromkeys(
        ("phiy", "phiz", "sampx", "sampy"), 0.3)


def _solution(correction: dict, rms: float) -> Solution:
    fit = SinusoidFit(0.0, 0.0, 0.0, 0.0, 0.0, rms, 5)
    return Solution({**dict.fromkeys(TRANSLATIONS, 0.0), **correction}, fit, fit, 0.0, np.zeros((5, 2)),
                    np.zeros((5, 2)), np.ones(5, bool), PRESETS["default"])


def test_check_solution_at_and_beyond_each_limit():
    g, lim = geometry(), pl.Limits(max_rms_mm=0.02, max_rms_fraction=0.25)
    pl.check_solution(_solution({"phiy": 2.0, "phiz": -2.56}, 0.02), g, 0.08, lim)  # every edge met exactly
    for motor, value in (("phiy", 2.0001), ("sampx", -2.5601), ("sampy", np.nan), ("phiz", np.inf)):
        msg = _refused("correction_limit", pl.check_solution, _solution({motor: value}, 0.0), g, 1.0, lim)
        assert f"the {motor} correction" in msg and msg.endswith(" um (the camera's field of view); nothing moved")
    msg = _refused("correction_limit", pl.check_solution, _solution({"sampy": 0.31}, 0.0), g, 1.0,
                   pl.Limits(max_correction_mm=0.3))
    assert "310.0 um exceeds 300.0 um (max_correction_mm)" in msg
    msg = _refused("residual", pl.check_solution, _solution({}, 0.0201), g, 1.0, lim)
    assert "RMS 20.1 um > max_rms_mm 20.0 um" in msg
    msg = _refused("residual", pl.check_solution, _solution({}, 0.0101), g, 0.04, lim)
    assert "RMS 10.10 um is more than max_rms_fraction 0.25" in msg and "(40.0 um)" in msg
    pl.check_solution(_solution({}, 0.01), g, 0.04, lim)


def test_verification():
    lim = pl.Limits(min_views=5, verify_ratio=0.5, verify_floor_mm=0.005)
    assert pl.needs_verification(4, lim) and not pl.needs_verification(5, lim)
    pl.check_verification({"a": -0.1, "b": 0.02}, {"a": 0.05, "b": -0.05}, lim)  # 0.05 allowed exactly
    msg = _refused("verification", pl.check_verification, {"a": -0.1}, {"a": 0.0, "b": -0.0501}, lim)
    assert "still wants 50.1 um after a first correction of 100.0 um (allowed 50.0 um)" in msg
    assert msg.endswith("the first round's clicks were not on the sample; motors put back where they were")
    pl.check_verification({"a": 0.001}, {"a": 0.005}, lim)  # the floor
    _refused("verification", pl.check_verification, {"a": 0.001}, {"a": -0.0051}, lim)


@pytest.mark.parametrize("omegas, present, usable", [
    ([0, 90, 180], [True, True, True], True),
    ([0, 90], [True, True], False),
    ([0, 90, 180, 45], [True, True, False, False], False),
    ([0, 180, 360], [True, True, True], False),
    ([-90, 90, 270], [True, True, True], False),
    ([-90, 90, 0], [True, True, True], True),
    ([10, 190, 370.0004], [True, True, True], False),
    ([10, 190, 370.002], [True, True, True], True),
    ([0, 0, 0, 90], [True, True, True, False], False),
])
def test_usable_views(omegas, present, usable):
    assert pl.usable_views(omegas, present) is usable


def test_an_absent_view_does_not_end_the_checks():
    grid = (10, 10)
    _refused("click_inside", pl.check_views, [(0.5, 0.5), (3.0, 0.5)], [False, True], [_mask(50)] * 2, grid, LIMITS)
    msg = _refused("coverage", pl.check_views, [(0.5, 0.5), (0.5, 0.5)], [False, True], [_mask(50), _mask(0)], grid,
                   LIMITS)
    assert msg.startswith("view 1:")


def test_the_residual_messages_say_micrometres():
    g = geometry()
    msg = _refused("residual", pl.check_solution, _solution({}, 0.1), g, 10.0, pl.Limits(max_rms_mm=0.09))
    assert "RMS 100.0 um > max_rms_mm 90.0 um" in msg
    msg = _refused("residual", pl.check_solution, _solution({}, 0.15), g, 0.4, pl.Limits(max_rms_mm=1.0))
    assert "RMS 150.00 um is more than" in msg and "(400.0 um)" in msg


def test_integer_clicks_and_a_column_of_angles_are_read():
    g = geometry(image_shape=(100, 100), grid_shape=(100, 100), beam_px=(0.0, 0.0), pixels_per_mm=(100.0, 100.0))
    sol = solve(np.array([[0.0], [90.0], [180.0]]), np.zeros((3, 2), dtype=int), g)  # every click at pixel 0
    assert sol.found.tolist() == [True, True, True]
    assert sol.click_px.dtype.kind == "f" and sol.click_px.tolist() == [[0.0, 0.0]] * 3
    assert sol.correction == pytest.approx(dict.fromkeys(TRANSLATIONS, 0.0), abs=1e-12)


def test_fewer_than_one_pixel_per_mm_is_a_geometry():
    assert geometry(pixels_per_mm=(0.5, 0.25)).field_of_view_mm() == (1024 / 0.25, 1280 / 0.5)
