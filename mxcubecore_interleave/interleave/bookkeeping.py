"""Keep the acquisition record while a plan runs: planned wedges, what each wedge really wrote, resume.

Pure (no hardware): the queue entry tells it "wedge started" and "wedge ended with these files";
it writes the record (``mxcube-interleaved/1``, record.py) atomically each time. A wedge that was
cut short is marked ``partial`` and its missing frames become a new planned wedge with its own
detector series (``<sweep>_w003b``), so no file name is ever reused and a re-run collects exactly
the frames still missing.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass
from pathlib import Path

from ..eiger.naming import data_name, master_name, series_name, split_counts
from ..errors import RecordError
from ..record import AcquisitionRecord, DataFileRecord, SweepRecord, WedgeRecord, now_iso, record_path
from .planner import Plan


@dataclass(frozen=True)
class WedgeJob:
    """What the entry needs to collect one wedge (derived from the record, not stored twice)."""

    order: int
    sweep: str
    first_frame: int
    n: int
    omega_start: float
    first_global: int
    prefix: str  # detector series prefix (PathTemplate base + wedge part), without the run
    wedge_part: str  # ``<sweep>_w<NNN>[b…]``
    run: int
    images_per_file: int


def record_prefix(task_prefix: str, run: int) -> str:
    """The record's prefix: sweep masters are ``<prefix>_<run>_<sweep>_master.h5``."""
    return f"{task_prefix}_{run}"


def _rel(path: str | os.PathLike[str], base: Path) -> str:
    return os.path.relpath(os.path.abspath(path), base)


