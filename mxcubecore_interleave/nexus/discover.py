"""Group detector series found on disk into sweeps: for sites that collect wedges as separate runs.

Series with the same wavelength, kappa, phi and omega step whose omega ranges join end to start
form one sweep; a gap, an overlap or any change starts another. The acquisition order is the
series' start time. ``explicit`` overrides the grouping for the series it names.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RepackageError
from ..record import AcquisitionRecord, DataFileRecord, SweepRecord, WedgeRecord
from .series import SeriesInfo
from .sweep_master import rel


@dataclass
class Tolerances:
    wavelength_rel: float = 1e-4
    angle_deg: float = 0.01
    omega_rel: float = 1e-6  # of the step, for continuity


@dataclass
class DiscoveredSweep:
    id: str
    series: list[SeriesInfo] = field(default_factory=list)  # sweep (omega) order

    @property
    def n_frames(self) -> int:
        return sum(s.n for s in self.series)


def find_masters(paths: list[Path]) -> list[Path]:
    """Detector masters in the given directories and files; sweep masters written earlier are skipped."""
    from .repackage import is_sweep_master

    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += sorted(m for m in p.glob("*_master.h5") if not m.name.startswith(".") and not is_sweep_master(m))
        elif p.exists():
            if is_sweep_master(p):
                raise RepackageError(f"{p} is a sweep master written by the repackager, not a detector master")
            out.append(p)
        else:
            raise RepackageError(f"{p} does not exist")
    if not out:
        raise RepackageError(f"no detector masters (*_master.h5) found in {', '.join(str(p) for p in paths)}")
    return out


def _key_matches(a: SeriesInfo, b: SeriesInfo, tol: Tolerances) -> bool:
    def same_angle(x, y):
        return (x is None and y is None) or (x is not None and y is not None and abs(x - y) <= tol.angle_deg)

    wa, wb = a.wavelength_A or 0.0, b.wavelength_A or 0.0
    return (abs(wa - wb) <= tol.wavelength_rel * max(wa, wb, 1e-9)
            and same_angle(a.kappa, b.kappa) and same_angle(a.phi, b.phi)
            and abs(a.omega_increment - b.omega_increment) <= tol.omega_rel * abs(a.omega_increment))


def _joins(prev: SeriesInfo, nxt: SeriesInfo, tol: Tolerances) -> bool:
    end = float(prev.omega[0]) + prev.n * prev.omega_increment
    return abs(float(nxt.omega[0]) - end) <= tol.omega_rel * abs(prev.omega_increment) + 1e-9


def acquisition_order(series: list[SeriesInfo]) -> list[SeriesInfo]:
    return sorted(series, key=lambda s: (s.start_time or "", s.master.name))


def group_series(series: list[SeriesInfo], *, tol: Tolerances | None = None,
                 explicit: dict[str, list[Path]] | None = None) -> list[DiscoveredSweep]:
    tol = tol or Tolerances()
    explicit = explicit or {}
    pinned: dict[Path, str] = {}
    for sid, masters in explicit.items():
        for m in masters:
            pinned[Path(m).resolve()] = sid
    by_master = {s.master.resolve(): s for s in series}
    missing = [str(m) for m in pinned if m not in by_master]
    if missing:
        raise RepackageError(f"--sweep names masters that are not among the inputs: {', '.join(missing)}")
    chains: list[list[SeriesInfo]] = []
    fixed: dict[str, list[SeriesInfo]] = {}
    for s in sorted(series, key=lambda s: (float(s.omega[0]) * (1 if s.omega_increment > 0 else -1), s.master.name)):
        sid = pinned.get(s.master.resolve())
        if sid is not None:
            fixed.setdefault(sid, []).append(s)
            continue
        for chain in chains:
            if _key_matches(chain[-1], s, tol) and _joins(chain[-1], s, tol):
                chain.append(s)
                break
        else:
            chains.append([s])
    order = {id(s): i for i, s in enumerate(acquisition_order(series))}
    chains.sort(key=lambda c: min(order[id(s)] for s in c))
    used = set(fixed)
    names = iter(n for n in _sweep_names() if n not in used)
    out = [DiscoveredSweep(sid, ss) for sid, ss in fixed.items()]
    out += [DiscoveredSweep(next(names), c) for c in chains]
    out.sort(key=lambda d: min(order[id(s)] for s in d.series))
    return out


def _sweep_names():
    import itertools
    import string

    for n in itertools.count(1):
        for t in itertools.product(string.ascii_uppercase, repeat=n):
            yield "".join(t)


def common_prefix(series: list[SeriesInfo]) -> str:
    names = [s.name for s in series]
    p = os.path.commonprefix(names)
    p = re.sub(r"[_.+-]*\d*$", "", p) if len(names) > 1 else re.sub(r"_\d+$", "", p)
    p = p.rstrip("_.+-")
    return p or "sweeps"


def record_from_series(out_dir: Path, sweeps: list[DiscoveredSweep], prefix: str) -> AcquisitionRecord:
    """An acquisition record (paths relative to ``out_dir``) for separately collected series."""
    every = acquisition_order([s for d in sweeps for s in d.series])
    sweep_of = {id(s): d.id for d in sweeps for s in d.series}
    first_frame: dict[int, int] = {}
    for d in sweeps:
        k = 1
        for s in d.series:
            first_frame[id(s)] = k
            k += s.n
    wedges, data_files = [], []
    g = 1
    for order, s in enumerate(every):
        files = [rel(f.path, out_dir) for f in s.data_files]
        wedges.append(WedgeRecord(order=order, sweep=sweep_of[id(s)], sweep_first_frame=first_frame[id(s)], n=s.n,
                                  n_collected=s.n, first_global=g, omega_start=float(s.omega[0]),
                                  source_master=rel(s.master, out_dir), data_files=files, status="complete",
                                  start_time=s.start_time, end_time=s.end_time))
        for f, name in zip(s.data_files, files):
            data_files.append(DataFileRecord(file=name, dataset=f.dataset, first_global=g, n=f.n))
            g += f.n
    sweep_recs = []
    for d in sweeps:
        s0 = d.series[0]
        if s0.wavelength_A is None:
            raise RepackageError(f"{s0.master} states no wavelength (/entry/instrument/beam/incident_wavelength)")
        sweep_recs.append(SweepRecord(id=d.id, wavelength_A=s0.wavelength_A, omega_start=float(s0.omega[0]),
                                      omega_increment=s0.omega_increment, n_frames=d.n_frames, kappa=s0.kappa,
                                      phi=s0.phi, exposure_time=s0.frame_time))
    sources = [w.source_master for w in wedges]
    acq_id = "disk-" + hashlib.sha1("\n".join(sorted(sources)).encode()).hexdigest()[:12]
    created = every[0].start_time or "1970-01-01T00:00:00+00:00"
    return AcquisitionRecord(acquisition_id=acq_id, prefix=prefix, status="completed", created=created,
                             updated=created, source_masters=sources, data_files=data_files, sweeps=sweep_recs,
                             wedges=wedges)


def describe(sweeps: list[DiscoveredSweep]) -> str:
    """The grouping, one line per sweep and per wedge (for --dry-run)."""
    lines = []
    for d in sweeps:
        s0 = d.series[0]
        lines.append(f"sweep {d.id}: {d.n_frames} frames, omega {float(s0.omega[0]):g}° step {s0.omega_increment:g}°, "
                     f"λ {s0.wavelength_A:.5f} Å, kappa {s0.kappa}, phi {s0.phi}")
        for s in d.series:
            lines.append(f"  {s.master.name}: {s.n} frames from omega {float(s.omega[0]):g}° "
                         f"({len(s.data_files)} data files, started {s.start_time})")
    return "\n".join(lines)
