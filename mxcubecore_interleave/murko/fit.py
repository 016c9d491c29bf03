"""The multi-angle centring fit: an offset seen at omega is ``c + A cos w + B sin w``.

A point at (A, B) from the rotation axis, seen from the side, moves up and down with omega as
``c + r cos(w - alpha)``. The model is linear in (c, A, B), so ordinary least squares is exact and
needs no starting guess or iteration (SOLEIL's lmfit results are reproduced to 1e-7 mm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SinusoidFit:
    """``y = c + A cos w + B sin w = c + r cos(w - alpha)``; ``rms`` of the residuals (y's unit)."""

    c: float
    A: float
    B: float
    r: float
    alpha: float
    rms: float
    n: int

    def __call__(self, omega_deg: Any) -> np.ndarray:
        w = np.radians(np.asarray(omega_deg, dtype=float))
        return self.c + self.A * np.cos(w) + self.B * np.sin(w)


def fit_sinusoid(omega_deg: Any, values: Any) -> SinusoidFit:
    """Least-squares fit of ``values`` seen at ``omega_deg``; needs 3 views not all 0/180 apart."""
    w = np.radians(np.asarray(omega_deg, dtype=float).reshape(-1))
    y = np.asarray(values, dtype=float).reshape(-1)
    if w.size != y.size:
        raise ValueError(f"{w.size} angles but {y.size} values")
    if w.size < 3:
        raise ValueError(f"the fit needs at least 3 views, got {w.size}")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(y))):
        raise ValueError("the fit got a non-finite angle or offset (a view where nothing was found?)")
    design = np.column_stack([np.ones_like(w), np.cos(w), np.sin(w)])
    if np.linalg.matrix_rank(design, tol=1e-9) < 3:
        raise ValueError("the views' omega angles are all equal modulo 180 degrees; the fit is undetermined")
    (c, a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    rms = float(np.sqrt(np.mean((y - design @ np.array([c, a, b])) ** 2)))
    return SinusoidFit(float(c), float(a), float(b), float(math.hypot(a, b)), float(math.atan2(b, a)), rms, int(w.size))
