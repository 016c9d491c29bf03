"""Write every sweep master of a collection, atomically, after validating everything.

Order of work: validate all inputs (nothing written yet) → for every sweep write a temporary file
next to its target and validate it, and compare it with an existing master (identical: keep the
old one untouched) → only when every sweep passed, rename them all into place and check that
each target is the file that was validated → save the acquisition record. A refusal in any sweep
removes every temporary file and leaves every existing file as it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import h5py

from ..atomic import StagedFiles, fsync_path, remove_stale_temporaries
from ..errors import RepackageError
from ..paths import check_name, check_subdir, inside
from ..record import AcquisitionRecord, DataFileRecord
from .datafiles import one_open_per_file
from .digest import semantic_digest
from .model import Collection, Sweep
from .pixel_mask import MaskPolicy, check_mask_policy
from .plan import Stage, collection_from_record
from .sweep_master import build_sweep_master, record_json_for_masters, rel, sweep_master_name
from .validate import LayoutPolicy, choose_layout, nxmx_available, validate_inputs, validate_master

log = logging.getLogger(__name__)


@dataclass
class SweepMasterResult:
    sweep: str
    master: Path
    layout: str
    n_frames: int
    status: str  # "written", "replaced", "unchanged"


@dataclass
class RepackageResult:
    masters: list[SweepMasterResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    record: Path | None = None

    @property
    def paths(self) -> list[Path]:
        return [m.master for m in self.masters]


class _Unchanged(Exception):
    """The new master is semantically identical to the existing one: keep the old file."""


def is_sweep_master(path: Path) -> bool:
    try:
        with h5py.File(path, "r") as f:
            return "/entry/acquisition_order" in f
    except OSError:
        return False


def plan_targets(collection: Collection, out_dir: Path, policy: LayoutPolicy) -> list[tuple[Sweep, Path, str, str | None]]:
    """(sweep, target, layout, warning) for every sweep; refuses names that would hit detector files."""
    check_name(collection.prefix, "prefix")
    detector = [*collection.source_masters, *(w.source_master for w in collection.wedges if w.source_master),
                *(s.file.path for sw in collection.sweeps for s in sw.segments())]
    by_path = {os.path.normpath(p) for p in detector}
    by_inode: set[tuple[int, int]] | None = None  # only needed when a target exists already
    out: list[tuple[Sweep, Path, str, str | None]] = []
    for sweep in collection.sweeps:
        check_name(sweep.id, "sweep id")
        target = out_dir / sweep_master_name(collection.prefix, sweep.id)
        hit = os.path.normpath(target) in by_path
        if not hit and target.exists():
            if by_inode is None:
                by_inode = set()
                for p in detector:
                    with contextlib.suppress(OSError):
                        st = os.stat(p)
                        by_inode.add((st.st_dev, st.st_ino))
            st = target.stat()
            hit = (st.st_dev, st.st_ino) in by_inode
        if hit:
            raise RepackageError(f"the sweep master {target} would replace a detector file; choose another prefix "
                                 "or output directory")
        if target.exists() and not is_sweep_master(target):
            raise RepackageError(f"{target} exists and is not a sweep master; refusing to overwrite it")
        layout, warning = choose_layout(sweep, policy)
        out.append((sweep, target, layout, warning))
    return out


def _stage_one(batch: StagedFiles, sweep: Sweep, target: Path, layout: str, collection: Collection,
               record_json: str, record_path: Path | None, created: str, read_frames: bool,
               writeback: "_Writeback | None" = None, pixel_mask: MaskPolicy = "link") -> str:
    """Write and validate one sweep master under a temporary name; "unchanged" drops it again."""
    tmp = batch.stage(target)
    write_file_bytes(tmp, _master_image(tmp, sweep, collection, layout, target.parent, record_json, record_path,
                                        created, pixel_mask), writeback)
    validate_master(tmp, sweep, read_frames=read_frames, target=target)
    if target.exists():
        if semantic_digest(tmp) == semantic_digest(target):
            log.info("%s is unchanged", target)
            batch.discard(tmp)
            return "unchanged"
        return "replaced"
    return "written"


def _master_image(name: Path, sweep: Sweep, collection: Collection, layout: str, master_dir: Path,
                  record_json: str, record_path: Path | None, created: str, pixel_mask: MaskPolicy = "link") -> bytes:
    """The master built in memory (h5py's ``core`` driver, nothing on disk): a full disk or a
    failing write can then only fail a plain ``write()``, never HDF5's close (which segfaulted)."""
    with h5py.File(name, "w", driver="core", backing_store=False) as f:
        build_sweep_master(f, sweep, collection, layout, master_dir, record_json, record_path, created,
                           pixel_mask=pixel_mask)
        f.flush()
        return f.id.get_file_image()


def write_file_bytes(path: Path, data: bytes, writeback: "_Writeback | None" = None) -> None:
    """Write ``data`` to ``path`` with plain I/O, checking the free space first (cheap: statvfs).
    Without ``writeback`` the file is fsync'd here; with it, its fsync runs in a thread while the
    caller goes on, and ``writeback.wait()`` reports its failure (``StagedFiles.commit`` fsyncs
    every file again before any rename: the durability does not depend on the thread)."""
    st = os.statvfs(path.parent)
    free = st.f_bavail * st.f_frsize
    if free < len(data) + (1 << 20):
        raise RepackageError(f"not enough free space in {path.parent} for {path.name.split('.tmp')[0].lstrip('.')}"
                             f" ({len(data)} bytes needed, {free} free); free space and run again")
    try:
        _write_bytes(path, data)
        if writeback is None:
            fsync_path(path)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    if writeback is not None:
        writeback.start(path)


def _cannot_write(path: Path, exc: OSError) -> RepackageError:
    return RepackageError(f"cannot write {path}: {exc.strerror or exc}; free space or choose another output "
                          "directory and run again")


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


class _Writeback:
    """Each master's fsync in a thread of its own, started as soon as it is written: the disk
    writes it (18 MB of pixel mask per 4M master, 25-45 ms each here) while the next master is
    built and validated, instead of the run waiting for it. ``wait()`` joins them all and raises
    the first failure as ``write_file_bytes`` would have."""

    def __init__(self) -> None:
        self._threads: list[tuple[Path, threading.Thread, list[OSError]]] = []

    def start(self, path: Path) -> None:
        errors: list[OSError] = []

        def run() -> None:
            try:
                fsync_path(path)
            except FileNotFoundError:  # discarded meanwhile ("unchanged"): nothing to keep
                pass
            except OSError as exc:
                errors.append(exc)

        t = threading.Thread(target=run, name=f"fsync {path.name}", daemon=True)
        t.start()
        self._threads.append((path, t, errors))

    def wait(self, quiet: bool = False) -> None:
        threads, self._threads = self._threads, []
        for _path, t, _errors in threads:
            t.join()
        for path, _t, errors in threads:
            if errors and not quiet:
                raise _cannot_write(path, errors[0])


def _check_renamed(target: Path, validated: os.stat_result) -> None:
    """After the rename: the file under the target's name is the one validated (same inode, size
    and mtime; the directory is the same, so its relative links resolve the same way)."""
    st = target.stat()
    if (st.st_ino, st.st_size, st.st_mtime_ns) != (validated.st_ino, validated.st_size, validated.st_mtime_ns):
        raise RepackageError(f"{target} is not the file that was validated (changed while it was renamed into "
                             "place: another writer?)")


def _new_dirs(d: Path) -> list[Path]:
    """``d`` and those of its parents that do not exist yet, deepest first."""
    out = []
    while not d.exists():
        out.append(d)
        d = d.parent
    return out


def _fill_record(rec: AcquisitionRecord, collection: Collection, targets, base: Path) -> None:
    """What the masters add to the record: each sweep's master and layout; data files if absent."""
    for sweep, target, layout, _w in targets:
        s = rec.sweep(sweep.id)
        s.master = rel(target, base)
        s.layout = layout  # type: ignore[assignment]
    _merge_data_files(rec, collection, base)
    if collection.stage == "after":  # what is on disk now (after a resume: more than last time)
        rec.source_masters = [rel(w.source_master, base) for w in collection.wedges if w.source_master]


def _merge_data_files(rec: AcquisitionRecord, collection: Collection, base: Path) -> None:
    """Record every data file the masters point to, with its global numbers and frame count
    (planned counts before, stored counts after); drop planned files a stopped wedge never wrote."""
    fresh: dict[str, DataFileRecord] = {}
    for w in collection.wedges:
        g = w.first_global
        for seg in w.segments:
            name = rel(seg.file.path, base)
            fresh[name] = DataFileRecord(file=name, dataset=seg.file.dataset, first_global=g,
                                         n=seg.file.n if collection.stage == "before" else seg.count)
            g += seg.count
    if collection.stage == "after":  # only the files the collected wedges hold (15-1)
        kept = []
    else:
        kept = [d for d in rec.data_files if d.file not in fresh]
    rec.data_files = sorted(kept + list(fresh.values()), key=lambda d: (d.first_global, d.file))


def _template_warnings(collection: Collection) -> list[str]:
    """The threshold energy is copied from the template: say so when the template was taken at
    another wavelength than the sweep (NXmx reference §4)."""
    from .series import _scalar

    out = []
    for sweep in collection.sweeps:
        if sweep.template is None:
            continue
        # the template is usually a wedge's own master, already read: its wavelength is known
        known = [w.wavelength_A for w in sweep.wedges if w.source_master == sweep.template]
        if known and collection.stage == "after":
            wl = known[0]
        else:
            with h5py.File(sweep.template, "r") as f:
                wl = _scalar(f, "/entry/instrument/beam/incident_wavelength")
        if wl and abs(wl - sweep.wavelength_A) > 1e-4 * sweep.wavelength_A:
            out.append(f"sweep {sweep.id}: threshold_energy is copied from {sweep.template.name}, taken at {wl:.5f} Å, "
                       f"not the sweep's {sweep.wavelength_A:.5f} Å; photon_energy and the wavelength are the sweep's")
    return out


def write_collection(
    record_path: Path,
    rec: AcquisitionRecord,
    collection: Collection,
    *,
    output_subdir: str = "",
    layout: LayoutPolicy = "auto",
    pixel_mask: MaskPolicy = "link",
    save_record: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
) -> RepackageResult:
    """``pixel_mask``: "link" (the sweep master links its first wedge's detector master's mask)
    or "copy" (the master holds a copy: self-contained, the mask's size larger)."""
    check_mask_policy(pixel_mask)
    with one_open_per_file():
        return _write_collection(record_path, rec, collection, output_subdir=output_subdir, layout=layout,
                                 pixel_mask=pixel_mask, save_record=save_record, progress=progress)


def _write_collection(record_path: Path, rec: AcquisitionRecord, collection: Collection, *, output_subdir: str,
                      layout: LayoutPolicy, pixel_mask: MaskPolicy, save_record: bool,
                      progress: Callable[[int, int, str], None] | None) -> RepackageResult:
    base = collection.base_dir
    out_dir = inside(base, check_subdir(output_subdir, "output sub-directory")) if output_subdir else base
    after = collection.stage == "after"
    result = RepackageResult(warnings=validate_inputs(collection, check_files=after))
    result.warnings += _template_warnings(collection)
    if not nxmx_available():
        result.warnings.append("nxmx is not installed: the sweep masters were not parsed the way dxtbx reads them "
                               "(NXmx reference §6, output 6); pip install nxmx")
    targets = plan_targets(collection, out_dir, layout)
    result.warnings += [w for *_x, w in targets if w]
    _fill_record(rec, collection, targets, base)
    record_json = record_json_for_masters(rec.to_json_dict())
    created_dirs = _new_dirs(out_dir)
    removed = remove_stale_temporaries([t for _s, t, *_r in targets] + [record_path])
    if removed:
        result.warnings.append(f"removed {len(removed)} temporary file(s) an interrupted run left: "
                               + ", ".join(p.name for p in removed))
    statuses: list[str] = []
    writeback = _Writeback()
    try:
        with StagedFiles() as batch:
            try:
                for i, (sweep, target, lay, _w) in enumerate(targets):
                    if progress:
                        progress(i, len(targets), sweep.id)
                    statuses.append(_stage_one(batch, sweep, target, lay, collection, record_json, record_path,
                                               rec.created, after, writeback, pixel_mask))
            except BaseException:
                writeback.wait(quiet=True)  # no thread outlives the run; the first error is the one told
                raise
            writeback.wait()  # a failed fsync refuses the run here, before any rename
            validated = batch.commit()  # every sweep passed: only now is any target touched
    except OSError as exc:
        for d in created_dirs:
            with contextlib.suppress(OSError):
                d.rmdir()
        raise RepackageError(f"cannot write the sweep masters in {out_dir}: {exc.strerror or exc}; choose a "
                             "writable output directory (--output / --output-subdir) and run again") from None
    except BaseException:
        for d in created_dirs:  # an output sub-directory made for this run goes again if empty
            with contextlib.suppress(OSError):
                d.rmdir()
        raise
    for (sweep, target, lay, _w), status in zip(targets, statuses):
        if target in validated:
            _check_renamed(target, validated[target])
        if status == "replaced":
            log.warning("replaced %s by a semantically different sweep master", target)
        result.masters.append(SweepMasterResult(sweep.id, target, lay, sweep.n_frames, status))
    if progress:
        progress(len(targets), len(targets), "")
    for w in result.warnings:
        log.warning("%s", w)
    if save_record:
        try:
            rec.save(record_path)
        except OSError as exc:
            raise RepackageError(f"the sweep masters are written but the record {record_path} could not be saved: "
                                 f"{exc.strerror or exc}; free space and run again") from None
        result.record = record_path
    return result


def repackage_record(
    record_path: str | os.PathLike[str],
    stage: Stage = "after",
    *,
    output_subdir: str = "",
    layout: LayoutPolicy = "auto",
    template: Path | None = None,
    images_per_file: int | None = None,
    pixel_mask: MaskPolicy = "link",
    save_record: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
) -> RepackageResult:
    """The sweep masters of one acquisition record; records each sweep's master and layout in it."""
    check_mask_policy(pixel_mask)
    record_path = Path(record_path)
    with one_open_per_file():  # read the series, write and validate: every data file opened once
        rec, coll = collection_from_record(record_path, stage, template=template, images_per_file=images_per_file)
        return write_collection(record_path, rec, coll, output_subdir=output_subdir, layout=layout,
                                pixel_mask=pixel_mask, save_record=save_record, progress=progress)


def repackage_series(
    paths: list[Path],
    *,
    output: Path | None = None,
    prefix: str | None = None,
    layout: LayoutPolicy = "auto",
    explicit: dict[str, list[Path]] | None = None,
    tolerances=None,
    dry_run: bool = False,
    pixel_mask: MaskPolicy = "link",
    progress: Callable[[int, int, str], None] | None = None,
    on_series: Callable[[int, int, str], None] | None = None,
) -> tuple[list, RepackageResult | None]:
    """Existing, separately collected series → sweeps → sweep masters and an acquisition record.

    ``output`` (default: the directory of the first master) receives the masters and the record.
    Returns the grouping and, unless ``dry_run``, the result.
    """
    check_mask_policy(pixel_mask)
    with one_open_per_file():  # read the series, write and validate: every data file opened once
        return _repackage_series(paths, output=output, prefix=prefix, layout=layout, explicit=explicit,
                                 tolerances=tolerances, dry_run=dry_run, pixel_mask=pixel_mask, progress=progress,
                                 on_series=on_series)


def _repackage_series(paths, *, output, prefix, layout, explicit, tolerances, dry_run, pixel_mask, progress,
                      on_series):
    from .discover import common_prefix, find_masters, group_series, record_from_series
    from .series import read_series

    masters = find_masters(paths)
    series = []
    for i, m in enumerate(masters):
        if on_series:
            on_series(i, len(masters), m.name)
        series.append(read_series(m))
    if on_series:
        on_series(len(masters), len(masters), "")
    groups = group_series(series, tol=tolerances, explicit=explicit)
    if dry_run:
        return groups, None
    out_dir = Path(output) if output else masters[0].parent
    out_dir = out_dir.resolve()
    prefix = check_name(prefix or common_prefix(series), "prefix")
    rec = record_from_series(out_dir, groups, prefix)
    rpath = out_dir / f"{prefix}_acquisition.json"
    if rpath.exists():
        try:
            old = AcquisitionRecord.load(rpath)
        except Exception as exc:  # noqa: BLE001
            raise RepackageError(f"{rpath} exists and is not an acquisition record; refusing to replace it") from exc
        if old.acquisition_id != rec.acquisition_id:
            raise RepackageError(f"{rpath} holds the record of acquisition {old.acquisition_id}; refusing to replace "
                                 "it (use another --prefix or --output)")
    rec_loaded, coll = collection_from_record(rpath, "after", record=rec)
    return groups, write_collection(rpath, rec_loaded, coll, layout=layout, pixel_mask=pixel_mask, progress=progress)
