"""The centring maths, without a beamline: views in, motor corrections out.

Inputs are what a centring records: the omega of each view, Murko's click there as (row, column)
fractions of the camera picture (NaN where nothing was found), the picture and prediction-grid
sizes, the beam mark, the pixels-per-mm, which way the rotation axis runs on the picture, and
the site's conventions (:class:`Conventions`). Out come the four corrections, both fits and
their residuals. The MurkoCentring HardwareObject only takes the pictures and moves the motors;
``mxcube-interleave murko-refit`` runs the same function on a stored centring.

Across the axis, ``c + A cos w + B sin w`` is fitted to the click offsets from the beam
(murko.md §2.3): ``sampx += s_x B``, ``sampy += s_y A``, ``phiz += s_z c``. Along the axis the
correction is ``phiy += s_a a`` where ``a`` is the mean of the along offsets (``along="mean"``)
or the ``c`` of the same sinusoid fitted to them (``along="fit"``, SOLEIL's choice; the two
differ when the omegas are unevenly spread).

Pure: numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mxcubecore_interleave.murko.fit import SinusoidFit, fit_sinusoid

TRANSLATIONS = ("phiy", "phiz", "sampx", "sampy")
AXES = ("horizontal", "vertical")
ALONG_RULES = ("mean", "fit")
PIXEL_CONVENTIONS = ("centre", "corner")
"""How a Murko fraction ``f`` (prediction-pixel index / grid size) becomes camera pixels:
``centre``: ``(f + 0.5/Hp)·H − 0.5``, the centre of the camera pixels that prediction pixel
covers, in the beam mark's convention (pixel k's centre at k); ``corner``: ``f·H`` (SOLEIL),
the corner of that area, half a prediction pixel less (1.5 camera px at 1024 rows / 256)."""


@dataclass(frozen=True)
class Conventions:
    """A site's way of turning Murko clicks into motor moves (see the module docstring)."""

    signs: Mapping[str, int] = field(default_factory=lambda: {m: 1 for m in TRANSLATIONS})
    along: str = "mean"
    pixel: str = "centre"
    name: str = "custom"

    def __post_init__(self) -> None:
        signs = {m: int(self.signs.get(m, 1)) for m in TRANSLATIONS}
        if set(self.signs) - set(TRANSLATIONS):
            raise ValueError(f"sign factors for unknown motors {sorted(set(self.signs) - set(TRANSLATIONS))}")
        if any(v not in (1, -1) for v in signs.values()):
            raise ValueError(f"a sign factor must be +1 or -1, got {signs}")
        if self.along not in ALONG_RULES:
            raise ValueError(f"along-axis rule {self.along!r}: use one of {', '.join(ALONG_RULES)}")
        if self.pixel not in PIXEL_CONVENTIONS:
            raise ValueError(f"pixel convention {self.pixel!r}: use one of {', '.join(PIXEL_CONVENTIONS)}")
        object.__setattr__(self, "signs", signs)

    def with_signs(self, signs: Mapping[str, int]) -> Conventions:
        return replace(self, signs=dict(signs))


PRESETS: dict[str, Conventions] = {
    "default": Conventions(name="default"),
    "soleil": Conventions(name="soleil", signs={"sampx": 1, "sampy": 1, "phiz": -1, "phiy": 1}, along="fit", pixel="corner"),
}
"""``default``: this project's (all signs +1 as on mxcubecore's mockup, along = mean, pixel
centres). ``soleil``: PX2A's MD3 (``useful_routines.get_move_vector_dictionary_from_fit``):
CentringX = sampx += B, CentringY = sampy += A, AlignmentZ = phiz −= c, AlignmentY = phiy += the
along fit's c, clicks at ``f·H``; used with a vertical axis, tip up (orientation vertical_up,
server_tip up)."""

PRESET_ORIENTATION = {"soleil": ("vertical_up", "up")}
"""(camera orientation, server tip) a preset goes with, when the configuration names none."""


def preset(name: str) -> Conventions:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown centring conventions {name!r}; presets: {', '.join(PRESETS)}") from None


def conventions_from(settings: Any) -> Conventions:
    """The conventions of a configuration (``conventions`` preset, ``signs``, ``along_axis``,
    ``pixel_convention``; the last two None for the preset's)."""
    base = preset(settings.conventions)
    signs = settings.signs.model_dump() if hasattr(settings.signs, "model_dump") else dict(settings.signs)
    return Conventions(signs=signs, along=settings.along_axis or base.along,
                       pixel=settings.pixel_convention or base.pixel, name=base.name)