class RecordKeeper:
    """The acquisition record of one interleaved collection, kept up to date on disk."""

    def __init__(self, record: AcquisitionRecord, path: Path, task_prefix: str, run: int,
                 images_per_file: dict[str, int]) -> None:
        self.record = record
        self.path = Path(path)
        self.base = self.path.parent
        self.task_prefix = task_prefix
        self.run = run
        self.images_per_file = images_per_file  # per sweep
        self._index()

    def _index(self) -> None:
        # wedges are found by their detector master name: unique, and stable when orders change
        self._by_master = {w.source_master: w for w in self.record.wedges}

    def _wedge(self, job: WedgeJob) -> WedgeRecord:
        return self._by_master[master_name(series_name(job.prefix, job.run))]

    # -- creation ---------------------------------------------------------------------------------
    @classmethod
    def create(cls, plan: Plan, directory: str | os.PathLike[str], run: int,
               lims_collection_ids: dict[str, int] | None = None) -> "RecordKeeper":
        """A record with every wedge planned (file names included), not yet written to disk."""
        task = plan.task
        directory = Path(directory)
        rprefix = record_prefix(task.prefix, run)
        ipf: dict[str, int] = {}
        sweeps = []
        for s in plan.sweeps:
            ipf[s.id] = task.images_per_file or task.wedge_images(s)
            sweeps.append(SweepRecord(
                id=s.id, wavelength_A=s.wavelength, energy_keV=s.energy, omega_start=s.omega_start,
                omega_increment=s.osc_range, n_frames=s.num_images, kappa=s.kappa, phi=s.phi,
                exposure_time=s.exposure_time, transmission=s.transmission, resolution=s.resolution,
                detector_distance=s.detector_distance, inverse_of=s.inverse_of,
                lims_collection_id=(lims_collection_ids or {}).get(s.id)))
        rec = AcquisitionRecord(acquisition_id=f"{rprefix}-{now_iso()}", prefix=rprefix, sweeps=sweeps)
        keeper = cls(rec, record_path(directory, rprefix), task.prefix, run, ipf)
        for w in plan.wedges:
            keeper._add_planned(w.sweep, w.first_frame, w.n, w.omega_start, w.wedge_part)
        rec.renumber()
        keeper._rebuild_data_files()
        return keeper

    @classmethod
    def resume(cls, path: str | os.PathLike[str], plan: Plan, run: int) -> "RecordKeeper":
        """The record of an interrupted run of the same task; refuses a record of another task."""
        rec = AcquisitionRecord.load(path)
        task = plan.task
        want = [(s.id, s.num_images, round(s.omega_start, 6), round(s.osc_range, 9)) for s in plan.sweeps]
        have = [(s.id, s.n_frames, round(s.omega_start, 6), round(s.omega_increment, 9)) for s in rec.sweeps]
        if want != have:
            raise RecordError(f"{path} records other sweeps than this task ({have} vs {want}); "
                              "use another prefix or run number")
        ipf = {s.id: task.images_per_file or task.wedge_images(s) for s in plan.sweeps}
        keeper = cls(rec, Path(path), task.prefix, run, ipf)
        for w in list(rec.wedges):
            if w.status == "running":  # the process died mid-wedge: trust only the files on disk
                keeper._settle_from_disk(w)
        rec.renumber()
        keeper._rebuild_data_files()
        return keeper

    # -- queries ----------------------------------------------------------------------------------
    def pending(self) -> list[WedgeJob]:
        return [self.job(w) for w in self.record.wedges if w.status == "planned"]

    def job(self, w: WedgeRecord) -> WedgeJob:
        series = w.source_master[: -len("_master.h5")]  # type: ignore[index]
        prefix = series[: -len(f"_{self.run}")]
        return WedgeJob(order=w.order, sweep=w.sweep, first_frame=w.sweep_first_frame, n=w.n,
                        omega_start=w.omega_start, first_global=w.first_global, prefix=prefix,
                        wedge_part=prefix[len(self.task_prefix) + 1:], run=self.run,
                        images_per_file=self.images_per_file[w.sweep])

    def planned_paths(self) -> list[Path]:
        """Every file the pending wedges will write (to refuse a start that would overwrite)."""
        out = []
        for w in self.record.wedges:
            if w.status == "planned":
                out.append(self.base / w.source_master)  # type: ignore[operator]
                out.extend(self.base / d for d in w.data_files)
        return out

    def collected_frames(self) -> dict[str, int]:
        return {s.id: self.record.collected_frames(s.id) for s in self.record.sweeps}

    # -- updates ----------------------------------------------------------------------------------
    def save(self) -> Path:
        return self.record.save(self.path)

    def reload(self) -> None:
        """Take what another writer (the repackager) added to the record."""
        self.record = AcquisitionRecord.load(self.path)
        self._index()

    def set_status(self, status: str, *, save: bool = True) -> None:
        self.record.status = status  # type: ignore[assignment]
        if save:
            self.save()

    def begin(self, job: WedgeJob, *, save: bool = True) -> None:
        w = self._wedge(job)
        w.status = "running"
        w.start_time = now_iso()
        self.record.status = "running"
        if save:
            self.save()

    def finish(self, job: WedgeJob, master: str | None, data_files: list[str], n_written: int,
               start_time: str | None = None, end_time: str | None = None) -> WedgeRecord | None:
        """Record what the detector wrote for ``job``; plan the rest of a cut-short wedge.

        Returns the new planned wedge for the missing frames, if any.
        """
        w = self._wedge(job)
        w.n_collected = max(0, min(int(n_written), w.n))
        w.end_time = end_time or now_iso()
        if start_time:
            w.start_time = w.start_time or start_time
        w.source_master = _rel(master, self.base) if master else w.source_master
        w.data_files = [_rel(d, self.base) for d in data_files] if n_written else []
        rest = None
        if w.n_collected >= w.n:
            w.status = "complete"
        else:
            w.status = "partial" if w.n_collected else "planned"
            if w.n_collected:
                rest = self._plan_rest(w)
            else:  # nothing written: the same wedge stays planned, under a fresh series name
                self._rename_planned(w)
        self._reorder()
        self.save()
        return rest

    # -- internals --------------------------------------------------------------------------------
    def _series(self, wedge_part: str) -> str:
        return series_name(f"{self.task_prefix}_{wedge_part}", self.run)

    def _planned_files(self, series: str, n: int, sweep: str) -> list[str]:
        counts = split_counts(n, self.images_per_file[sweep])
        return [data_name(series, i + 1) for i in range(len(counts))]

    def _add_planned(self, sweep: str, first: int, n: int, omega: float, wedge_part: str) -> WedgeRecord:
        series = self._series(wedge_part)
        w = WedgeRecord(order=len(self.record.wedges), sweep=sweep, sweep_first_frame=first, n=n,
                        first_global=1, omega_start=omega, source_master=master_name(series),
                        data_files=self._planned_files(series, n, sweep))
        self.record.wedges.append(w)
        self._by_master[w.source_master] = w
        return w

    def _next_part(self, wedge_part: str) -> str:
        """``A_w003`` -> ``A_w003b`` -> ``A_w003c`` …: a series name never used before."""
        root = wedge_part.rstrip(string.ascii_lowercase)
        used = {w.source_master for w in self.record.wedges}
        for letter in string.ascii_lowercase[1:]:
            cand = f"{root}{letter}"
            if master_name(self._series(cand)) not in used and not (self.base / master_name(self._series(cand))).exists():
                return cand
        raise RecordError(f"wedge {wedge_part} was restarted too often; start a new run")

    def _part_of(self, w: WedgeRecord) -> str:
        series = w.source_master[: -len("_master.h5")]  # type: ignore[index]
        return series[len(self.task_prefix) + 1: -len(f"_{self.run}")]

    def _plan_rest(self, w: WedgeRecord) -> WedgeRecord:
        sweep = self.record.sweep(w.sweep)
        first = w.sweep_first_frame + w.n_collected
        w_rest = self._add_planned(w.sweep, first, w.n - w.n_collected,
                                   sweep.omega_start + (first - 1) * sweep.omega_increment,
                                   self._next_part(self._part_of(w)))
        # collect the missing frames next (same settings as the wedge that was cut)
        self.record.wedges.remove(w_rest)
        self.record.wedges.insert(self.record.wedges.index(w) + 1, w_rest)
        return w_rest

    def _rename_planned(self, w: WedgeRecord) -> None:
        if (self.base / w.source_master).exists():  # type: ignore[operator]
            part = self._next_part(self._part_of(w))
            series = self._series(part)
            self._by_master.pop(w.source_master, None)
            w.source_master = master_name(series)
            w.data_files = self._planned_files(series, w.n, w.sweep)
            self._by_master[w.source_master] = w
        w.start_time = w.end_time = None

    def _settle_from_disk(self, w: WedgeRecord) -> None:
        master = self.base / w.source_master  # type: ignore[operator]
        if not master.exists():
            w.status = "planned"
            self._rename_planned(w)
            return
        n = 0
        present = []
        for name, c in zip(w.data_files, split_counts(w.n, self.images_per_file[w.sweep])):
            p = self.base / name
            if not p.exists():
                break
            present.append(str(p))
            n += _frames_in(p, c)
        self.finish(self.job(w), str(master), present, n)

    def _reorder(self) -> None:
        """Collected wedges first (acquisition order), then planned ones in plan order."""
        done = [w for w in self.record.wedges if w.status in ("complete", "partial")]
        done.sort(key=lambda w: (w.start_time or "", w.order))
        todo = [w for w in self.record.wedges if w.status not in ("complete", "partial")]  # list order
        self.record.wedges = done + todo
        self.record.renumber()
        self._rebuild_data_files()

    def _rebuild_data_files(self) -> None:
        out: list[DataFileRecord] = []
        for w in self.record.wedges:
            collected = w.status in ("complete", "partial")
            n_total = w.n_collected if collected else w.n
            counts = split_counts(n_total, self.images_per_file[w.sweep]) if n_total else []
            g = w.first_global
            for name, c in zip(w.data_files, counts):
                out.append(DataFileRecord(file=name, first_global=g, n=c))
                g += c
        self.record.data_files = out


def _frames_in(path: Path, expected: int) -> int:
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return int(f["/entry/data/data"].shape[0])
    except Exception:
        return 0
