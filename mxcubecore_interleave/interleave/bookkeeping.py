"""Keep the acquisition record while a plan runs: planned wedges, what each wedge really wrote, resume.

Pure (no hardware): the queue entry tells it "wedge started" and "wedge ended with these files";
it writes the record (``mxcube-interleaved/1``, record.py) atomically once per wedge, when the
wedge ends (and when a run starts). A wedge that was cut short is marked ``partial`` and its
missing frames become a new planned wedge with its own detector series (``<sweep>_w003b``), so no
file name is ever reused and a re-run collects exactly the frames still missing. A process that
died mid-wedge leaves that wedge ``planned`` or ``running`` in the record: on resume the files on
disk say what it holds.

The cost per wedge must not grow with the number of wedges (1 440 wedges are usual): the JSON of
unchanged wedges is reused (``RecordWriter``), the order is sorted again only when a wedge ends
out of turn, and numbers are recomputed from the wedge that changed on.
"""

from __future__ import annotations

import itertools
import os
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..eiger.naming import data_name, master_name, series_name, split_counts
from ..eiger.written import SeriesNotReady, read_written
from ..errors import RecordError
from ..atomic import atomic_write_bytes
from ..record import (
    AcquisitionRecord,
    DataFileRecord,
    OrientationChangeRecord,
    RecordWriter,
    SweepRecord,
    WedgeRecord,
    now_iso,
    record_path,
)
from .planner import Plan
from .task import HC_KEV_A


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


MasterOf = Callable[[str, int], Path]  # (series prefix, run) -> where the detector writes its master


def record_prefix(task_prefix: str, run: int) -> str:
    """The record's prefix: sweep masters are ``<prefix>_<run>_<sweep>_master.h5``."""
    return f"{task_prefix}_{run}"