@dataclass(frozen=True)
class Geometry:
    """The camera's side of the maths for one round."""

    image_shape: tuple[int, int]
    """Camera picture (rows, columns)."""
    grid_shape: tuple[int, int]
    """Murko's prediction grid (rows, columns) in the camera's frame."""
    beam_px: tuple[float, float]
    """Beam mark (x, y) camera pixels, pixel k's centre at k."""
    pixels_per_mm: tuple[float, float]
    """(x, y)."""
    axis: str = "horizontal"
    """The rotation axis on the picture: along its rows (horizontal) or columns (vertical)."""
    omega_zero_deg: float = 0.0

    def __post_init__(self) -> None:
        if self.axis not in AXES:
            raise ValueError(f"axis {self.axis!r}: use one of {', '.join(AXES)}")
        if min(self.image_shape) < 1 or min(self.grid_shape) < 1:
            raise ValueError(f"picture {self.image_shape} or prediction grid {self.grid_shape} is empty")
        if not all(np.isfinite(v) and v > 0 for v in self.pixels_per_mm):
            raise ValueError(f"pixels per mm must be positive, got {self.pixels_per_mm}")

    def field_of_view_mm(self) -> tuple[float, float]:
        """(across the axis, along it): what the camera shows at this zoom."""
        h_mm = self.image_shape[0] / self.pixels_per_mm[1]
        w_mm = self.image_shape[1] / self.pixels_per_mm[0]
        return (h_mm, w_mm) if self.axis == "horizontal" else (w_mm, h_mm)


@dataclass(frozen=True)
class Solution:
    """The corrections, the fits they come from, and what went in, per view."""

    correction: dict[str, float]
    across: SinusoidFit
    along_fit: SinusoidFit
    along_mm: float
    """The along-axis value used (mean or fit c, per the conventions)."""
    shift_mm: np.ndarray
    """(N, 2): (across, along) offsets from the beam, NaN where nothing was found."""
    click_px: np.ndarray
    """(N, 2): (row, column) camera pixels in the conventions' pixel rule, NaN where absent."""
    found: np.ndarray
    conventions: Conventions

    @property
    def rms_mm(self) -> float:
        return float(self.across.rms)


def clicks_to_pixels(click_frac: Any, geometry: Geometry, pixel: str = "centre") -> np.ndarray:
    """(N, 2) (row, column) fractions to camera pixels with the ``pixel`` rule."""
    f = np.asarray(click_frac, dtype=float).reshape(-1, 2)
    size = np.asarray(geometry.image_shape, dtype=float)
    if pixel == "corner":
        return f * size
    if pixel != "centre":
        raise ValueError(f"pixel convention {pixel!r}: use one of {', '.join(PIXEL_CONVENTIONS)}")
    return (f + 0.5 / np.asarray(geometry.grid_shape, dtype=float)) * size - 0.5


def solve(omega_deg: Any, click_frac: Any, geometry: Geometry, conventions: Conventions = PRESETS["default"]) -> Solution:
    """Fit the views where the sample was found (finite clicks) and give the four corrections.

    Raises ValueError when fewer than 3 views, not all 0/180 degrees apart, have a click.
    """
    omega = np.asarray(omega_deg, dtype=float).reshape(-1)
    frac = np.asarray(click_frac, dtype=float).reshape(-1, 2)
    if omega.size != len(frac):
        raise ValueError(f"{omega.size} angles but {len(frac)} clicks")
    found = np.all(np.isfinite(frac), axis=1) & np.isfinite(omega)
    px = np.full_like(frac, np.nan)
    px[found] = clicks_to_pixels(frac[found], geometry, conventions.pixel)
    (beam_x, beam_y), (ppmm_x, ppmm_y) = geometry.beam_px, geometry.pixels_per_mm
    d_row = (px[:, 0] - beam_y) / ppmm_y
    d_col = (px[:, 1] - beam_x) / ppmm_x
    shift = np.column_stack([d_row, d_col] if geometry.axis == "horizontal" else [d_col, d_row])
    angles = omega[found] - geometry.omega_zero_deg
    across = fit_sinusoid(angles, shift[found, 0])
    along_fit = fit_sinusoid(angles, shift[found, 1])
    along = float(np.mean(shift[found, 1])) if conventions.along == "mean" else float(along_fit.c)
    s = conventions.signs
    correction = {
        "sampx": s["sampx"] * float(across.B),
        "sampy": s["sampy"] * float(across.A),
        "phiz": s["phiz"] * float(across.c),
        "phiy": s["phiy"] * along,
    }
    return Solution(correction, across, along_fit, along, shift, px, found, conventions)
