"""A synthetic sample-camera picture of a pin, loop and crystal, for the simulated beamline.

Pure numpy: no mxcubecore, no gevent. The geometry is exactly the one mxcubecore 2.149's
``SampleView`` assumes (``motor_positions_to_screen`` / ``get_centred_point_from_coord``), so that a
sample the renderer shows at the beam mark is "centred" for mxcubecore too:

* every point of the sample is described by the motor positions that would centre it
  (``phiy, sampx, sampy``, "sample coordinates", mm) plus one ``phiz`` for the whole sample, the
  phiz that puts the rotation axis on the beam;
* with the motors at ``m`` and ``w = radians(d_omega * omega)`` the point appears at
  ``x = beam_x + ppmm_x * d_phiy * (phiy - m.phiy)`` and
  ``y = beam_y + ppmm_y * (d_sampx (sampx - m.sampx) sin w + d_sampy (sampy - m.sampy) cos w
  + d_phiz (phiz - m.phiz))``
  where the ``d_*`` are SampleView's ``motor_directions`` (±1).

The picture follows Murko's ``main`` assumption: dark sample on a light background, loop tip
pointing left, pin coming in from the right.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

CENTRING_ROLES = ("phiy", "phiz", "sampx", "sampy")
"""The motors that place a sample; omega only turns it."""

RGB = tuple[int, int, int]


class MotorDirections(BaseModel):
    """SampleView's ``motor_directions``: +1 or -1 per centring motor."""

    model_config = ConfigDict(frozen=True)

    omega: int = 1
    phiy: int = 1
    phiz: int = 1
    sampx: int = 1
    sampy: int = 1

    @field_validator("omega", "phiy", "phiz", "sampx", "sampy")
    @classmethod
    def _unit(cls, value: int) -> int:
        if value not in (1, -1):
            raise ValueError(f"a motor direction must be +1 or -1, got {value}")
        return value


class CameraView(BaseModel):
    """What the beamline says about the sample camera: size, beam mark, calibration."""

    model_config = ConfigDict(frozen=True)

    width: int = Field(640, gt=8, le=8192)
    height: int = Field(480, gt=8, le=8192)
    beam_x: float = 318.0
    beam_y: float = 238.0
    pixels_per_mm_x: float = Field(1.0 / 0.000444, gt=0)
    pixels_per_mm_y: float = Field(1.0 / 0.000446, gt=0)
    directions: MotorDirections = MotorDirections()


