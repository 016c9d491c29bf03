"""The acquisition record: what was really collected, in which order, in which files.

One JSON sidecar ``<prefix>_acquisition.json`` per interleaved collection (schema
``mxcube-interleaved/1``, see docs/data-formats.md and the NXmx reference §5), written atomically
after every wedge. Paths inside are relative to the sidecar's directory so the tree can move.

Global image numbers are 1-based and count frames in acquisition order over the whole
collection. Wedges are listed in acquisition order; wedges not yet collected (``planned``) come
after every collected one, and their ``first_global`` is provisional (see ``renumber``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .atomic import atomic_write_json
from .errors import RecordError

SCHEMA = "mxcube-interleaved/1"
RECORD_SUFFIX = "_acquisition.json"

WedgeStatus = Literal["planned", "running", "complete", "partial"]
RecordStatus = Literal["planned", "running", "completed", "stopped", "aborted", "failed"]


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="milliseconds")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DataFileRecord(_Model):
    """One detector data file and the global numbers of the frames it holds."""

    file: str  # relative to the record's directory
    dataset: str = "/entry/data/data"
    first_global: int = Field(ge=1)
    n: int = Field(ge=0)


class SweepRecord(_Model):
    """One rotation sweep: what processing will see as one homogeneous, monotonic data set."""

    id: str
    master: str | None = None  # the sweep master, relative, once written
    layout: Literal["L", "V"] | None = None
    wavelength_A: float = Field(gt=0)
    energy_keV: float | None = None
    omega_start: float
    omega_increment: float
    n_frames: int = Field(ge=1)  # planned
    kappa: float | None = None
    phi: float | None = None
    exposure_time: float | None = None
    transmission: float | None = None
    resolution: float | None = None
    detector_distance: float | None = None
    inverse_of: str | None = None  # id of the sweep this is the inverse-beam partner of
    lims_collection_id: int | None = None


class WedgeRecord(_Model):
    """A contiguous run of frames of one sweep, collected as one detector series."""

    order: int = Field(ge=0)  # position in the acquisition order
    sweep: str
    sweep_first_frame: int = Field(ge=1)  # 1-based frame number within the sweep
    n: int = Field(ge=1)  # frames planned for this wedge
    n_collected: int = Field(0, ge=0)
    first_global: int = Field(ge=1)
    omega_start: float
    source_master: str | None = None  # the detector's own master for this wedge, relative
    data_files: list[str] = Field(default_factory=list)  # relative, in frame order
    status: WedgeStatus = "planned"
    start_time: str | None = None
    end_time: str | None = None

    @property
    def collected(self) -> bool:
        return self.status in ("complete", "partial") and self.n_collected > 0


class AcquisitionRecord(_Model):
    schema_: Literal["mxcube-interleaved/1"] = Field(SCHEMA, alias="schema")
    acquisition_id: str
    prefix: str
    status: RecordStatus = "planned"
    created: str = Field(default_factory=now_iso)
    updated: str = Field(default_factory=now_iso)
    lims_group_id: int | None = None
    source_masters: list[str] = Field(default_factory=list)
    data_files: list[DataFileRecord] = Field(default_factory=list)
    sweeps: list[SweepRecord]
    wedges: list[WedgeRecord] = Field(default_factory=list)

    # -- queries -------------------------------------------------------------------------------
    def sweep(self, sweep_id: str) -> SweepRecord:
        for s in self.sweeps:
            if s.id == sweep_id:
                return s
        raise RecordError(f"the acquisition record has no sweep {sweep_id!r}")

    def wedges_of(self, sweep_id: str, *, collected_only: bool = False) -> list[WedgeRecord]:
        """The sweep's wedges in sweep (omega) order."""
        ws = [w for w in self.wedges if w.sweep == sweep_id and (w.collected or not collected_only)]
        return sorted(ws, key=lambda w: w.sweep_first_frame)

    def collected_frames(self, sweep_id: str) -> int:
        return sum(w.n_collected for w in self.wedges_of(sweep_id, collected_only=True))

    # -- updates -------------------------------------------------------------------------------
    def renumber(self) -> None:
        """Give every wedge its global numbers: collected frames first, then planned ones."""
        g = 1
        for order, w in enumerate(self.wedges):
            w.order = order
            w.first_global = g
            g += w.n_collected if w.status in ("complete", "partial") else w.n

    def touch(self) -> None:
        self.updated = now_iso()

    # -- persistence ---------------------------------------------------------------------------
    def to_json_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)

    def dumps(self) -> str:
        return json.dumps(self.to_json_dict(), indent=1)

    def save(self, path: str | os.PathLike[str]) -> Path:
        self.touch()
        return atomic_write_json(path, self.to_json_dict())

    @classmethod
    def loads(cls, text: str, *, source: str = "<string>") -> "AcquisitionRecord":
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise RecordError(f"{source} is not a valid acquisition record ({SCHEMA}): {exc}") from exc

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "AcquisitionRecord":
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise RecordError(f"no acquisition record at {p}") from exc
        return cls.loads(text, source=str(p))


def record_path(directory: str | os.PathLike[str], prefix: str) -> Path:
    return Path(directory) / f"{prefix}{RECORD_SUFFIX}"
