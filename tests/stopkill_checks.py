"""What must hold after any stop or kill of the interleaved collection, read from the files on disk.

Used by tests/test_collection_stop_kill.py. Everything is read with h5py from the files
themselves (the frames' content encodes their global image number), not from our own models,
except the record, which is what is being checked against the files.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (the data files are compressed)

from mxcubecore_interleave.eiger import frame_tag
from mxcubecore_interleave.record import AcquisitionRecord

DETECTOR_GLOBS = ("*_w[0-9]*_master.h5", "*_data_[0-9]*.h5")


def detector_files(directory: Path) -> dict[Path, tuple[str, int]]:
    """(sha256, mtime_ns) of every detector file (wedge masters and data files) in ``directory``."""
    out = {}
    for pattern in DETECTOR_GLOBS:
        for p in directory.glob(pattern):
            out[p] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return out


def changed(before: dict[Path, tuple[str, int]]) -> list[str]:
    """Files of ``before`` that are gone or differ now (empty: every earlier file untouched)."""
    from mxcubecore_interleave.interleave.bookkeeping import INTERRUPTED_DIR

    out = []
    for p, (digest, mtime) in before.items():
        if (p.parent / INTERRUPTED_DIR / p.name).is_file():
            p = p.parent / INTERRUPTED_DIR / p.name  # set aside by a resume: must be unchanged
        if not p.exists():
            out.append(f"{p.name} removed")
        elif p.stat().st_mtime_ns != mtime or hashlib.sha256(p.read_bytes()).hexdigest() != digest:
            out.append(f"{p.name} changed")
    return out


def tags_in(path: Path, dataset: str = "/entry/data/data") -> list[int]:
    with h5py.File(path, "r") as f:
        d = f[dataset]
        return [frame_tag(d[i]) for i in range(d.shape[0])]


def master_tags(path: Path) -> list[int]:
    """The frames a sweep master reaches, in its order (layout L or V)."""
    with h5py.File(path, "r") as f:
        data = f["/entry/data"]
        return [frame_tag(fr) for k in sorted(data) if isinstance(data[k], h5py.Dataset)
                for fr in data[k][()]]


def frames_on_disk(directory: Path, rec: AcquisitionRecord, *, in_flight: bool = False
                   ) -> tuple[Counter, Counter, list[str]]:
    """(frames per sweep, times each global number occurs, stray files) over every data file on
    disk; a file is a sweep's if the record names it in one of the sweep's wedges (collected
    ones; with ``in_flight``, right after a kill, also the wedge being collected, whose files the
    record learns on resume)."""
    sweep_of = {f: w.sweep for w in rec.wedges if w.collected or (in_flight and w.status in ("running", "planned"))
                for f in w.data_files}
    per_sweep: Counter = Counter()
    seen: Counter = Counter()
    stray = []
    for p in sorted(directory.glob("*_data_[0-9]*.h5")):
        tags = tags_in(p)
        sweep = sweep_of.get(p.name)
        if sweep is None:
            stray.append(f"{p.name} ({len(tags)} frames) is on disk but in no collected wedge of the record")
            continue
        per_sweep[sweep] += len(tags)
        seen.update(tags)
    return per_sweep, seen, stray


def lists_agree(rec: AcquisitionRecord, directory: Path) -> list[str]:
    """The record's top-level lists say what is on disk, and agree with its wedges (bug 15-1)."""
    problems = []
    masters = [w.source_master for w in rec.wedges if w.collected]
    files = [f for w in rec.wedges if w.collected for f in w.data_files]
    if rec.source_masters and rec.source_masters != masters:
        problems.append(f"source_masters {rec.source_masters} != the collected wedges' {masters}")
    if [d.file for d in rec.data_files] != files:
        problems.append(f"data_files {[d.file for d in rec.data_files]} != the collected wedges' {files}")
    for name in [*rec.source_masters, *(d.file for d in rec.data_files)]:
        if not (directory / name).is_file():
            problems.append(f"the record lists {name}, which is not on disk")
    return problems


def consistent(record_path: Path, *, validate: bool = True) -> list[str]:
    """What the record and the sweep masters must agree on whenever the entry says it is done.

    * every sweep master the record names holds exactly the frames the record says the sweep
      collected (never fewer), in sweep order;
    * ``completed`` only when every sweep has its master, with all planned frames, and it
      validates (NXmx checklist, nxmx reader);
    * the record's lists agree with each other and with the disk.
    """
    from mxcubecore_interleave.nexus.plan import collection_from_record
    from mxcubecore_interleave.nexus.validate import validate_master

    rec = AcquisitionRecord.load(record_path)
    base = record_path.parent
    problems = lists_agree(rec, base)
    for s in rec.sweeps:
        collected = rec.collected_frames(s.id)
        if rec.status == "completed" and collected != s.n_frames:
            problems.append(f"completed, but sweep {s.id} has {collected} of {s.n_frames} frames")
        if not s.master:
            if rec.status == "completed":
                problems.append(f"completed, but sweep {s.id} has no master")
            continue
        path = base / s.master
        if not path.is_file():
            problems.append(f"the record names {s.master}, which is not on disk")
            continue
        want = sorted((w.sweep_first_frame + i, w.first_global + i)
                      for w in rec.wedges_of(s.id, collected_only=True) for i in range(w.n_collected))
        got = master_tags(path)
        if got != [g for _, g in want]:
            problems.append(f"{s.master} holds {len(got)} frames, the record says {len(want)} "
                            f"(or another order)")
    if rec.status == "completed" and validate and not problems:
        _rec, collection = collection_from_record(record_path, "after")
        for sweep in collection.sweeps:
            try:
                validate_master(base / rec.sweep(sweep.id).master, sweep)
            except Exception as exc:  # noqa: BLE001  (reported, the test fails on it)
                problems.append(f"sweep {sweep.id}: {exc}")
    return problems


def every_frame_once(record_path: Path, planned: dict[str, int]) -> list[str]:
    """Every planned frame exactly once across all data files on disk (``planned``: frames per sweep)."""
    rec = AcquisitionRecord.load(record_path)
    per_sweep, seen, stray = frames_on_disk(record_path.parent, rec)
    problems = list(stray)
    if dict(per_sweep) != planned:
        problems.append(f"frames per sweep on disk {dict(per_sweep)}, planned {planned}")
    total = sum(planned.values())
    twice = sorted(g for g, n in seen.items() if n > 1)
    if twice:
        problems.append(f"global images on disk more than once: {twice[:10]}")
    if sorted(seen) != list(range(1, total + 1)):
        problems.append(f"global images on disk are not 1..{total}: {len(seen)} distinct")
    return problems
