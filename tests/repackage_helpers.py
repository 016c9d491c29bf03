"""Build small interleaved collections on disk with the simulated Eiger, for repackager tests.

Each wedge is its own detector series (``<prefix>_<run>_master.h5`` + data files); the synthetic
frame of global image g carries tag g (``mxcubecore_interleave.eiger.frame_tag``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py

from mxcubecore_interleave.eiger import DetectorGeometry, SeriesSpec, write_series
from mxcubecore_interleave.eiger.naming import series_files
from mxcubecore_interleave.record import AcquisitionRecord, SweepRecord, WedgeRecord, record_path

SMALL = DetectorGeometry(nx=24, ny=16, detector_number="E-TEST")


@dataclass
class SweepDef:
    id: str
    wavelength_A: float
    omega_start: float = 0.0
    omega_increment: float = 0.5
    n_frames: int = 8
    kappa: float = 0.0
    phi: float = 0.0


def interleaved_record(
    directory: Path,
    sweeps: list[SweepDef],
    *,
    wedge_size: int = 4,
    images_per_file: int = 4,
    prefix: str = "ilv",
    write: bool = True,
    partial: dict[int, int] | None = None,
    skip: set[int] = frozenset(),
    geometry: DetectorGeometry = SMALL,
) -> Path:
    """Wedges A1 B1 A2 B2 …; ``partial={order: n}`` aborts that wedge after n frames,
    ``skip`` leaves wedges planned. Returns the record path (record saved next to the data)."""
    directory.mkdir(parents=True, exist_ok=True)
    partial = partial or {}
    n_wedges = max(-(-s.n_frames // wedge_size) for s in sweeps)
    wedges: list[WedgeRecord] = []
    order = 0
    g = 1
    for k in range(n_wedges):
        for s in sweeps:
            first = k * wedge_size
            if first >= s.n_frames:
                continue
            n = min(wedge_size, s.n_frames - first)
            series = f"{prefix}_{order + 1}"
            master, data = series_files(series, n, images_per_file)
            w = WedgeRecord(order=order, sweep=s.id, sweep_first_frame=first + 1, n=n, first_global=g,
                            omega_start=s.omega_start + first * s.omega_increment, source_master=master,
                            data_files=data, status="planned")
            if write and order not in skip:
                n_take = partial.get(order, n)
                spec = SeriesSpec(directory=directory, series=series, n_images=n, images_per_file=images_per_file,
                                  omega_start=w.omega_start, omega_increment=s.omega_increment,
                                  wavelength_A=s.wavelength_A, exposure_time=0.01, detector=geometry,
                                  kappa=s.kappa, phi=s.phi, first_image_number=g)
                if n_take < n:
                    from mxcubecore_interleave.eiger import SeriesWriter, synthetic_frame

                    writer = SeriesWriter(spec)
                    for i in range(n_take):
                        writer.write(synthetic_frame(g + i, spec.omega(i), geometry.shape,
                                                     beam_center=geometry.beam_center, dtype=geometry.dtype,
                                                     mask=geometry.pixel_mask()))
                    res = writer.close(aborted=True)
                    w.status, w.n_collected = "partial", n_take
                    w.data_files = [p.name for p in res.data_files]
                else:
                    res = write_series(spec)
                    w.status, w.n_collected = "complete", n
                w.start_time, w.end_time = res.start_time, res.end_time
            wedges.append(w)
            g += w.n_collected if w.status in ("complete", "partial") else n
            order += 1
    rec = AcquisitionRecord(
        acquisition_id="test-acq-1", prefix=prefix, status="completed" if write else "planned",
        sweeps=[SweepRecord(id=s.id, wavelength_A=s.wavelength_A, omega_start=s.omega_start,
                            omega_increment=s.omega_increment, n_frames=s.n_frames, kappa=s.kappa, phi=s.phi,
                            exposure_time=0.01) for s in sweeps],
        wedges=wedges,
    )
    rec.renumber()
    path = record_path(directory, prefix)
    rec.save(path)
    return path


TWO_SWEEPS = [SweepDef("A", 0.9793, 0.0, 0.5, 8), SweepDef("B", 0.9537, 0.0, 0.5, 8)]


def broken_copy(master: Path, change: Callable[[h5py.File], None]) -> Path:
    """A copy of ``master`` beside it with ``change`` applied: a master made to trip one check."""
    copy = master.parent / "ilv_Z_master.h5"
    shutil.copyfile(master, copy)
    with h5py.File(copy, "r+") as f:
        change(f)
    return copy
