"""The synthetic sample picture: where things appear, and agreement with mxcubecore's SampleView maths."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
from pydantic import ValidationError

from mxcubecore_interleave.simulation.murko_scene import (
    CameraView,
    MotorDirections,
    SampleScene,
    centred_position_from_click,
    crystal_on_screen,
    project,
    render,
)

VIEW = CameraView(width=320, height=240, beam_x=150.0, beam_y=118.0)
SCENE = SampleScene()


def _crystal_mask(image: np.ndarray, scene: SampleScene = SCENE) -> np.ndarray:
    """Pixels of the crystal's colour (it is painted last, so it is never hidden)."""
    diff = np.abs(image.astype(int) - np.asarray(scene.crystal_rgb)).sum(axis=2)
    return diff < 30


def _centroid(mask: np.ndarray) -> tuple[float, float]:
    rows, cols = np.nonzero(mask)
    assert rows.size > 20, "crystal not visible"
    return float(cols.mean()), float(rows.mean())


def _offset(position: dict[str, float], **deltas: float) -> dict[str, float]:
    moved = dict(position)
    for key, value in deltas.items():
        moved[key] = moved.get(key, 0.0) + value
    return moved


@pytest.mark.parametrize("omega", [0.0, 37.0, 90.0, 181.0, 300.0])
def test_centred_crystal_sits_on_the_beam_mark_at_every_omega(omega):
    motors = _offset(SCENE.crystal_centred_position(), omega=omega)
    image = render(SCENE, motors, VIEW)
    x, y = _centroid(_crystal_mask(image))
    assert x == pytest.approx(VIEW.beam_x, abs=0.3)
    assert y == pytest.approx(VIEW.beam_y, abs=0.3)


@pytest.mark.parametrize("omega", [0.0, 45.0, 135.0, 250.0])
def test_off_centre_crystal_appears_where_the_projection_says(omega):
    motors = _offset(SCENE.crystal_centred_position(), omega=omega, phiy=0.02, phiz=-0.01, sampx=0.015, sampy=-0.01)
    image = render(SCENE, motors, VIEW)
    x, y = _centroid(_crystal_mask(image))
    ex, ey = crystal_on_screen(SCENE, motors, VIEW)
    assert (x, y) == pytest.approx((ex, ey), abs=0.3)
    assert abs(ex - VIEW.beam_x) > 10  # really off centre


def test_an_off_axis_crystal_moves_on_a_sinusoid_with_omega():
    motors = _offset(SCENE.crystal_centred_position(), sampx=0.02)
    ys = [crystal_on_screen(SCENE, _offset(motors, omega=w), VIEW)[1] for w in (0.0, 90.0, 180.0, 270.0)]
    dy = np.array(ys) - VIEW.beam_y
    # sampx shows up as sin(omega): nothing at 0/180, +/- 20 um at 90/270
    assert dy[0] == pytest.approx(0.0, abs=1e-9)
    assert dy[1] == pytest.approx(-0.02 * VIEW.pixels_per_mm_y)
    assert dy[3] == pytest.approx(0.02 * VIEW.pixels_per_mm_y)


def test_pin_comes_from_the_right_and_the_tip_points_left():
    motors = _offset(SCENE.crystal_centred_position(), omega=10.0)
    image = render(SCENE, motors, VIEW).astype(int).sum(axis=2)
    dark = image < 3 * 150
    assert dark[:, -1].any(), "the pin should reach the right edge"
    assert not dark[:, 0].any(), "nothing should touch the left edge"
    cols = np.nonzero(dark.any(axis=0))[0]
    assert cols.min() < VIEW.beam_x < cols.max()


def test_the_loop_is_foreshortened_when_seen_edge_on():
    def dark_rows(omega: float) -> int:
        """Height of the dark silhouette left of the stem (loop and crystal)."""
        motors = _offset(SCENE.crystal_centred_position(), omega=omega)
        image = render(SCENE, motors, VIEW).astype(int).sum(axis=2)
        rows = np.nonzero((image[:, : int(VIEW.beam_x) + 30] < 3 * 150).any(axis=1))[0]
        return int(rows.max() - rows.min())

    # the loop plane is at 60 deg in the table: face-on at omega = 90 - 60, edge-on 90 deg later
    assert dark_rows(120.0) < 0.5 * dark_rows(30.0)


def test_an_empty_pin_shows_only_background():
    scene = SampleScene(mounted=False)
    image = render(scene, _offset(scene.crystal_centred_position(), omega=0.0), VIEW)
    assert image.shape == (VIEW.height, VIEW.width, 3)
    assert image.dtype == np.uint8
    assert image.min() > 180


