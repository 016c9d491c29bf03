"""Two sweeps that would collect the same data: same energy, same kappa/phi, overlapping omega
(and the same resolution or distance, transmission and exposure: otherwise it is another measurement).

Collecting the same reflections twice is usually a typing slip (a row copied and not edited);
a deliberate repeat (a dose series, a radiation-damage reference) says so with the sweep's
``repeat`` flag. Inverse-beam partners (omega + 180 deg) are generated, not typed, and are
never compared with their own sweep.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["duplicate_message", "omega_ranges_overlap"]

ENERGY_TOL_KEV = 1e-4
ANGLE_TOL_DEG = 1e-3


def omega_ranges_overlap(start_a: float, len_a: float, start_b: float, len_b: float) -> bool:
    """Whether two omega ranges share an angle (on the circle: 0–10 and 360–370 deg overlap)."""
    if len_a >= 360.0 - ANGLE_TOL_DEG or len_b >= 360.0 - ANGLE_TOL_DEG:
        return True
    d = (start_b - start_a) % 360.0  # where b starts, seen from a's start
    return d < len_a - ANGLE_TOL_DEG or (360.0 - d) < len_b - ANGLE_TOL_DEG


def _same_setting(a: Any, b: Any) -> bool:
    """Same energy and orientation, and nothing else that makes it other data: a sweep at another
    resolution, detector distance, transmission or exposure is a different measurement."""
    return (math.isclose(a.energy, b.energy, abs_tol=ENERGY_TOL_KEV)
            and abs(a.kappa - b.kappa) <= ANGLE_TOL_DEG and abs(a.phi - b.phi) <= ANGLE_TOL_DEG
            and a.resolution == b.resolution and a.detector_distance == b.detector_distance
            and math.isclose(a.transmission, b.transmission) and math.isclose(a.exposure_time, b.exposure_time))


def duplicate_message(sweeps: Sequence[Any]) -> str | None:
    """The first pair of sweeps that repeat each other without saying so, as the user's message."""
    for i, a in enumerate(sweeps):
        for b in sweeps[i + 1:]:
            if a.repeat or b.repeat or a.inverse_of == b.id or b.inverse_of == a.id:
                continue
            span_a, span_b = a.osc_range * a.num_images, b.osc_range * b.num_images
            if _same_setting(a, b) and omega_ranges_overlap(a.omega_start, span_a, b.omega_start, span_b):
                return (f"sweeps {a.id!r} and {b.id!r} have the same energy ({a.energy:.4f} keV), kappa "
                        f"{a.kappa:g} deg and phi {a.phi:g} deg (and detector, transmission and exposure), and their "
                        f"omega ranges overlap "
                        f"({a.omega_start:g}–{a.omega_start + span_a:g} and {b.omega_start:g}–"
                        f"{b.omega_start + span_b:g} deg): the same data twice. Change the energy, "
                        "kappa, phi or omega start of one of them, or mark the second as an intended "
                        "repeat (\"repeat\": true, 'Intended repeat' in the form)")
    return None