def _close(a: float | None, b: float | None, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def _fmt(v: float | None, unit: str) -> str:
    return "not set" if v is None else f"{v:g}{unit}"


def differences(rec: AcquisitionRecord, plan: Plan) -> list[str]:
    """What the task ``plan`` was made from would collect differently from ``rec`` (empty: same).

    Everything that changes the data of a sweep counts: the sweeps themselves, energy
    (wavelength), kappa, phi, omega start, oscillation, image count, exposure, transmission,
    resolution or detector distance, wedge size, images per data file. The order of the wedges
    still to collect does not: a resume keeps the recorded order.
    """
    task = plan.task
    want_ids = [s.id for s in plan.sweeps]
    have_ids = [s.id for s in rec.sweeps]
    if want_ids != have_ids:
        return [f"the sweeps are {', '.join(want_ids)} (recorded: {', '.join(have_ids)})"]
    first_wedge = {w.sweep: w for w in rec.wedges if w.sweep_first_frame == 1}
    out: list[str] = []
    for s, r in zip(plan.sweeps, rec.sweeps):
        def check(what: str, new: float | None, old: float | None, unit: str, tol: float) -> None:
            if not _close(new, old, tol):
                out.append(f"sweep {s.id!r}: {what} {_fmt(new, unit)} (recorded: {_fmt(old, unit)})")

        if not _close(s.wavelength, r.wavelength_A, 1e-6):
            out.append(f"sweep {s.id!r}: energy {s.energy:.4f} keV, {s.wavelength:.5f} Å "
                       f"(recorded: {HC_KEV_A / r.wavelength_A:.4f} keV, {r.wavelength_A:.5f} Å)")
        check("kappa", s.kappa, r.kappa if r.kappa is not None else 0.0, " deg", 1e-6)
        check("phi", s.phi, r.phi if r.phi is not None else 0.0, " deg", 1e-6)
        check("omega start", s.omega_start, r.omega_start, " deg", 1e-9)
        check("oscillation per image", s.osc_range, r.omega_increment, " deg", 1e-9)
        check("number of images", s.num_images, r.n_frames, "", 0)
        check("exposure time", s.exposure_time, r.exposure_time, " s", 1e-9)
        check("transmission", s.transmission, r.transmission, " %", 1e-9)
        check("resolution", s.resolution, r.resolution, " Å", 1e-9)
        check("detector distance", s.detector_distance, r.detector_distance, " mm", 1e-9)
        if (s.inverse_of or None) != (r.inverse_of or None):
            out.append(f"sweep {s.id!r}: inverse-beam partner of {s.inverse_of} (recorded: {r.inverse_of})")
        wedge = task.wedge_images(s)
        old_wedge = r.wedge_images
        if old_wedge is None and s.id in first_wedge:  # older records: the first wedge is a full one
            old_wedge = first_wedge[s.id].n
        if old_wedge is not None and old_wedge != wedge:
            out.append(f"sweep {s.id!r}: wedge size {wedge} images (recorded: {old_wedge})")
        ipf = task.images_per_file or wedge
        if r.images_per_file is not None and r.images_per_file != ipf:
            out.append(f"sweep {s.id!r}: {ipf} images per data file (recorded: {r.images_per_file})")
    return out


def _rel(path: str | os.PathLike[str], base: Path) -> str:
    return os.path.relpath(os.path.abspath(path), base)


class RecordKeeper:
    """The acquisition record of one interleaved collection, kept up to date on disk."""

    def __init__(self, record: AcquisitionRecord, path: Path, task_prefix: str, run: int,
                 images_per_file: dict[str, int], master_of: MasterOf | None = None) -> None:
        self.record = record
        self.path = Path(path)
        self.base = self.path.parent
        # where the detector really writes a series' master (site naming); default: DECTRIS,
        # next to the record. The planned names in the record stay the DECTRIS ones.
        self.master_of: MasterOf = master_of or (lambda prefix, run: self.base / master_name(series_name(prefix, run)))
        self.task_prefix = task_prefix
        self.run = run
        self.images_per_file = images_per_file  # per sweep
        self.writer = RecordWriter()
        self.saves = 0  # atomic writes of the record (tests, benchmarks)
        self.set_aside: list[Path] = []  # data files without a master moved to INTERRUPTED_DIR on resume
        self._files: list[list[DataFileRecord]] = []  # data files of each wedge, in list order
        # wedges changed since the last save (None: unknown, the writer compares them all)
        self._changed: list[WedgeRecord] | None = None
        self._index()

    def _index(self) -> None:
        # wedges are found by their detector master name: unique, and stable when orders change
        self._by_master = {w.source_master: w for w in self.record.wedges}
        self._n_done = self._count_done()

    def _count_done(self) -> int:
        """How many wedges at the head of the list are collected (the rest is planned)."""
        n = 0
        for w in self.record.wedges:
            if w.status not in ("complete", "partial"):
                break
            n += 1
        return n

    def _wedge(self, job: WedgeJob) -> WedgeRecord:
        return self._by_master[master_name(series_name(job.prefix, job.run))]

    # -- creation ---------------------------------------------------------------------------------
    @classmethod
    def create(cls, plan: Plan, directory: str | os.PathLike[str], run: int,
               lims_collection_ids: dict[str, int] | None = None, master_of: MasterOf | None = None) -> "RecordKeeper":
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
                wedge_images=task.wedge_images(s), images_per_file=ipf[s.id],
                lims_collection_id=(lims_collection_ids or {}).get(s.id)))
        rec = AcquisitionRecord(acquisition_id=f"{rprefix}-{now_iso()}", prefix=rprefix, sweeps=sweeps,
                                orientation_change=task.orientation_change)
        keeper = cls(rec, record_path(directory, rprefix), task.prefix, run, ipf, master_of)
        for w in plan.wedges:
            keeper._add_planned(w.sweep, w.first_frame, w.n, w.omega_start, w.wedge_part)
        rec.renumber()
        keeper._rebuild_data_files()
        return keeper

    @classmethod
    def resume(cls, path: str | os.PathLike[str], plan: Plan, run: int,
               master_of: MasterOf | None = None) -> "RecordKeeper":
        """The record of an interrupted run of the same task; refuses a record of another task."""
        rec = AcquisitionRecord.load(path)
        changed = differences(rec, plan)
        if changed:
            raise RecordError(f"{path} was written for other settings than this task: {'; '.join(changed)}")
        task = plan.task
        ipf = {s.id: task.images_per_file or task.wedge_images(s) for s in plan.sweeps}
        rec.orientation_change = task.orientation_change  # not the data: it may change between runs
        keeper = cls(rec, Path(path), task.prefix, run, ipf, master_of)
        for w in list(rec.wedges):
            # "running": the process died mid-wedge. "planned" with files on disk: it died after
            # the detector started but before the record was written. Trust only the disk.
            if w.status == "running" or (w.status == "planned" and keeper._on_disk(w)):
                keeper._settle_from_disk(w)
        rec.renumber()
        keeper._index()
        keeper._rebuild_data_files()
        return keeper

    # -- queries ----------------------------------------------------------------------------------
    def pending(self) -> list[WedgeJob]:
        return [self.job(w) for w in self.record.wedges if w.status == "planned"]

    def job(self, w: WedgeRecord) -> WedgeJob:
        """The job of a planned wedge (whose ``source_master`` is still the planned name)."""
        series = w.source_master[: -len("_master.h5")]  # type: ignore[index]
        prefix = series[: -len(f"_{self.run}")]
        return WedgeJob(order=w.order, sweep=w.sweep, first_frame=w.sweep_first_frame, n=w.n,
                        omega_start=w.omega_start, first_global=w.first_global, prefix=prefix,
                        wedge_part=prefix[len(self.task_prefix) + 1:], run=self.run,
                        images_per_file=self.images_per_file[w.sweep])

    def master_path(self, job: WedgeJob) -> Path:
        """Where the detector writes the master of ``job`` (the configured naming rule)."""
        return self.master_of(job.prefix, job.run)

    def clashes(self) -> list[Path]:
        """Files already on disk that a pending wedge would write: its master, or any data file
        of its series, whatever split the detector uses (to refuse a start that would overwrite)."""
        out: list[Path] = []
        for w in self.record.wedges:
            if w.status == "planned":
                out.extend(_series_files_on_disk(self.master_path(self.job(w))))
        return out

    def collected_frames(self) -> dict[str, int]:
        return {s.id: self.record.collected_frames(s.id) for s in self.record.sweeps}

    # -- updates ----------------------------------------------------------------------------------
    def save(self) -> Path:
        """One atomic write of the whole record (only changed parts are serialised again)."""
        self.record.touch()
        self.saves += 1
        text = self.writer.text(self.record, changed_wedges=self._changed)
        self._changed = []
        return atomic_write_bytes(self.path, text.encode("utf-8"))

    def _touched(self, *wedges: WedgeRecord) -> None:
        if self._changed is not None:
            self._changed.extend(wedges)

    def reload(self) -> None:
        """Take what another writer (the repackager) added to the record."""
        self.record = AcquisitionRecord.load(self.path)
        self._changed = None
        self._index()
        self._rebuild_data_files()

    def set_status(self, status: str, *, save: bool = True) -> None:
        self.record.status = status  # type: ignore[assignment]
        if save:
            self.save()

    def begin(self, job: WedgeJob, *, save: bool = True) -> None:
        """The wedge starts. Written only when the run starts (record status becomes "running"):
        the wedge's own "running" is not needed on disk, since resume trusts the files there."""
        w = self._wedge(job)
        w.status = "running"
        w.start_time = now_iso()
        self._touched(w)
        if self.record.status != "running":
            self.record.status = "running"
            if save:
                self.save()

    def finish(self, job: WedgeJob, master: str | None, data_files: list[str], n_written: int,
               start_time: str | None = None, end_time: str | None = None,
               frames_per_file: list[int] | None = None) -> WedgeRecord | None:
        """Record what the detector wrote for ``job``; plan the rest of a cut-short wedge.

        ``frames_per_file``: the frames of each data file as read from disk (None: the split the
        plan assumed). Returns the new planned wedge for the missing frames, if any.
        """
        w = self._wedge(job)
        self._touched(w)
        part = self._part_of(w)  # from the planned name, before the real one replaces it
        w.n_collected = max(0, min(int(n_written), w.n))
        w.end_time = end_time or now_iso()
        if start_time:
            w.start_time = w.start_time or start_time
        if w.n_collected:
            w.source_master = _rel(master, self.base) if master else w.source_master
            w.data_files = [_rel(d, self.base) for d in data_files]
            w.frames_per_file = [int(c) for c in frames_per_file] if frames_per_file is not None else None
        else:
            w.data_files = self._planned_files(self._series(part), w.n, w.sweep)
            w.frames_per_file = None
        rest = None
        if w.n_collected >= w.n:
            w.status = "complete"
        else:
            w.status = "partial" if w.n_collected else "planned"
            if w.n_collected:
                rest = self._plan_rest(w, part)
            else:  # nothing written: the same wedge stays planned, under a fresh series name
                self._rename_planned(w)
        self._place(w, rest)
        self.save()
        return rest

    def note_orientation(self, change: OrientationChangeRecord) -> None:
        """What was done at a kappa/phi change (or why it failed), written at once."""
        self.record.orientation_changes.append(change)
        self.save()

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
        used = self._by_master
        for letter in string.ascii_lowercase[1:]:
            cand = f"{root}{letter}"
            if (master_name(self._series(cand)) not in used
                    and not _series_files_on_disk(self.master_of(f"{self.task_prefix}_{cand}", self.run))):
                return cand
        raise RecordError(f"wedge {wedge_part} was restarted too often; start a new run")

    def _part_of(self, w: WedgeRecord) -> str:
        series = w.source_master[: -len("_master.h5")]  # type: ignore[index]
        return series[len(self.task_prefix) + 1: -len(f"_{self.run}")]

    def _plan_rest(self, w: WedgeRecord, part: str) -> WedgeRecord:
        sweep = self.record.sweep(w.sweep)
        first = w.sweep_first_frame + w.n_collected
        w_rest = self._add_planned(w.sweep, first, w.n - w.n_collected,
                                   sweep.omega_start + (first - 1) * sweep.omega_increment,
                                   self._next_part(part))
        # collect the missing frames next (same settings as the wedge that was cut)
        ws = self.record.wedges
        ws.pop()  # _add_planned appended it
        ws.insert(_index_of(ws, w) + 1, w_rest)
        return w_rest

    def _rename_planned(self, w: WedgeRecord) -> None:
        if self._on_disk(w):
            part = self._next_part(self._part_of(w))
            series = self._series(part)
            self._by_master.pop(w.source_master, None)
            w.source_master = master_name(series)
            w.data_files = self._planned_files(series, w.n, w.sweep)
            self._by_master[w.source_master] = w
        w.start_time = w.end_time = None
        self._touched(w)

    def _settle_from_disk(self, w: WedgeRecord) -> None:
        """What a wedge interrupted with the process holds: its master and the data files it links."""
        job = self.job(w)
        master = self.master_path(job)
        if not master.exists():
            # killed after data files but before their master: no master describes those
            # frames, so the wedge is collected again under a fresh name; the files are kept,
            # unchanged, in INTERRUPTED_DIR (not beside the run's data, where they would hold
            # its frames twice)
            files = _series_files_on_disk(master)
            w.status = "planned"
            self._rename_planned(w)  # first: a fresh series name while the files are still there
            self.set_aside += _set_aside(files, self.base / INTERRUPTED_DIR)
            return
        try:
            written = read_written(master, complete=False)
            files, counts = [str(p) for p in written.data_files], list(written.frames_per_file)
        except SeriesNotReady:  # a master not closed: the series' data files, in order, as far as readable
            files, counts = [], []
            for p in _series_files_on_disk(master):
                n = _frames_in(p) if p != master else None
                if n is None:
                    continue
                if n == 0:
                    break
                files.append(str(p))
                counts.append(n)
        if not w.start_time:  # died before the record said the wedge started
            w.start_time = _file_time(master)
        self.finish(job, str(master), files, sum(counts), frames_per_file=counts)

    def _on_disk(self, w: WedgeRecord) -> bool:
        if w.status == "planned" and w.source_master:
            return bool(_series_files_on_disk(self.master_path(self.job(w))))
        return any((self.base / name).exists() for name in [w.source_master, *w.data_files[:1]] if name)

    def _place(self, w: WedgeRecord, rest: WedgeRecord | None) -> None:
        """Keep "collected wedges first, in acquisition order" after ``w`` ended.

        Normally ``w`` is the first planned wedge and simply joins the collected ones: no sort,
        and numbers change only from ``w`` on (not at all if it was complete).
        """
        ws = self.record.wedges
        i = self._n_done
        collected = w.status in ("complete", "partial")
        in_turn = i < len(ws) and ws[i] is w
        if in_turn and collected and i > 0:  # started after the last collected one
            in_turn = (ws[i - 1].start_time or "", ws[i - 1].order) <= (w.start_time or "", w.order)
        if not in_turn:
            self._reorder()
            return
        if collected:
            self._n_done += 1
        if rest is not None or w.n_collected != w.n:
            self._touched(*self.record.renumber(i))
            self._rebuild_data_files()
        else:  # nothing moved, no number changed: only this wedge's data files
            self._rebuild_data_files(only=i)

    def _reorder(self) -> None:
        """Collected wedges first (acquisition order), then planned ones in plan order."""
        done = [w for w in self.record.wedges if w.status in ("complete", "partial")]
        done.sort(key=lambda w: (w.start_time or "", w.order))
        todo = [w for w in self.record.wedges if w.status not in ("complete", "partial")]  # list order
        self.record.wedges = done + todo
        self._n_done = len(done)
        self._touched(*self.record.renumber())
        self._rebuild_data_files()

    def _wedge_files(self, w: WedgeRecord) -> list[DataFileRecord]:
        """The record's ``data_files`` of one wedge: only files on disk (a planned wedge names
        its future files in its own ``data_files``, not in the record's list)."""
        if not w.collected:
            return []
        if w.frames_per_file is not None:  # the split the detector wrote
            counts = list(w.frames_per_file)
        else:
            counts = split_counts(w.n_collected, self.images_per_file[w.sweep])
        files, g = [], w.first_global
        for name, c in zip(w.data_files, counts):
            files.append(DataFileRecord.model_construct(file=name, first_global=g, n=c))
            g += c
        return files

    def _rebuild_data_files(self, only: int | None = None) -> None:
        """``data_files`` and ``source_masters`` from the wedges (``only``: just that wedge
        changed, numbers did not). Both list what is on disk, the collected wedges' files in
        acquisition order, so they agree after any stop."""
        ws = self.record.wedges
        if only is None or len(self._files) != len(ws):
            self._files = [self._wedge_files(w) for w in ws]
        else:
            self._files[only] = self._wedge_files(ws[only])
        self.record.data_files = list(itertools.chain.from_iterable(self._files))
        self.record.source_masters = [w.source_master for w in ws if w.collected and w.source_master]


