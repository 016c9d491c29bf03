"""What a sweep master describes: sweeps made of wedges made of segments of stored data files.

The writer, the validator and the lookup all work on these small objects; they are built either
from the acquisition record (``plan.py``) or from detector masters found on disk (``discover.py``).
Paths here are absolute; they become relative only when written into a master or a record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_DATASET = "/entry/data/data"


@dataclass(frozen=True)
class DataFile:
    """One detector data file and the number of frames it holds (or will hold)."""

    path: Path
    n: int
    dataset: str = DEFAULT_DATASET


@dataclass(frozen=True)
class Segment:
    """Frames ``start .. start+count-1`` (0-based) of one data file."""

    file: DataFile
    start: int
    count: int

    @property
    def whole_file(self) -> bool:
        return self.start == 0 and self.count == self.file.n


@dataclass
class Wedge:
    """A contiguous run of frames of one sweep, collected as one detector series."""

    order: int  # 0-based position in the acquisition order
    sweep: str
    first_global: int  # 1-based global image number of its first frame
    n: int  # frames of this wedge in the sweep master
    omega_start: float
    omega_increment: float
    wavelength_A: float
    segments: list[Segment]
    source_master: Path | None = None
    start_time: str | None = None
    end_time: str | None = None
    kappa: float | None = None
    phi: float | None = None
    sweep_first_frame: int = 1  # 1-based, set when the sweep is assembled
    name: str = ""  # for messages: the series name

    @property
    def label(self) -> str:
        return self.name or (self.source_master.name if self.source_master else f"wedge {self.order}")

    @property
    def omega_end(self) -> float:
        return self.omega_start + self.n * self.omega_increment


@dataclass
class Sweep:
    """One homogeneous, monotonic rotation sweep: what processing sees as one data set."""

    id: str
    index: int
    wedges: list[Wedge]  # in sweep (omega) order
    wavelength_A: float
    frame_shape: tuple[int, int]
    dtype: np.dtype
    template: Path | None = None  # an original master whose metadata the sweep master copies
    kappa: float | None = None
    phi: float | None = None
    energy_keV: float | None = None
    mixed_storage: str | None = None  # set by validate_inputs: its data files differ in filter/dtype/chunks

    @property
    def n_frames(self) -> int:
        return sum(w.n for w in self.wedges)

    @property
    def omega_start(self) -> float:
        return self.wedges[0].omega_start

    @property
    def omega_increment(self) -> float:
        return self.wedges[0].omega_increment

    def omega(self) -> np.ndarray:
        """Per-frame start angles, frame 1 first."""
        return self.omega_start + self.omega_increment * np.arange(self.n_frames, dtype=np.float64)

    def segments(self) -> list[Segment]:
        return [s for w in self.wedges for s in w.segments]

    def number(self) -> None:
        """Give every wedge its first frame number within the sweep."""
        k = 1
        for w in self.wedges:
            w.sweep_first_frame = k
            k += w.n


@dataclass
class Collection:
    """Everything the sweep masters of one collection need."""

    acquisition_id: str
    prefix: str
    base_dir: Path  # the acquisition record's directory: record paths are relative to it
    sweeps: list[Sweep]
    stage: str = "after"  # "before": data files may not exist yet
    source_masters: list[Path] = field(default_factory=list)

    @property
    def wedges(self) -> list[Wedge]:
        """Every wedge, in acquisition order."""
        return sorted((w for s in self.sweeps for w in s.wedges), key=lambda w: w.order)

    def sweep(self, sweep_id: str) -> Sweep:
        for s in self.sweeps:
            if s.id == sweep_id:
                return s
        raise KeyError(sweep_id)
