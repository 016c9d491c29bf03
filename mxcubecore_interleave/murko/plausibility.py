"""Is Murko's answer a centring at all? Checks run before any motor moves.

A reply can be well-formed and still nonsense: clicks far outside the picture, a mask that
covers nothing or the whole picture (what untrained weights answer), a correction larger than
what the camera shows, a fit whose residual is not small against the sample. Each check that
fails raises :class:`CentringRefused` naming the check, with the numbers; the caller moves
nothing and stores the refusal as the centring's outcome.

With only 3 or 4 views the fit has 0 or 1 degrees of freedom, so a small RMS proves little:
:func:`needs_verification` asks for one more round, and :func:`check_verification` accepts the
centring only if that round's correction is small against the first one's.

Pure: numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mxcubecore_interleave.errors import CentringRefused
from mxcubecore_interleave.murko.solver import Geometry, Solution


@dataclass(frozen=True)
class Limits:
    """Thresholds of the checks (the HardwareObject's configuration fills them)."""

    min_foreground_fraction: float = 0.001
    """A found sample covers at least this fraction of the prediction grid (min_size 64 of 256x320 is 0.0008)."""
    max_foreground_fraction: float = 0.7
    """... and at most this: a mask over (nearly) the whole picture is not a sample."""
    max_correction_mm: float | None = None
    """Largest correction of any motor; None: the field of view at the current zoom (across the
    axis for phiz, sampx, sampy; along it for phiy)."""
    max_rms_mm: float = 0.02
    max_rms_fraction: float = 0.25
    """The fit's RMS must also be below this fraction of the sample's size across the axis."""
    min_views: int = 5
    """With fewer views found, one more round verifies the first (see the module docstring)."""
    verify_ratio: float = 0.5
    verify_floor_mm: float = 0.005
    """The verifying round's largest correction must be below max(verify_ratio x the first's, this)."""


def limits_from(settings: Any) -> Limits:
    """The limits of a configuration (fields of the same names)."""
    return Limits(**{name: getattr(settings, name) for name in Limits.__dataclass_fields__})


def _refuse(check: str, message: str, outcome: str = "nothing moved") -> None:
    raise CentringRefused(check, f"{message}; {outcome}")


def check_views(click_frac: Any, present: Any, masks: list[np.ndarray], grid_shape: tuple[int, int], limits: Limits) -> None:
    """Clicks inside the picture, one mask shape, foreground coverage within the limits."""
    frac = np.asarray(click_frac, dtype=float).reshape(-1, 2)
    grid = np.asarray(grid_shape, dtype=float)
    for k, (is_present, f) in enumerate(zip(present, frac)):
        if not is_present:
            continue
        position = f + 0.5 / grid  # the click's position in [0, 1] of the picture's extent
        if not (np.all(np.isfinite(position)) and np.all(position >= 0.0) and np.all(position <= 1.0)):
            _refuse("click_inside", f"view {k}: Murko's click at fractions ({f[0]:.4g}, {f[1]:.4g}) (row, column) "
                    "lies outside the picture (fractions are in [0, 1))")
    for k, (is_present, mask) in enumerate(zip(present, masks)):
        if tuple(mask.shape) != tuple(grid_shape):
            _refuse("mask_shape", f"view {k}: the foreground mask is {mask.shape[0]} x {mask.shape[1]}, "
                    f"not the prediction grid {grid_shape[0]} x {grid_shape[1]}")
        if not is_present:
            continue
        covered = float(np.count_nonzero(mask)) / mask.size
        if covered < limits.min_foreground_fraction:
            _refuse("coverage", f"view {k}: Murko found a sample but its mask covers {covered:.2%} of the "
                    f"picture (< min_foreground_fraction {limits.min_foreground_fraction:.2%})")
        if covered > limits.max_foreground_fraction:
            _refuse("coverage", f"view {k}: the sample's mask covers {covered:.1%} of the picture "
                    f"(> max_foreground_fraction {limits.max_foreground_fraction:.0%}): not a sample")


def sample_size_mm(masks: list[np.ndarray], present: Any, geometry: Geometry) -> float:
    """Median extent across the rotation axis of the found views' foreground, mm."""
    rows_axis = 1 if geometry.axis == "horizontal" else 0  # reduce along the axis
    scale = (geometry.image_shape[0] / geometry.grid_shape[0] / geometry.pixels_per_mm[1]
             if geometry.axis == "horizontal"
             else geometry.image_shape[1] / geometry.grid_shape[1] / geometry.pixels_per_mm[0])
    extents = []
    for mask, is_present in zip(masks, present):
        if is_present:
            lines = np.nonzero(np.asarray(mask, dtype=bool).any(axis=rows_axis))[0]
            extents.append((lines.max() - lines.min() + 1) * scale if lines.size else 0.0)
    return float(np.median(extents)) if extents else 0.0


def correction_limit_mm(geometry: Geometry, limits: Limits) -> dict[str, float]:
    across, along = geometry.field_of_view_mm()
    if limits.max_correction_mm is not None:
        across = along = float(limits.max_correction_mm)
    return {"phiy": along, "phiz": across, "sampx": across, "sampy": across}


def check_solution(solution: Solution, geometry: Geometry, size_mm: float, limits: Limits) -> None:
    """The correction within the limit, the residual small in itself and against the sample."""
    limit = correction_limit_mm(geometry, limits)
    for motor, value in solution.correction.items():
        if not np.isfinite(value) or abs(value) > limit[motor]:
            source = "max_correction_mm" if limits.max_correction_mm is not None else "the camera's field of view"
            _refuse("correction_limit", f"the {motor} correction {value * 1000:.1f} um exceeds "
                    f"{limit[motor] * 1000:.1f} um ({source})")
    rms = solution.rms_mm
    if rms > limits.max_rms_mm:
        _refuse("residual", f"the Murko clicks do not fit one sinusoid (RMS {rms * 1000:.1f} um > max_rms_mm "
                f"{limits.max_rms_mm * 1000:.1f} um): Murko picked different features in different views")
    if rms > limits.max_rms_fraction * size_mm:
        _refuse("residual", f"the fit's RMS {rms * 1000:.2f} um is more than max_rms_fraction "
                f"{limits.max_rms_fraction:g} of the sample's size across the axis ({size_mm * 1000:.1f} um)")


def needs_verification(n_found: int, limits: Limits) -> bool:
    """Too few views for the RMS to mean anything: one more round must confirm the first."""
    return n_found < limits.min_views


def check_verification(first: dict[str, float], second: dict[str, float], limits: Limits) -> None:
    """The verifying round must find the sample (nearly) where the first round put it."""
    before = max(abs(v) for v in first.values())
    after = max(abs(v) for v in second.values())
    allowed = max(limits.verify_ratio * before, limits.verify_floor_mm)
    if after > allowed:
        _refuse("verification", f"the verifying round still wants {after * 1000:.1f} um after a first correction "
                f"of {before * 1000:.1f} um (allowed {allowed * 1000:.1f} um): the first round's clicks were not "
                "on the sample", "motors put back where they were")


def usable_views(omegas: list[float], present: list[bool]) -> bool:
    """At least 3 views with the sample, at angles not all equal modulo 180 degrees."""
    found = [o for o, p in zip(omegas, present) if p]
    if len(found) < 3:
        return False
    return len({round(float(np.fmod(o, 180.0)) % 180.0, 3) for o in found}) >= 2
