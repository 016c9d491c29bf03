"""Where is image N? Global acquisition index ↔ sweep, frame, omega, data file, time.

Answered from the acquisition record, or from a sweep master (which embeds the record and says
where the record's directory is). Frames a wedge holds: ``n_collected`` once it was collected,
otherwise ``n`` (planned), the numbering of ``AcquisitionRecord.renumber``.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import RepackageError
from ..h5ascii import read_str
from ..record import AcquisitionRecord, WedgeRecord


@dataclass(frozen=True)
class FrameLocation:
    global_index: int  # 1-based, acquisition order
    sweep: str
    frame: int  # 1-based within the sweep
    omega: float  # start angle of the frame
    omega_end: float
    wedge: int  # acquisition order of the wedge
    data_file: str | None  # relative to the record's directory
    index_in_file: int | None  # 0-based index into /entry/data/data
    time: str | None  # estimated start of the exposure
    collected: bool

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Lookup:
    record: AcquisitionRecord
    base: Path  # the record's directory

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Lookup":
        path = Path(path)
        if path.suffix == ".json":
            return cls(AcquisitionRecord.load(path), path.parent)
        try:
            with h5py.File(path, "r") as f:
                note = f.get("/entry/notes/data")
                if note is None:
                    raise RepackageError(f"{path} is not a sweep master (no /entry/notes/data acquisition record)")
                text = read_str(note[()])
                rel = f.get("/entry/acquisition_order/record")
                rec_rel = read_str(rel[()]) if rel is not None else None
        except OSError as exc:
            raise RepackageError(f"cannot read {path}: {exc}") from exc
        rec = AcquisitionRecord.loads(text, source=f"{path}:/entry/notes/data")
        base = (path.parent / rec_rel).parent if rec_rel else path.parent
        return cls(rec, base)

    # -- internals -----------------------------------------------------------------------------
    def _count(self, w: WedgeRecord) -> int:
        return w.n_collected if w.status in ("complete", "partial") else w.n

    def _file_counts(self, w: WedgeRecord) -> list[int]:
        known = {d.file: d.n for d in self.record.data_files}
        out = []
        for name in w.data_files:
            if name in known:
                out.append(known[name])
            else:
                p = self.base / name
                if not p.exists():
                    return []
                with h5py.File(p, "r") as f:
                    out.append(int(f["/entry/data/data"].shape[0]))
        return out

    def _sweep_frames(self, sweep_id: str) -> list[tuple[WedgeRecord, int]]:
        """(wedge, first frame in the sweep) in sweep order."""
        out, k = [], 1
        for w in self.record.wedges_of(sweep_id):
            n = self._count(w)
            if n:
                out.append((w, k))
                k += n
        return out

    def _location(self, w: WedgeRecord, k0: int, i: int) -> FrameLocation:
        """Frame i (0-based) of wedge w, whose first frame is sweep frame k0."""
        s = self.record.sweep(w.sweep)
        omega = w.omega_start + i * s.omega_increment
        data_file = index = None
        counts = self._file_counts(w)
        if counts:
            j = i
            for name, c in zip(w.data_files, counts):
                if j < c:
                    data_file, index = name, j
                    break
                j -= c
        t = None
        if w.start_time:
            t = w.start_time
            if s.exposure_time:
                try:
                    t0 = _dt.datetime.fromisoformat(w.start_time)
                    t = (t0 + _dt.timedelta(seconds=i * s.exposure_time)).isoformat(timespec="milliseconds")
                except ValueError:
                    pass
        return FrameLocation(global_index=w.first_global + i, sweep=w.sweep, frame=k0 + i, omega=omega,
                             omega_end=omega + s.omega_increment, wedge=w.order, data_file=data_file,
                             index_in_file=index, time=t, collected=w.collected and i < w.n_collected)

    # -- queries -------------------------------------------------------------------------------
    def by_global(self, g: int) -> FrameLocation:
        for sweep in self.record.sweeps:
            for w, k0 in self._sweep_frames(sweep.id):
                n = self._count(w)
                if w.first_global <= g < w.first_global + n:
                    return self._location(w, k0, g - w.first_global)
        total = sum(self._count(w) for w in self.record.wedges)
        raise RepackageError(f"global image {g} is outside this acquisition (1..{total})")

    def by_frame(self, sweep_id: str, frame: int) -> FrameLocation:
        frames = self._sweep_frames(self.record.sweep(sweep_id).id)
        for w, k0 in frames:
            if k0 <= frame < k0 + self._count(w):
                return self._location(w, k0, frame - k0)
        n = sum(self._count(w) for w, _ in frames)
        raise RepackageError(f"sweep {sweep_id} has frames 1..{n}; frame {frame} does not exist")

    def by_omega(self, sweep_id: str, omega: float) -> FrameLocation:
        """The frame whose exposure [omega, omega_end) contains ``omega``."""
        s = self.record.sweep(sweep_id)
        frames = self._sweep_frames(s.id)
        n = sum(self._count(w) for w, _ in frames)
        if not frames:
            raise RepackageError(f"sweep {sweep_id} has no frames")
        w0 = frames[0][0]
        x = (omega - w0.omega_start) / s.omega_increment
        k = math.floor(x + 1e-9) + 1
        if not 1 <= k <= n:
            end = w0.omega_start + n * s.omega_increment
            raise RepackageError(f"omega {omega}° is outside sweep {sweep_id} ({w0.omega_start}°..{end}°)")
        return self.by_frame(sweep_id, k)


def locate_global(path: str | os.PathLike[str], g: int) -> FrameLocation:
    return Lookup.load(path).by_global(g)


def locate_frame(path: str | os.PathLike[str], sweep: str, *, frame: int | None = None,
                 omega: float | None = None) -> FrameLocation:
    lk = Lookup.load(path)
    if (frame is None) == (omega is None):
        raise RepackageError("give either a frame number or an omega angle")
    return lk.by_frame(sweep, frame) if frame is not None else lk.by_omega(sweep, float(omega))


def global_numbers(master: str | os.PathLike[str]) -> np.ndarray:
    """The reverse map stored in a sweep master: global image number of every frame (1-based)."""
    with h5py.File(master, "r") as f:
        return f["/entry/acquisition_order/global_image_number"][()]