def test_noise_is_reproducible_per_frame_index():
    scene = SampleScene(noise_level=4.0)
    motors = _offset(scene.crystal_centred_position(), omega=0.0)
    a = render(scene, motors, VIEW, frame_index=3)
    b = render(scene, motors, VIEW, frame_index=3)
    c = render(scene, motors, VIEW, frame_index=4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_configuration_errors_are_clear():
    with pytest.raises(ValidationError, match="missing"):
        SampleScene(crystal_position={"phiy": 0.0})
    with pytest.raises(ValidationError, match=r"\+1 or -1"):
        MotorDirections(phiy=2)


def test_crystal_points_lie_inside_the_crystal():
    pts = SCENE.crystal_points(500)
    c = SCENE.crystal_position
    assert pts.shape == (500, 3)
    assert np.all(np.abs(pts[:, 0] - c["phiy"]) <= SCENE.crystal_semi_axes_mm[0] + 1e-12)
    r = np.hypot(pts[:, 1] - c["sampx"], pts[:, 2] - c["sampy"])
    assert np.all(r <= max(SCENE.crystal_semi_axes_mm[1:]) + 1e-12)


# --- agreement with mxcubecore's own SampleView maths --------------------------------------


class _Motor:
    def __init__(self, value: float) -> None:
        self.value = value

    def get_value(self) -> float:
        return self.value


def _sample_view(monkeypatch, motors: dict[str, float], view: CameraView):
    """A bare mxcubecore SampleView whose maths read a stub beamline (no hardware loaded)."""
    from mxcubecore import HardwareRepository as HWR
    from mxcubecore.HardwareObjects import sample_centring
    from mxcubecore.HardwareObjects.SampleView import SampleView

    stub = SimpleNamespace(
        beam=SimpleNamespace(get_beam_position_on_screen=lambda: (view.beam_x, view.beam_y)),
        diffractometer=SimpleNamespace(
            get_pixels_per_mm=lambda: (view.pixels_per_mm_x, view.pixels_per_mm_y),
            wait_status_ready=lambda *a: True,
        ),
    )
    monkeypatch.setattr(HWR, "beamline", stub)
    sv = SampleView.__new__(SampleView)
    sv.chi_angle = 0
    directions = view.directions.model_dump()
    sv.centring_motors = {
        role: sample_centring.CentringMotor(_Motor(motors[role]), direction=directions[role])
        for role in ("omega", "phiy", "phiz", "sampx", "sampy")
    }
    return sv


DIRECTION_SETS = [
    MotorDirections(),
    MotorDirections(omega=-1, sampx=-1),
    MotorDirections(phiy=-1, phiz=-1, sampy=-1),
    MotorDirections(omega=-1, phiy=-1, phiz=-1, sampx=-1, sampy=-1),
]


@pytest.mark.parametrize(("directions", "omega"), list(itertools.product(DIRECTION_SETS, [0.0, 33.0, 128.0, 251.0])))
def test_projection_matches_sample_view_motor_positions_to_screen(monkeypatch, directions, omega):
    view = VIEW.model_copy(update={"directions": directions})
    motors = _offset(SCENE.crystal_centred_position(), omega=omega, phiy=-0.011, phiz=0.007, sampx=0.013, sampy=0.009)
    sv = _sample_view(monkeypatch, motors, view)
    x, y = sv.motor_positions_to_screen(SCENE.crystal_centred_position())
    ex, ey = crystal_on_screen(SCENE, motors, view)
    assert (x, y) == (int(ex), int(ey))


@pytest.mark.parametrize(("directions", "omega"), list(itertools.product(DIRECTION_SETS, [12.0, 95.0, 222.0])))
def test_click_to_motors_matches_get_centred_point_from_coord(monkeypatch, directions, omega):
    view = VIEW.model_copy(update={"directions": directions})
    motors = _offset(SCENE.crystal_centred_position(), omega=omega, phiy=0.02, phiz=-0.004, sampx=-0.01, sampy=0.02)
    sv = _sample_view(monkeypatch, motors, view)
    x, y = crystal_on_screen(SCENE, motors, view)
    theirs = sv.get_centred_point_from_coord(x, y)
    ours = centred_position_from_click(x, y, motors, view)
    assert set(theirs) == set(ours)
    for role in theirs:
        assert ours[role] == pytest.approx(theirs[role], abs=1e-9), role
    # and at the position mxcubecore computes the crystal shows at the beam mark, for that omega
    bx, by = crystal_on_screen(SCENE, ours, view)
    assert (bx, by) == pytest.approx((view.beam_x, view.beam_y), abs=1e-6)


def test_project_accepts_a_batch_of_points():
    motors = _offset(SCENE.crystal_centred_position(), omega=10.0)
    pts = SCENE.crystal_points(7)
    xy = project(pts, SCENE.crystal_position["phiz"], motors, VIEW)
    assert xy.shape == (7, 2)