INTERRUPTED_DIR = "interrupted"
"""Where a resume keeps the data files of a series killed before its master was written."""


def _set_aside(files: list[Path], target: Path) -> list[Path]:
    """Move ``files`` (contents and times unchanged) into ``target``; never replaces a file."""
    out = []
    for p in files:
        target.mkdir(exist_ok=True)
        dest = target / p.name
        os.link(p, dest)  # fails instead of replacing; the same file system, no copy
        os.unlink(p)
        out.append(dest)
    return out


def _index_of(items: list, item: object) -> int:
    """Position by identity (``list.index`` compares pydantic models field by field)."""
    for i, x in enumerate(items):
        if x is item:
            return i
    raise ValueError("not in the list")


def _file_time(path: Path) -> str:
    import datetime as _dt

    t = path.stat().st_mtime
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).astimezone().isoformat(timespec="milliseconds")


def _frames_in(path: Path) -> int:
    """Frames in a DECTRIS data file (0 if it cannot be read)."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return int(f["/entry/data/data"].shape[0])
    except Exception:
        return 0


def _series_files_on_disk(master: Path) -> list[Path]:
    """The master and any ``<series>_data_*`` file next to it that already exist."""
    out = [master] if master.exists() else []
    stem = master.name[: -len("_master.h5")] if master.name.endswith("_master.h5") else master.stem
    if master.parent.is_dir():
        out.extend(sorted(master.parent.glob(f"{_glob_escape(stem)}_data_*")))
    return out


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
