"""What a Murko centring did, as the queue, the LIMS and the front ends see it.

Kept out of the HardwareObject so that the stored result and its ``centring_status`` are plain
data a site's code (or a test) can read without mxcubecore: the sign conventions, one
acquisition round and the whole result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator

from mxcubecore_interleave.errors import CentringError

__all__ = ["CentringRound", "MurkoCentringResult", "Signs"]


class Signs(BaseModel):
    """Per-beamline sign factors: +1 or -1 for each correction.

    ``sampx += sampx * B``, ``sampy += sampy * A``, ``phiz += phiz * c``, ``phiy += phiy * a``
    (``a``: the mean of the along offsets, or their sinusoid's ``c``; murko.solver),
    where ``c + A cos w + B sin w`` is fitted to the offsets across the axis (picture rows for a
    horizontal axis, columns for a vertical one, positive down / right) and ``along`` are the
    offsets along it (columns, positive right / rows, positive down).
    On mxcubecore's mockup (all SampleView ``motor_directions`` +1) they are all +1; in general
    each equals the SampleView direction of that motor (times the omega direction for sampx).
    A camera turned by 90 degrees turns these conventions with it (docs/murko-centring.md).
    """

    model_config = ConfigDict(frozen=True)

    sampx: int = 1
    sampy: int = 1
    phiz: int = 1
    phiy: int = 1

    @field_validator("sampx", "sampy", "phiz", "phiy")
    @classmethod
    def _unit(cls, value: int) -> int:
        if value not in (1, -1):
            raise ValueError(f"a sign factor must be +1 or -1, got {value}")
        return value


@dataclass
class CentringRound:
    """One acquisition: the views, what Murko said, the fit, the correction applied."""

    omega_deg: list[float]
    start_position: dict[str, float]
    views: list[Any]
    present: list[bool]
    shift_mm: np.ndarray
    """(N, 2) mm: (across the axis, along it) offsets of the clicks from the beam, one row per
    view, NaN where Murko found nothing."""
    fit: Any
    """The fit across the axis (``solution.across``)."""
    correction: dict[str, float]
    images: list[Any] = field(repr=False, default_factory=list)
    """The pictures as taken: RGB arrays, or the camera's own JPEG bytes."""
    axis: str = "horizontal"
    """Rotation axis on the picture: "horizontal" (along the rows) or "vertical"."""
    beam_px: tuple[float, float] = (0.0, 0.0)
    """Beam mark (x, y) pixels when the pictures were taken."""
    pixels_per_mm: tuple[float, float] = (1.0, 1.0)
    """(x, y) calibration when the pictures were taken."""
    solution: Any = field(default=None, repr=False)
    """The solver's :class:`murko.solver.Solution` (fits, shifts, pixels, conventions)."""
    geometry: Any = field(default=None, repr=False)


@dataclass
class MurkoCentringResult:
    """What a centring did, for the queue, the LIMS and the front ends."""

    method: str
    start_position: dict[str, float]
    centred_position: dict[str, float]
    rounds: list[CentringRound]
    rms_mm: float
    files: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    hull: Any = field(default=None, repr=False)
    frame: Any = field(default=None, repr=False)

    def hull_contains(self, positions: np.ndarray) -> np.ndarray:
        """Which motor-coordinate points (N, 3: phiy, sampx, sampy) lie inside the stored hull."""
        if self.hull is None or self.frame is None:
            raise CentringError("this centring stored no hull (store_3d was off or failed)")
        return np.asarray(self.hull.contains(self.frame.to_hull(positions)), dtype=bool)

    files_pending: bool = False
    """True from centringSuccessful until the 3D files are written (centringFilesStored)."""

    def status(self) -> dict[str, Any]:
        """The ``centring_status`` dict mxcubecore's signals carry, plus a ``murko`` section."""
        return {
            "motors": dict(self.centred_position),
            "method": self.method,
            "valid": True,
            "murko": {
                "rms_um": self.rms_mm * 1000.0,
                "rounds": len(self.rounds),
                "files": dict(self.files),
                "files_pending": bool(self.files_pending),
            },
        }
