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
from .model import DEFAULT_DATASET


@dataclass(frozen=True)
class FrameLocation:
    global_index: int  # 1-based, acquisition order
    sweep: str
    frame: int  # 1-based within the sweep
    omega: float  # start angle of the frame
    omega_end: float
    wedge: int  # acquisition order of the wedge
    data_file: str | None  # relative to the record's directory
    index_in_file: int | None  # 0-based index into ``dataset``
    time: str | None  # estimated start of the exposure
    collected: bool
    dataset: str | None = None  # the frames' dataset in ``data_file`` (DECTRIS: /entry/data/data)

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

    def _files(self, w: WedgeRecord) -> list[tuple[str, str, int]]:
        """(file, dataset, frames) of every data file of a wedge: as the record lists them, else read
        from the file, at the dataset its detector master links (DECTRIS: /entry/data/data).
        Empty if a file is not there (yet)."""
        known = {d.file: d for d in self.record.data_files}
        linked: dict[str, str] | None = None
        out = []
        for name in w.data_files:
            d = known.get(name)
            if d is not None:
                out.append((name, d.dataset, d.n))
                continue
            p = self.base / name
            if not p.exists():
                return []
            if linked is None:
                linked = self._linked_datasets(w)
            dataset = linked.get(os.path.normpath(p), DEFAULT_DATASET)
            try:
                with h5py.File(p, "r") as f:
                    ds = f.get(dataset)
                    if not isinstance(ds, h5py.Dataset):
                        raise RepackageError(f"{p} has no dataset {dataset}; the record does not list the file, and "
                                             f"{w.source_master or 'no detector master'} links no other")
                    out.append((name, dataset, int(ds.shape[0])))
            except OSError as exc:
                raise RepackageError(f"cannot read data file {p}: {exc}") from exc
        return out

    def _linked_datasets(self, w: WedgeRecord) -> dict[str, str]:
        """Data file (normalised path) -> dataset, as the wedge's detector master links them."""
        out: dict[str, str] = {}
        if not w.source_master:
            return out
        m = self.base / w.source_master
        try:
            with h5py.File(m, "r") as f:
                data = f.get("/entry/data")
                for k in data if isinstance(data, h5py.Group) else ():
                    lk = data.get(k, getlink=True)
                    if isinstance(lk, h5py.ExternalLink):
                        out[os.path.normpath(m.parent / lk.filename)] = lk.path
        except OSError:
            pass  # no master (yet): the DECTRIS default stands
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
        data_file = index = dataset = None
        j = i
        for name, dset, c in self._files(w):
            if j < c:
                data_file, dataset, index = name, dset, j
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
                             index_in_file=index, time=t, collected=w.collected and i < w.n_collected,
                             dataset=dataset)

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
        """The frame whose exposure [omega, omega_end) contains ``omega``, wedge by wedge: a sweep
        whose collection was cut short may have holes, where no frame exists."""
        s = self.record.sweep(sweep_id)
        frames = self._sweep_frames(s.id)
        if not frames:
            raise RepackageError(f"sweep {sweep_id} has no frames")
        inc = s.omega_increment
        for w, k0 in frames:
            i = math.floor((omega - w.omega_start) / inc + 1e-9)
            if 0 <= i < self._count(w):
                return self._location(w, k0, i)
        ends = [(w.omega_start, w.omega_start + self._count(w) * inc) for w, _ in frames]
        lo = min(min(a, b) for a, b in ends)
        hi = max(max(a, b) for a, b in ends)
        w0, wn = frames[0][0], frames[-1][0]
        if not (lo <= omega < hi if inc > 0 else lo < omega <= hi):  # a falling sweep covers (end, start]
            end = wn.omega_start + self._count(wn) * inc
            raise RepackageError(f"omega {omega}° is outside sweep {sweep_id} ({w0.omega_start}°..{end}°)")
        raise RepackageError(f"omega {omega}° falls in a gap of sweep {sweep_id}: no frame was collected there "
                             f"(collected: {', '.join(f'{a:g}°..{b:g}°' for a, b in ends)})")


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