class SampleScene(BaseModel):
    """Where the sample is and what it looks like. Lengths in mm, angles in degrees.

    ``crystal_position`` holds the motor positions that centre the crystal's centre; the loop,
    stem and pin are placed relative to it. The loop lies in the plane spanned by the rotation
    axis and the direction ``loop_plane_deg`` of the (sampx, sampy) table plane.
    """

    model_config = ConfigDict(frozen=True)

    mounted: bool = True
    crystal_position: dict[str, float] = Field(
        default_factory=lambda: {"phiy": 0.5, "phiz": 0.2, "sampx": 0.1, "sampy": -0.05}
    )
    crystal_semi_axes_mm: tuple[float, float, float] = (0.018, 0.014, 0.008)
    """Along the axis, then the two axes in the table plane."""
    crystal_angle_deg: float = 30.0
    """Direction of the crystal's first table-plane axis, from sampx towards sampy."""
    crystal_in_loop_mm: tuple[float, float] = (-0.008, 0.006)
    """Crystal centre minus loop centre: along the axis and in the loop plane."""
    loop_semi_axes_mm: tuple[float, float] = (0.055, 0.045)
    """Loop half-length along the axis and half-width in its plane."""
    loop_wire_mm: float = 0.006
    loop_plane_deg: float = 60.0
    stem_radius_mm: float = 0.007
    stem_length_mm: float = 0.09
    pin_radius_mm: float = 0.06
    background_rgb: RGB = (224, 228, 232)
    pin_rgb: RGB = (72, 74, 80)
    stem_rgb: RGB = (92, 92, 98)
    loop_rgb: RGB = (50, 50, 56)
    film_rgb: RGB = (196, 204, 210)
    crystal_rgb: RGB = (120, 64, 22)
    noise_level: float = Field(0.0, ge=0.0, le=50.0)
    """Standard deviation of the grey noise added per frame, in 8-bit levels (0: none)."""

    @field_validator("crystal_position")
    @classmethod
    def _has_roles(cls, value: dict[str, float]) -> dict[str, float]:
        missing = [role for role in CENTRING_ROLES if role not in value]
        if missing:
            raise ValueError(f"crystal_position needs {', '.join(CENTRING_ROLES)}; missing {missing}")
        return {role: float(value[role]) for role in CENTRING_ROLES}

    def crystal_centred_position(self) -> dict[str, float]:
        """The motor positions at which the crystal centre sits on the axis, in the beam."""
        return dict(self.crystal_position)

    def loop_centre(self) -> np.ndarray:
        """Loop centre in sample coordinates ``(phiy, sampx, sampy)``."""
        c = self.crystal_position
        along, across = self.crystal_in_loop_mm
        e = _unit(self.loop_plane_deg)
        return np.array([c["phiy"] - along, c["sampx"] - across * e[0], c["sampy"] - across * e[1]])

    def crystal_points(self, n: int = 200, seed: int = 0) -> np.ndarray:
        """``n`` points inside the crystal, sample coordinates ``(phiy, sampx, sampy)`` (N, 3)."""
        rng = np.random.default_rng(seed)
        direction = rng.normal(size=(n, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        radius = rng.uniform(0.0, 1.0, size=(n, 1)) ** (1.0 / 3.0)
        local = direction * radius * np.asarray(self.crystal_semi_axes_mm)
        g1 = _unit(self.crystal_angle_deg)
        g2 = np.array([-g1[1], g1[0]])
        c = self.crystal_position
        return np.column_stack(
            [
                c["phiy"] + local[:, 0],
                c["sampx"] + local[:, 1] * g1[0] + local[:, 2] * g2[0],
                c["sampy"] + local[:, 1] * g1[1] + local[:, 2] * g2[1],
            ]
        )


def _unit(angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([math.cos(a), math.sin(a)])


def _omega_rad(motors: Mapping[str, float], view: CameraView) -> float:
    return math.radians(view.directions.omega * float(motors["omega"]))


def _vertical_direction(motors: Mapping[str, float], view: CameraView) -> np.ndarray:
    """How a (sampx, sampy) displacement shows up on the image's vertical axis (unit vector)."""
    w = _omega_rad(motors, view)
    d = view.directions
    return np.array([d.sampx * math.sin(w), d.sampy * math.cos(w)])


def project(
    points: np.ndarray, phiz: float, motors: Mapping[str, float], view: CameraView
) -> np.ndarray:
    """Image positions ``(x, y)`` in pixels of sample points ``(phiy, sampx, sampy)`` (N, 3).

    ``phiz`` is the sample's axis phiz (``crystal_position["phiz"]``). Same formula as
    ``SampleView.motor_positions_to_screen`` (chi = 0), in floating point.
    """
    pts = np.atleast_2d(np.asarray(points, dtype=float))
    d = view.directions
    p = _vertical_direction(motors, view)
    x = view.beam_x + view.pixels_per_mm_x * d.phiy * (pts[:, 0] - motors["phiy"])
    vertical_mm = (
        p[0] * (pts[:, 1] - motors["sampx"])
        + p[1] * (pts[:, 2] - motors["sampy"])
        + d.phiz * (phiz - motors["phiz"])
    )
    y = view.beam_y + view.pixels_per_mm_y * vertical_mm
    return np.column_stack([x, y])


def crystal_on_screen(scene: SampleScene, motors: Mapping[str, float], view: CameraView) -> tuple[float, float]:
    """Where the crystal centre appears, ``(x, y)`` pixels."""
    c = scene.crystal_position
    xy = project(np.array([[c["phiy"], c["sampx"], c["sampy"]]]), c["phiz"], motors, view)[0]
    return float(xy[0]), float(xy[1])


def centred_position_from_click(
    x: float, y: float, motors: Mapping[str, float], view: CameraView
) -> dict[str, float]:
    """Motor positions that bring pixel ``(x, y)`` to the beam (``get_centred_point_from_coord``).

    Only the table (sampx, sampy) and phiy move, as in mxcubecore: one view cannot tell how much
    of a vertical offset is the axis (phiz) and how much the table.
    """
    d = view.directions
    dx = (x - view.beam_x) / view.pixels_per_mm_x
    dy = (y - view.beam_y) / view.pixels_per_mm_y
    p = _vertical_direction(motors, view)
    return {
        "omega": float(motors["omega"]),
        "phiy": float(motors["phiy"]) + d.phiy * dx,
        "phiz": float(motors["phiz"]),
        "sampx": float(motors["sampx"]) + p[0] * dy,
        "sampy": float(motors["sampy"]) + p[1] * dy,
    }


def _coverage(signed_distance_px: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage (0..1) from a signed distance in pixels (negative inside)."""
    return np.clip(0.5 - signed_distance_px, 0.0, 1.0)


def _ellipse_distance(dx: np.ndarray, dy: np.ndarray, ax: float, ay: float) -> np.ndarray:
    """Approximate signed distance (pixels) to an axis-aligned ellipse with semi-axes ax, ay."""
    ax = max(ax, 1e-6)
    ay = max(ay, 1e-6)
    f = np.sqrt((dx / ax) ** 2 + (dy / ay) ** 2)
    grad = np.sqrt((dx / ax**2) ** 2 + (dy / ay**2) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.where(grad > 0, (f * f - 1.0) / (2.0 * np.maximum(grad * f, 1e-12)), -min(ax, ay))
    return sd


def _band_distance(dy: np.ndarray, half_width: float) -> np.ndarray:
    return np.abs(dy) - half_width


def _paint(image: np.ndarray, alpha: np.ndarray, rgb: RGB) -> None:
    a = alpha[..., None]
    image *= 1.0 - a
    image += a * np.asarray(rgb, dtype=np.float32)


def render(
    scene: SampleScene,
    motors: Mapping[str, float],
    view: CameraView,
    *,
    frame_index: int = 0,
) -> np.ndarray:
    """The camera picture (H, W, 3) uint8 RGB for the motors at ``motors`` (roles → positions).

    ``motors`` needs omega, phiy, phiz, sampx and sampy. ``frame_index`` seeds the optional noise,
    so the same frame index gives the same picture.
    """
    h, w = view.height, view.width
    image = _background(h, w, scene.background_rgb).copy()
    if scene.mounted:
        _draw_sample(image, scene, motors, view)
    if scene.noise_level > 0:
        rng = np.random.default_rng(frame_index)
        image += rng.normal(0.0, scene.noise_level, size=(h, w, 1)).astype(np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _background(h: int, w: int, rgb: RGB) -> np.ndarray:
    """Background with a soft vertical illumination gradient, as on a real OAV (cached)."""
    rows = np.arange(h, dtype=np.float32)[:, None, None]
    image = np.broadcast_to(np.asarray(rgb, dtype=np.float32), (h, w, 3)).copy()
    image *= 1.0 - 0.16 * ((rows - h / 2.0) / h) ** 2
    image.setflags(write=False)
    return image


class _Window:
    """A clipped rectangle of the image, with its pixel coordinates, so shapes cost their size."""

    def __init__(self, image: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> None:
        h, w = image.shape[:2]
        c0, c1 = max(int(math.floor(x0)) - 2, 0), min(int(math.ceil(x1)) + 3, w)
        r0, r1 = max(int(math.floor(y0)) - 2, 0), min(int(math.ceil(y1)) + 3, h)
        self.empty = c0 >= c1 or r0 >= r1
        self.pixels = image[r0:r1, c0:c1]
        self.rows = np.arange(r0, r1, dtype=np.float32)[:, None]
        self.cols = np.arange(c0, c1, dtype=np.float32)[None, :]

    def paint(self, signed_distance_px: np.ndarray, rgb: RGB, opacity: float = 1.0) -> None:
        if not self.empty:
            _paint(self.pixels, _coverage(signed_distance_px) * opacity, rgb)


def _draw_sample(image: np.ndarray, scene: SampleScene, motors: Mapping[str, float], view: CameraView) -> None:
    ppx, ppy = view.pixels_per_mm_x, view.pixels_per_mm_y
    h, w = image.shape[:2]
    phiz = scene.crystal_position["phiz"]
    p = _vertical_direction(motors, view)

    loop_centre = scene.loop_centre()
    lx, ly = project(loop_centre[None, :], phiz, motors, view)[0]
    loop_along, loop_across = scene.loop_semi_axes_mm
    foreshortening = abs(float(p @ _unit(scene.loop_plane_deg)))
    half_wire = scene.loop_wire_mm / 2.0

    # the pin enters from the right on the screen (Murko main's "tip left" assumption)
    stem_start_x = lx + loop_along * ppx
    stem_end_x = stem_start_x + scene.stem_length_mm * ppx
    stem_half = scene.stem_radius_mm * ppy

    # pin: a thick rod from stem_end_x to the right edge, with a rounded (conical) tip
    pin_half = scene.pin_radius_mm * ppy
    win = _Window(image, stem_end_x, w, ly - pin_half, ly + pin_half)
    if not win.empty:
        taper = np.clip((win.cols - stem_end_x) / max(pin_half * 1.5, 1.0), 0.0, 1.0)
        halfwidth = stem_half + (pin_half - stem_half) * np.sqrt(taper)
        win.paint(np.maximum(_band_distance(win.rows - ly, halfwidth), stem_end_x - win.cols), scene.pin_rgb)

    # stem: a thin rod from the loop to the pin
    win = _Window(image, stem_start_x - 2.0, stem_end_x + 2.0, ly - stem_half, ly + stem_half)
    if not win.empty:
        win.paint(
            np.maximum(
                _band_distance(win.rows - ly, stem_half),
                np.maximum(stem_start_x - 2.0 - win.cols, win.cols - stem_end_x - 2.0),
            ),
            scene.stem_rgb,
        )

    # loop: film inside, then the wire ring, both foreshortened by the loop plane's angle
    outer_ax, outer_ay = (loop_along + half_wire) * ppx, (loop_across * foreshortening + half_wire) * ppy
    inner_ax = (loop_along - half_wire) * ppx
    inner_ay = max(loop_across * foreshortening - half_wire, 0.0) * ppy
    win = _Window(image, lx - outer_ax, lx + outer_ax, ly - outer_ay, ly + outer_ay)
    if not win.empty:
        dxl, dyl = win.cols - lx, win.rows - ly
        outer_sd = _ellipse_distance(dxl, dyl, outer_ax, outer_ay)
        if inner_ay > 0.5:
            inner_sd = _ellipse_distance(dxl, dyl, inner_ax, inner_ay)
            win.paint(inner_sd, scene.film_rgb, opacity=0.8)
            outer_sd = np.maximum(outer_sd, -inner_sd)
        win.paint(outer_sd, scene.loop_rgb)

    # crystal: an ellipsoid, whose orthographic shadow is an ellipse centred on its centre's image
    cx, cy = crystal_on_screen(scene, motors, view)
    r_along, r1, r2 = scene.crystal_semi_axes_mm
    g1 = _unit(scene.crystal_angle_deg)
    g2 = np.array([-g1[1], g1[0]])
    ax, ay = r_along * ppx, math.hypot(r1 * float(p @ g1), r2 * float(p @ g2)) * ppy
    win = _Window(image, cx - ax, cx + ax, cy - ay, cy + ay)
    if not win.empty:
        win.paint(_ellipse_distance(win.cols - cx, win.rows - cy, ax, ay), scene.crystal_rgb)
