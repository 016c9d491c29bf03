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
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .atomic import atomic_write_bytes
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
    wedge_images: int | None = Field(None, ge=1)  # images per wedge as planned (None: older records)
    images_per_file: int | None = Field(None, ge=1)  # the split the plan assumed; the detector decides (wedge frames_per_file)
    lims_collection_id: int | None = None
    lims_error: str | None = None  # why the LIMS refused this sweep's last store/update (None: in LIMS)


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
    # frames in each data file as read from disk (None: planned, or an older record; then the
    # sweep's images_per_file, the split the plan assumed, gives them)
    frames_per_file: list[int] | None = None
    status: WedgeStatus = "planned"
    start_time: str | None = None
    end_time: str | None = None

    @property
    def collected(self) -> bool:
        return self.status in ("complete", "partial") and self.n_collected > 0


class OrientationChangeRecord(_Model):
    """What was done when a wedge started at another kappa/phi (interleave/orientation.py)."""

    wedge: str  # the wedge part (``<sweep>_w<NNN>``) of the first wedge at the new orientation
    sweep: str
    kappa_from: float
    phi_from: float
    kappa: float
    phi: float
    method: Literal["murko", "auto", "correction", "stored", "none"]
    status: Literal["done", "failed"] = "done"
    positions: dict[str, float] = Field(default_factory=dict)  # the motors once done (site roles)
    files: dict[str, str] = Field(default_factory=dict)  # a Murko centring's 3D files
    error: str | None = None
    time: str = Field(default_factory=now_iso)


class AcquisitionRecord(_Model):
    schema_: Literal["mxcube-interleaved/1"] = Field(SCHEMA, alias="schema")
    acquisition_id: str
    prefix: str
    status: RecordStatus = "planned"
    created: str = Field(default_factory=now_iso)
    updated: str = Field(default_factory=now_iso)
    lims_group_id: int | None = None
    source_masters: list[str] = Field(default_factory=list)
    orientation_change: Literal["recentre", "correct", "none"] | None = None  # the task's choice (None: older)
    orientation_changes: list[OrientationChangeRecord] = Field(default_factory=list)  # every run, in order
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
    def renumber(self, start: int = 0) -> list[WedgeRecord]:
        """Give every wedge its global numbers: collected frames first, then planned ones.

        ``start``: wedges before it are known to be numbered already (the bookkeeping changes
        one wedge at a time); only values that change are assigned. Returns the wedges changed.
        """
        changed: list[WedgeRecord] = []
        ws = self.wedges
        start = max(0, min(start, len(ws)))
        if start:
            p = ws[start - 1]
            g = p.first_global + (p.n_collected if p.status in ("complete", "partial") else p.n)
        else:
            g = 1
        for order in range(start, len(ws)):
            w = ws[order]
            if w.order != order or w.first_global != g:
                w.order, w.first_global = order, g
                changed.append(w)
            g += w.n_collected if w.status in ("complete", "partial") else w.n
        return changed

    def touch(self) -> None:
        self.updated = now_iso()

    # -- persistence ---------------------------------------------------------------------------
    def to_json_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)

    def dumps(self) -> str:
        return json.dumps(self.to_json_dict(), indent=1)

    def save(self, path: str | os.PathLike[str], *, writer: "RecordWriter | None" = None) -> Path:
        """Write the record atomically; a kept ``writer`` re-serialises only what changed."""
        self.touch()
        text = (writer or RecordWriter()).text(self)
        return atomic_write_bytes(path, text.encode("utf-8"))

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


class RecordWriter:
    """The record as JSON text, one sweep, wedge or data file per line.

    Keeps the JSON of every sweep, wedge and data file and serialises again only what changed,
    so that writing a 1 000-wedge record after each wedge stays cheap (bench_interleave.py).
    Without hints every item is compared with a copy of its values (one C-level dict
    comparison each). ``changed_wedges`` is the fast path of a writer that knows what it
    changed (the bookkeeping): other wedges and data files still in the cache are reused as
    they are, so data-file items must be replaced, never changed in place. The text parses to
    the same record as ``to_json_dict()`` (same keys, same order).
    """

    _LISTS = ("data_files", "sweeps", "wedges")

    def __init__(self) -> None:
        self._cache: dict[int, tuple[BaseModel, dict, str]] = {}
        self.serialised = 0  # items serialised afresh by the last text() (tests, benchmarks)

    def _serialise(self, obj: BaseModel) -> tuple[BaseModel, dict, str]:
        self.serialised += 1
        values = {k: (list(v) if type(v) is list else v) for k, v in obj.__dict__.items()}
        return obj, values, json.dumps(obj.model_dump(mode="json", by_alias=True), allow_nan=False,
                                       ensure_ascii=False)

    def _fragments(self, items: list, cache: dict, trust: bool, changed: set[int]) -> list[str]:
        old = self._cache
        out = []
        for obj in items:
            key = id(obj)
            hit = old.get(key)
            if hit is None or hit[0] is not obj or key in changed or (not trust and hit[1] != obj.__dict__):
                hit = self._serialise(obj)
            cache[key] = hit
            out.append(hit[2])
        return out

    def text(self, record: AcquisitionRecord, changed_wedges: Iterable[BaseModel] | None = None) -> str:
        self.serialised = 0
        cache: dict[int, tuple[BaseModel, dict, str]] = {}  # only items still in the record are kept
        trust = changed_wedges is not None
        changed = {id(w) for w in changed_wedges} if changed_wedges is not None else set()
        head = json.dumps(record.model_dump(mode="json", by_alias=True, exclude=set(self._LISTS)),
                          allow_nan=False, ensure_ascii=False)
        parts = [head[:-1]]
        for name in self._LISTS:
            # sweeps are few and changed by others (LIMS ids, sweep masters): always compared
            frags = self._fragments(getattr(record, name), cache, trust and name != "sweeps", changed)
            body = "\n  " + ",\n  ".join(frags) + "\n " if frags else ""
            parts.append(f', "{name}": [{body}]')
        self._cache = cache
        return "".join(parts) + "}\n"


def record_path(directory: str | os.PathLike[str], prefix: str) -> Path:
    return Path(directory) / f"{prefix}{RECORD_SUFFIX}"
