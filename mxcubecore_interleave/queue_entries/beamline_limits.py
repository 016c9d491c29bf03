"""The loaded beamline's limits and goniometer axes, read from its hardware objects.

Kept apart from the queue entry so the form, the task check at queue time and the run read them
the same way.
"""

from __future__ import annotations

from typing import Any

from mxcubecore import HardwareRepository as HWR

from mxcubecore_interleave.goniometer import has_motor
from mxcubecore_interleave.interleave import BeamlineLimits

__all__ = ["CENTRED_MOTORS", "beamline_limits", "goniometer_motors"]


def beamline_limits(bl: Any = None) -> BeamlineLimits:
    """The limits of the loaded beamline (energy, transmission, resolution, kappa/phi, exposure)."""
    bl = bl or HWR.beamline
    kw: dict[str, Any] = {}

    def limits_of(obj: Any) -> tuple[float, float] | None:
        try:
            lo, hi = obj.get_limits()
            if lo is not None and hi is not None:
                return float(lo), float(hi)
        except Exception:
            return None
        return None

    for key, obj in (("energy_keV", bl.energy), ("transmission", bl.transmission), ("resolution_A", bl.resolution)):
        lim = limits_of(obj) if obj is not None else None
        if lim:
            kw[key] = lim
    acq = getattr(bl.config, "acquisition_limit_values", None) or {}
    for key, name in (("exposure_time", "exposure_time"), ("kappa", "kappa"), ("phi", "kappa_phi"),
                      ("omega", "osc_start"), ("omega", "omega")):
        if name in acq:
            kw[key] = tuple(float(x) for x in acq[name])
    if "number_of_images" in acq:
        kw["max_images"] = int(acq["number_of_images"][1])
    motors = goniometer_motors(bl.diffractometer)
    kw["has_kappa"], kw["has_phi"] = "kappa" in motors, "kappa_phi" in motors
    return BeamlineLimits(**kw)


CENTRED_MOTORS = ("phiy", "phiz", "sampx", "sampy", "alignmenty", "alignmentz", "centringx", "centringy", "focus")
"""The sample motors of a centred position (kappa/phi come with each sweep): MD2 and MD3 names."""


def goniometer_motors(diffr: Any) -> set[str]:
    """Which of ``kappa`` and ``kappa_phi`` the diffractometer has (a motor object, not None)."""
    return {name for name in ("kappa", "kappa_phi") if has_motor(diffr, name)}
