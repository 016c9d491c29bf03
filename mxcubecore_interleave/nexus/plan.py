"""Turn the acquisition record into sweeps of wedges: planned ("before") or as stored ("after").

"before": every planned wedge with the file names and sizes the detector will write, so the
masters' links become valid wedge by wedge while the experiment runs.
"after": only collected wedges (``n_collected`` frames), each read back from its detector series
on disk and checked against what the record says.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import h5py
import numpy as np

from ..eiger.naming import data_name, split_counts
from ..errors import RepackageError
from ..record import AcquisitionRecord, WedgeRecord
from .model import Collection, DataFile, Segment, Sweep, Wedge
from .series import read_series

Stage = Literal["before", "after"]
# bytes of each file fetched ahead (datafiles.prefetch): a DECTRIS-style data file's metadata
# lies in its first 4 KiB; a detector master's at its start and, behind the pixel mask, its end
PREFETCH_DATA = 16 << 10
PREFETCH_MASTER = 64 << 10


def join(base: Path, relative: str) -> Path:
    """``base/relative`` with ``..`` folded, so it works before ``base`` exists."""
    return Path(os.path.normpath(base / relative))


def segments_for(files: list[DataFile], n: int) -> list[Segment]:
    """The first ``n`` frames of a series made of ``files``."""
    out: list[Segment] = []
    left = n
    for f in files:
        if left <= 0:
            break
        take = min(f.n, left)
        if take > 0:
            out.append(Segment(f, 0, take))
        left -= take
    if left > 0:
        raise RepackageError(f"the series {files[0].path.name if files else '?'} holds {n - left} frames, "
                             f"{n} were expected")
    return out


def template_frame(template: Path) -> tuple[tuple[int, int], np.dtype]:
    """Frame shape and dtype that a (template) master promises, from its header alone."""
    with h5py.File(template, "r") as f:
        ds = "/entry/instrument/detector/detectorSpecific"
        try:
            nx = int(np.asarray(f[f"{ds}/x_pixels_in_detector"][()]))
            ny = int(np.asarray(f[f"{ds}/y_pixels_in_detector"][()]))
            bits = int(np.asarray(f["/entry/instrument/detector/bit_depth_image"][()]))
        except KeyError as exc:
            raise RepackageError(f"template master {template} lacks {exc}: cannot tell frame shape and dtype") from exc
    return (ny, nx), np.dtype(np.uint16 if bits <= 16 else np.uint32)


def _planned_files(rec: AcquisitionRecord, w: WedgeRecord, base: Path, images_per_file: int | None) -> list[DataFile]:
    known = {d.file: d.n for d in rec.data_files}
    names = list(w.data_files)
    if not names:
        if not w.source_master or not w.source_master.endswith("_master.h5"):
            raise RepackageError(f"planned wedge {w.order} (sweep {w.sweep}) names neither its data files nor "
                                 "its detector master; cannot write a master before the data exist")
        if not images_per_file:
            raise RepackageError("images_per_file is needed to name planned data files")
        series = w.source_master[: -len("_master.h5")]
        counts = split_counts(w.n, images_per_file)
        return [DataFile(join(base, data_name(series, i + 1)), c) for i, c in enumerate(counts)]
    if all(n in known for n in names):
        return [DataFile(join(base, n), known[n]) for n in names]
    if not images_per_file:
        raise RepackageError(f"the record gives no frame counts for the data files of wedge {w.order}; "
                             "images_per_file is needed")
    counts = split_counts(w.n, images_per_file)
    if len(counts) != len(names):
        raise RepackageError(f"wedge {w.order} lists {len(names)} data files, but {w.n} frames at "
                             f"{images_per_file} per file make {len(counts)}")
    return [DataFile(join(base, n), c) for n, c in zip(names, counts)]


def _close(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= 1e-6 * max(abs(scale), 1e-9)


def collection_from_record(
    record_path: str | os.PathLike[str],
    stage: Stage,
    *,
    template: Path | dict[str, Path] | None = None,
    images_per_file: int | None = None,
    record: AcquisitionRecord | None = None,
) -> tuple[AcquisitionRecord, Collection]:
    record_path = Path(record_path)
    rec = record or AcquisitionRecord.load(record_path)
    base = record_path.parent.resolve()
    base_s = os.fspath(base)
    if stage == "after":  # every series is read below: let the disk fetch their headers meanwhile
        from .datafiles import prefetch

        collected = [w for w in rec.wedges if w.source_master and w.collected]
        prefetch([os.path.join(base_s, w.source_master) for w in collected], PREFETCH_MASTER, PREFETCH_MASTER)
        prefetch([os.path.join(base_s, d) for w in collected for d in w.data_files], head=PREFETCH_DATA)
    sweeps: list[Sweep] = []
    for index, s in enumerate(rec.sweeps):
        wedges: list[Wedge] = []
        shape = dtype = None
        first_template: Path | None = None
        for w in rec.wedges_of(s.id, collected_only=(stage == "after")):
            src = join(base, w.source_master) if w.source_master else None
            if stage == "before":
                files = _planned_files(rec, w, base, images_per_file)
                n = w.n
                omega0, wl = w.omega_start, s.wavelength_A
            else:
                if src is None:
                    raise RepackageError(f"collected wedge {w.order} (sweep {s.id}) has no source_master in the record")
                info = read_series(src, brief=True, keep=first_template is None)  # the template: kept open
                if info.n != w.n_collected:
                    raise RepackageError(f"{src} holds {info.n} frames but the record says wedge {w.order} "
                                         f"collected {w.n_collected}")
                if w.data_files:  # as normalised strings: a Path per data file costs ~20 us
                    listed = [os.path.normpath(os.path.join(base_s, d)) for d in w.data_files]
                    stored = [os.fspath(d.path) for d in info.data_files]  # read_series normalises them
                    if listed != stored:
                        raise RepackageError(f"{src} links {[os.path.basename(p) for p in stored]} but the record "
                                             f"lists {[os.path.basename(p) for p in listed]} for wedge {w.order}")
                files, n = info.data_files, info.n
                omega0 = float(info.omega[0])
                if not _close(omega0, w.omega_start, s.omega_increment):
                    raise RepackageError(f"{src} starts at omega {omega0} but the record plans wedge {w.order} "
                                         f"at {w.omega_start}")
                if not _close(info.omega_increment, s.omega_increment, s.omega_increment):
                    raise RepackageError(f"{src} has omega increment {info.omega_increment}, sweep {s.id} "
                                         f"{s.omega_increment}")
                wl = info.wavelength_A if info.wavelength_A is not None else s.wavelength_A
                if abs(wl - s.wavelength_A) > 1e-5 * s.wavelength_A:
                    raise RepackageError(f"{src} was collected at {wl:.5f} Å, sweep {s.id} is at "
                                         f"{s.wavelength_A:.5f} Å: one wavelength per sweep")
                if shape is None:
                    shape, dtype = info.frame_shape, info.dtype
                elif (info.frame_shape, info.dtype) != (shape, dtype):
                    raise RepackageError(f"{src} holds {info.dtype} frames of {info.frame_shape}, sweep {s.id} "
                                         f"{dtype} frames of {shape}")
            if first_template is None and src is not None and src.exists():
                first_template = src
            wedges.append(Wedge(
                order=w.order, sweep=s.id, first_global=w.first_global, n=n,
                omega_start=omega0, omega_increment=s.omega_increment, wavelength_A=wl,
                segments=segments_for(files, n), source_master=src,
                start_time=w.start_time, end_time=w.end_time, kappa=s.kappa, phi=s.phi,
                name=(w.source_master or "").removesuffix("_master.h5") or f"{s.id}{w.order}",
            ))
        if not wedges:
            continue  # nothing collected for this sweep: no master
        tpl = first_template or (template.get(s.id) if isinstance(template, dict) else template)
        if tpl is None:
            raise RepackageError(f"sweep {s.id}: no detector master exists yet and no template master was "
                                 "given; configure template_master or let the detector supply one")
        if shape is None:
            shape, dtype = template_frame(tpl)
        sweep = Sweep(id=s.id, index=index, wedges=wedges, wavelength_A=s.wavelength_A, frame_shape=shape,
                      dtype=np.dtype(dtype), template=tpl, kappa=s.kappa, phi=s.phi, energy_keV=s.energy_keV)
        sweep.number()
        sweeps.append(sweep)
    if not sweeps:
        raise RepackageError(f"{record_path}: no sweep has {'planned' if stage == 'before' else 'collected'} "
                             "frames; nothing to write")
    sources = [join(base, m) for m in rec.source_masters]
    return rec, Collection(rec.acquisition_id, rec.prefix, base, sweeps, stage=stage, source_masters=sources)
