"""Benchmark the repackager against peers measured in the same run, and write docs/performance.md.

The collection: 4 sweeps x 3 600 frames in 144 interleaved wedge series (100 frames each), at the
project's 32 x 16 test frames and at Eiger2 4M frames (2068 x 2162 uint16, bitshuffle/LZ4). The
4M data are made once per run from one pre-compressed chunk (``write_direct_chunk``), so they are
real 4M data files without compressing 14 400 frames. Layout L: one data file per wedge (links);
layout V: 30 frames per file, so wedges cross file boundaries (a virtual dataset). Both are checked
to be what their label says.

Every case is timed in interleaved rounds (project, peers, project, ...) and the median is taken;
ratios are of medians of the same run. Peers:

- raw pixel copy: every frame's stored chunk copied into one new file per sweep with
  ``read_direct_chunk``/``write_direct_chunk`` (no decompression) and fsync'd, as the project
  fsyncs its masters: the cheapest real copy;
- open floor: opening every detector master and data file of the collection once with h5py;
- nexgen: nexgen's ``NXmxFileWriter`` (``write`` + ``write_vds``) per sweep on the same data
  files, called as its beamline tools call it (``beamlines/I19_2_gda_nxs.py: eiger_writer``). Its
  ``Goniometer._get_unique_scan_point_values`` is O(n²) in the scan length; it is left as it is.
  nexgen writes one VDS over the sweep's data files as if each held 1 000 frames and does no
  validation: it does not do the same job, it is the nearest writer there is.

Also: scaling 16 -> 10 000 wedges (each in a fresh process, with its peak RSS and, up to 1 000
wedges, the tracemalloc peak; the collections are byte copies of one series per sweep), frame read
throughput through L and V masters against direct reads (512 x 1028 and 4M), and the command
line's ``--help`` in a fresh process.

Run: .venv/bin/python benchmarks/bench_repackage.py [--quick] [--no-doc]
(nexgen comes with the ``bench`` extra: pip install -e .[bench]).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mxcubecore_interleave.eiger import DetectorGeometry, SeriesSpec, SeriesWriter  # noqa: E402
from mxcubecore_interleave.eiger import series as eiger_series  # noqa: E402
from mxcubecore_interleave.eiger.naming import series_files  # noqa: E402
from mxcubecore_interleave.nexus import repackage_record  # noqa: E402
from mxcubecore_interleave.nexus.series import _HEADERS  # noqa: E402
from mxcubecore_interleave.record import AcquisitionRecord, SweepRecord, WedgeRecord, record_path  # noqa: E402

WAVELENGTHS = (0.9793, 0.9537, 0.9184, 1.2398)
SMALL = DetectorGeometry(nx=32, ny=16)
EIGER2_4M = DetectorGeometry(nx=2068, ny=2162)
HALF_MODULE = DetectorGeometry(nx=1028, ny=512)
DOC = ROOT / "docs" / "performance.md"


# -- data ----------------------------------------------------------------------------------------
def one_chunk(geometry: DetectorGeometry, mean: float = 0.05) -> bytes:
    """One frame of sparse counts (a fine-sliced rotation frame), compressed once with bslz4."""
    frame = np.random.default_rng(1).poisson(mean, geometry.shape).astype(geometry.dtype)
    with h5py.File("chunk.h5", "w", driver="core", backing_store=False) as f:
        ds = f.create_dataset("d", data=frame[None], chunks=(1, *geometry.shape),
                              **hdf5plugin.Bitshuffle(nelems=0, cname="lz4"))
        return bytes(ds.id.read_direct_chunk((0, 0, 0))[1])


def _write_frames(w: SeriesWriter, n: int, frame: np.ndarray | None, chunk: bytes | None) -> None:
    if chunk is None:
        for _ in range(n):
            w.write(frame)
        return
    # the simulated detector's own files, with every frame's chunk written as stored bytes
    for _ in range(n):
        if w._file is None:
            w._open_next()
        w._ds.id.write_direct_chunk((w._in_file, 0, 0), chunk)
        w._in_file += 1
        w.n_written += 1
        if w._in_file == w._ds.shape[0]:
            w._close_current()


def make_collection(directory: Path, n_sweeps: int, frames_per_sweep: int, n_wedges: int, images_per_file: int,
                    geometry: DetectorGeometry, chunk: bytes | None = None) -> Path:
    """Interleaved wedges A1 B1 C1 D1 A2 ..., each its own detector series; returns the record."""
    wedges_per_sweep = n_wedges // n_sweeps
    wedge = frames_per_sweep // wedges_per_sweep
    frame = None if chunk else np.random.default_rng(1).poisson(3.0, geometry.shape).astype(geometry.dtype)
    rec_wedges = []
    g = order = 0
    fsync = eiger_series.fsync_path
    eiger_series.fsync_path = lambda p: None  # benchmark data: no need to reach the disk
    try:
        for k in range(wedges_per_sweep):
            for s in range(n_sweeps):
                series = f"bench_{order + 1}"
                spec = SeriesSpec(directory=directory, series=series, n_images=wedge, images_per_file=images_per_file,
                                  omega_start=k * wedge * 0.1, omega_increment=0.1, wavelength_A=WAVELENGTHS[s],
                                  exposure_time=0.01, detector=geometry)
                w = SeriesWriter(spec)
                _write_frames(w, wedge, frame, chunk)
                res = w.close()
                master, data = series_files(series, wedge, images_per_file)
                rec_wedges.append(WedgeRecord(order=order, sweep="ABCD"[s], sweep_first_frame=k * wedge + 1, n=wedge,
                                              n_collected=wedge, first_global=g + 1, omega_start=k * wedge * 0.1,
                                              source_master=master, data_files=data, status="complete",
                                              start_time=res.start_time, end_time=res.end_time))
                g += wedge
                order += 1
    finally:
        eiger_series.fsync_path = fsync
    rec = AcquisitionRecord(acquisition_id="bench", prefix="bench", status="completed",
                            sweeps=[SweepRecord(id="ABCD"[s], wavelength_A=WAVELENGTHS[s], omega_start=0.0,
                                                omega_increment=0.1, n_frames=wedges_per_sweep * wedge)
                                    for s in range(n_sweeps)],
                            wedges=rec_wedges)
    path = record_path(directory, "bench")
    rec.save(path)
    return path


def _seed(directory: Path, s: int, wedge: int, geometry: DetectorGeometry) -> tuple:
    """Sweep ``s``'s one series, as bytes: the copies' source (see ``make_copied_collection``)."""
    series = f"bench_9{s}999"  # the length of bench_00001 .. bench_10000
    spec = SeriesSpec(directory=directory, series=series, n_images=wedge, images_per_file=wedge,
                      omega_start=0.0, omega_increment=0.1, wavelength_A=WAVELENGTHS[s], exposure_time=0.01,
                      detector=geometry)
    w = SeriesWriter(spec)
    _write_frames(w, wedge, np.random.default_rng(1).poisson(3.0, geometry.shape).astype(geometry.dtype), None)
    res = w.close()
    master, (data,) = series_files(series, wedge, wedge)
    with h5py.File(directory / master, "r") as f:
        offsets = [f[p].id.get_offset() for p in ("/entry/sample/transformations/omega",
                                                  "/entry/sample/transformations/omega_end",
                                                  "/entry/sample/goniometer/omega",
                                                  "/entry/sample/goniometer/omega_end") if p in f]
        assert all(o is not None for o in offsets) and f["/entry/sample/transformations/omega"].dtype == np.float64
    raw = (directory / master).read_bytes()
    assert raw.count(data.encode()) == 1, "the data file's name must occur once in the master"
    seed = (raw, (directory / data).read_bytes(), data.encode(), offsets, res)
    (directory / master).unlink()
    (directory / data).unlink()
    return seed


def make_copied_collection(directory: Path, n_sweeps: int, n_wedges: int, wedge: int, geometry: DetectorGeometry) -> Path:
    """The same interleaved collection as ``make_collection`` with one data file per wedge, made
    quickly for the scaling table (10 000 wedges are 20 000 files): one series per sweep is written
    by the simulated detector, every other wedge is a copy of its sweep's bytes with the per-wedge
    values patched in place (omega and omega_end at their stored offsets, the data file's name in
    the link: series names of equal length). Asserted on the first copy by reading it back. The seeds
    are written in HDF5's version-0 format, not the filewriter's (``eiger.series.LIBVER``): a version-2
    object header is checksummed, so a patched name would no longer read."""
    directory.mkdir(parents=True, exist_ok=True)
    libver, eiger_series.LIBVER = eiger_series.LIBVER, ("earliest", "v108")  # v0 metadata: no checksums to patch
    try:
        seeds = [_seed(directory, s, wedge, geometry) for s in range(n_sweeps)]
    finally:
        eiger_series.LIBVER = libver
    rec_wedges = []
    g = order = 0
    for k in range(n_wedges // n_sweeps):
        for s in range(n_sweeps):
            raw, data_bytes, seed_data, offsets, res = seeds[s]
            master, (data,) = series_files(f"bench_{order + 1:05d}", wedge, wedge)
            omega = (k * wedge + np.arange(wedge, dtype=np.float64)) * 0.1
            buf = bytearray(raw.replace(seed_data, data.encode()))
            for off, values in zip(offsets, (omega, omega + 0.1, omega, omega + 0.1)):
                buf[off:off + 8 * wedge] = values.tobytes()
            (directory / master).write_bytes(buf)
            (directory / data).write_bytes(data_bytes)
            if order == n_sweeps:  # the first patched copy reads back as intended
                with h5py.File(directory / master, "r") as f:
                    assert np.array_equal(f["/entry/sample/transformations/omega"][()], omega)
                    assert f["/entry/data/data_000001"].shape[0] == wedge
            rec_wedges.append(WedgeRecord(order=order, sweep="ABCD"[s], sweep_first_frame=k * wedge + 1, n=wedge,
                                          n_collected=wedge, first_global=g + 1, omega_start=k * wedge * 0.1,
                                          source_master=master, data_files=[data], status="complete",
                                          start_time=res.start_time, end_time=res.end_time))
            g += wedge
            order += 1
    n_frames = n_wedges // n_sweeps * wedge
    rec = AcquisitionRecord(acquisition_id="bench", prefix="bench", status="completed",
                            sweeps=[SweepRecord(id="ABCD"[s], wavelength_A=WAVELENGTHS[s], omega_start=0.0,
                                                omega_increment=0.1, n_frames=n_frames) for s in range(n_sweeps)],
                            wedges=rec_wedges)
    path = record_path(directory, "bench")
    rec.save(path)
    return path


def _files(rp: Path) -> tuple[list[Path], dict[str, list[Path]]]:
    """(every detector master and data file, data files of each sweep in sweep order)."""
    rec = AcquisitionRecord.load(rp)
    d = rp.parent
    every = [d / w.source_master for w in rec.wedges] + [d / f for w in rec.wedges for f in w.data_files]
    by_sweep = {s.id: [d / f for w in sorted(rec.wedges_of(s.id), key=lambda w: w.sweep_first_frame)
                       for f in w.data_files] for s in rec.sweeps}
    return every, by_sweep


# -- the project and its peers -------------------------------------------------------------------
def project(rp: Path) -> tuple[float, str]:
    for m in rp.parent.glob("bench_[A-D]_master.h5"):
        m.unlink()  # a fresh write, not the "unchanged" shortcut
    _HEADERS.clear()  # a cold run: no data-file header remembered from the previous one
    t0 = time.perf_counter()
    res = repackage_record(rp, "after", save_record=False)
    return time.perf_counter() - t0, "".join(m.layout for m in res.masters)


def raw_copy(rp: Path, out: Path) -> float:
    """Every stored chunk of every sweep into one new file per sweep, in sweep order."""
    _every, by_sweep = _files(rp)
    out.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    for sid, files in by_sweep.items():
        with h5py.File(files[0], "r") as f0:
            ds0 = f0["/entry/data/data"]
            dcpl, dtype, frame = ds0.id.get_create_plist(), ds0.dtype, ds0.shape[1:]
        n = 0
        counts = []
        handles = [h5py.File(p, "r") for p in files]
        for h in handles:
            counts.append(h["/entry/data/data"].shape[0])
        with h5py.File(out / f"copy_{sid}.h5", "w") as dst:
            space = h5py.h5s.create_simple((sum(counts), *frame))
            ds = h5py.h5d.create(dst.id, b"data", h5py.h5t.py_create(dtype), space, dcpl=dcpl)
            for h, c in zip(handles, counts):
                src = h["/entry/data/data"].id
                for i in range(c):
                    mask, data = src.read_direct_chunk((i, 0, 0))
                    ds.write_direct_chunk((n, 0, 0), data, filter_mask=mask)
                    n += 1
        with open(out / f"copy_{sid}.h5", "rb+") as fh:
            os.fsync(fh.fileno())  # on disk, as the project's masters are (and no write-back left for the next case)
        for h in handles:
            h.close()
    t = time.perf_counter() - t0
    shutil.rmtree(out)
    return t


def open_floor(rp: Path) -> float:
    every, _ = _files(rp)
    t0 = time.perf_counter()
    for p in every:
        h5py.File(p, "r").close()
    return time.perf_counter() - t0


_CHECKED = [f"/entry/instrument/detector/detectorSpecific/{n}".encode()
            for n in ("x_pixels_in_detector", "y_pixels_in_detector", "nimages", "ntrigger")] + [
    b"/entry/sample/transformations/omega_increment_set", b"/entry/instrument/beam/incident_wavelength"]


def read_floor(rp: Path) -> float:
    """Opening every detector master and data file once and reading, with h5py's low-level API
    and no check, only what the repackager must check: per master 6 numbers, omega and
    omega_end, the /entry/data links; per data file its dataset's shape, dtype, filters and
    ``image_nr_low``. No master is written."""
    every, _ = _files(rp)
    masters = [p for p in every if p.name.endswith("_master.h5")]
    out = np.empty((), np.float64)
    scalar = h5py.h5s.create(h5py.h5s.SCALAR)
    t0 = time.perf_counter()
    kept = []  # the first 16 data files stay open, as in the project's run (datafiles.KEEP); the rest are closed
    for m in masters:
        fid = h5py.h5f.open(os.fsencode(m), h5py.h5f.ACC_RDONLY)
        for p in _CHECKED:
            h5py.h5d.open(fid, p).read(scalar, h5py.h5s.ALL, out, mtype=h5py.h5t.NATIVE_DOUBLE)
        for p in (b"/entry/sample/transformations/omega", b"/entry/sample/transformations/omega_end"):
            d = h5py.h5d.open(fid, p)
            d.read(h5py.h5s.ALL, h5py.h5s.ALL, np.empty(d.shape, np.float64), mtype=h5py.h5t.NATIVE_DOUBLE)
        g = h5py.h5g.open(fid, b"/entry/data")
        for k in g:
            if k.startswith(b"data_") and g.links.get_info(k).type == h5py.h5l.TYPE_EXTERNAL:
                name, path = g.links.get_val(k)
                df = h5py.h5f.open(os.fsencode(m.parent / name.decode()), h5py.h5f.ACC_RDONLY)
                ds = h5py.h5d.open(df, path)
                _shape, _dtype, plist = ds.shape, ds.dtype, ds.get_create_plist()
                _filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
                aid = h5py.h5a.open(ds, b"image_nr_low")
                aid.read(np.empty(aid.shape, aid.dtype))
                if len(kept) < 16:
                    kept.append(ds)
                else:
                    ds.close()
                del df
        del g, fid
    kept.clear()
    return time.perf_counter() - t0


def nexgen_writer(rp: Path, out: Path):
    """nexgen's NXmx writer, one master per sweep over the sweep's data files."""
    try:
        from nexgen.beamlines.I19_2_params import I19_2Eiger
        from nexgen.nxs_utils import Attenuator, Beam, Detector, EigerDetector, Goniometer, Source
        from nexgen.nxs_utils.scan_utils import calculate_scan_points
        from nexgen.nxs_write.nxmx_writer import NXmxFileWriter
    except ImportError:
        return None
    import copy
    import logging

    logging.getLogger("nexgen").setLevel(logging.ERROR)
    rec = AcquisitionRecord.load(rp)
    _every, by_sweep = _files(rp)
    with h5py.File(by_sweep["A"][0], "r") as f:
        ny, nx = f["/entry/data/data"].shape[1:]
    out.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    for s in rec.sweeps:
        files = by_sweep[s.id]
        n = sum(w.n for w in rec.wedges_of(s.id))
        gonio = copy.deepcopy(I19_2Eiger.gonio)
        gonio[0].start_pos, gonio[0].increment, gonio[0].num_steps = s.omega_start, s.omega_increment, n
        osc = calculate_scan_points(gonio[0], rotation=True, tot_num_imgs=n)
        det_axes = copy.deepcopy(I19_2Eiger.det_axes)
        det_axes[1].start_pos = 150.0  # det_z, mm (nexgen refuses 0)
        det = Detector(EigerDetector("Eiger2 X 4M", (ny, nx), "CdTe", 65535, -1), det_axes, [nx / 2, ny / 2], 0.01,
                       [I19_2Eiger.fast_axis, I19_2Eiger.slow_axis])
        writer = NXmxFileWriter(out / f"nexgen_{s.id}.nxs", Goniometer(gonio, osc), det, Source("I19-2"),
                                Beam(s.wavelength_A), Attenuator(1.0), n)
        writer.write(image_datafiles=files, start_time=datetime.datetime.now())
        writer.write_vds(vds_shape=(n, ny, nx), vds_dtype=np.uint16)
    t = time.perf_counter() - t0
    shutil.rmtree(out)
    return t


def rounds(cases: dict[str, callable], n: int) -> dict[str, float]:
    """Median of ``n`` interleaved rounds; the order rotates so no case always runs first."""
    times: dict[str, list[float]] = {k: [] for k in cases}
    names = list(cases)
    for r in range(n):
        for name in names[r % len(names):] + names[: r % len(names)]:
            t = cases[name]()
            if t is not None:
                times[name].append(t)
    return {k: statistics.median(v) for k, v in times.items() if v}


def pixel_independence(tmp: Path, chunk_4m: bytes, n_rounds: int, say) -> None:
    """The project alone at both frame sizes, in the same interleaved rounds, with no pixel copy
    between them (a copy's gigabytes of write-back would slow whatever runs next)."""
    say("## Pixel independence: the project at Eiger2 4M ÷ at 32 x 16 (same 144 wedges; median of "
        f"{n_rounds} interleaved rounds, no other case in between)")
    say()
    say("| layout | 32 x 16 (s) | Eiger2 4M (s) | 4M ÷ 32 x 16 | goal ≤ 1.2 |")
    say("|---|---|---|---|---|")
    for lay, ipf in (("L", 100), ("V", 30)):
        small = make_collection(tmp / f"px_small_{lay}", 4, 3600, 144, ipf, SMALL)
        big = make_collection(tmp / f"px_4m_{lay}", 4, 3600, 144, ipf, EIGER2_4M, chunk_4m)
        os.sync()
        for rp in (small, big):
            assert project(rp)[1] == lay * 4
        r = rounds({"small": lambda: project(small)[0], "4M": lambda: project(big)[0]}, n_rounds)
        ratio = r["4M"] / r["small"]
        say(f"| {lay} | {fmt(r['small'])} | {fmt(r['4M'])} | {ratio:.2f} | {'met' if ratio <= 1.2 else 'MISSED'} |")
        shutil.rmtree(small.parent)
        shutil.rmtree(big.parent)
    say()


# -- read throughput -------------------------------------------------------------------------------
def steady_allocator() -> bool:
    """Fix glibc's mmap and trim thresholds for the throughput rounds (returns False off glibc).

    Every frame read allocates and frees buffers of a frame's size (the numpy result, HDF5's chunk
    buffer, the filter's output). With glibc's *dynamic* thresholds, whether those come from a heap
    that keeps its pages or are mapped and page-faulted again on every frame depends on the history
    of the process's small allocations: the same read loop then costs 0-190 page faults per
    512 x 1028 frame and up to 30 % more CPU (docs/performance.md, "Why layout V seemed to read
    slower"), whichever reader it is. Fixed thresholds make both readers pay the same."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc malloc.h
    return bool(libc.mallopt(m_mmap_threshold, 256 << 20)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))


def _frames_via_master(f: h5py.File) -> list[tuple[h5py.Dataset, int]]:
    data = f["/entry/data"]
    return [(ds, i) for ds in (data[k] for k in sorted(data)) for i in range(ds.shape[0])]


def _frames_direct(handles: list[h5py.File]) -> list[tuple[h5py.Dataset, int]]:
    return [(ds, i) for ds in (h["/entry/data/data"] for h in handles) for i in range(ds.shape[0])]


def through_master(master: Path) -> tuple[float, int]:
    t0 = time.process_time()
    with h5py.File(master, "r") as f:
        n = _read_count(_frames_via_master(f))
    return time.process_time() - t0, n


def direct(files: list[Path]) -> tuple[float, int]:
    t0 = time.process_time()
    handles = [h5py.File(p, "r") for p in files]
    n = _read_count(_frames_direct(handles))
    for h in handles:
        h.close()
    return time.process_time() - t0, n


def _read_count(frames: list[tuple[h5py.Dataset, int]]) -> int:
    for ds, i in frames:
        ds[i]
    return len(frames)


def throughput(rp: Path, repeats: int) -> tuple[float, float, float, str]:
    """Frames/s through sweep A's master ÷ frames/s reading its data files directly.

    A reader that opens its files, reads every frame once in sweep order and closes them, timed
    with the opens. Fair on a shared machine: CPU time (`process_time`; the reads are
    single-threaded and the page cache warm), the dirty pages of the just-written collection
    flushed first (``os.sync``; one run without it ranged 0.74-1.38 per round, cause not isolated),
    both warmed once, the first of each round alternating. Never both readers open at once: HDF5
    shares an open dataset's chunk cache between two opens in one process, so the second reader
    would read the first's decompressed chunks. Returns the ratio of medians, the lowest and
    highest per-round ratio, and the layout."""
    res = repackage_record(rp, "after", save_record=False)
    master = res.masters[0].master
    _every, by_sweep = _files(rp)
    files = by_sweep["A"]
    os.sync()
    with h5py.File(master, "r") as f:  # the same pixels in the same order
        handles = [h5py.File(p, "r") for p in files]
        pairs = list(zip(_frames_via_master(f), _frames_direct(handles)))
        assert len(pairs) == len(_frames_direct(handles)) == len(_frames_via_master(f))
        for k in (0, len(pairs) // 2, len(pairs) - 1):
            (dv, iv), (dd, i_d) = pairs[k]
            assert np.array_equal(dv[iv], dd[i_d])
        for h in handles:
            h.close()
    direct(files)  # warm the page cache and both code paths
    through_master(master)
    via_t, dir_t = [], []
    for r in range(repeats):
        for first in ((True, False) if r % 2 == 0 else (False, True)):
            if first:
                t, n_via = through_master(master)
                via_t.append(t)
            else:
                t, n_dir = direct(files)
                dir_t.append(t)
        assert n_via == n_dir, (n_via, n_dir)
    per_round = [d / v for d, v in zip(dir_t, via_t)]
    return statistics.median(dir_t) / statistics.median(via_t), min(per_round), max(per_round), res.masters[0].layout


# -- fresh processes -------------------------------------------------------------------------------
SCALE = """
import json, statistics, sys, time, logging
sys.path.insert(0, {root!r})
logging.getLogger("mxcubecore_interleave").setLevel(logging.ERROR)
from mxcubecore_interleave.nexus import repackage_record
from mxcubecore_interleave.nexus.series import _HEADERS
from pathlib import Path
try:  # imported by the first run's nxmx check: imported here, so no timed run pays for it
    import nxmx
except ImportError:
    pass
rp = Path({rp!r})
def hwm():  # VmHWM: this process's own peak (ru_maxrss would include the parent's, inherited over fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
base = hwm()
ts, cs = [], []
for _ in range({repeats}):
    for m in rp.parent.glob("bench_[A-D]_master.h5"):
        m.unlink()
    _HEADERS.clear()
    c0, t0 = time.process_time(), time.perf_counter()
    repackage_record(rp, "after", save_record=False)
    ts.append(time.perf_counter() - t0)
    cs.append(time.process_time() - c0)
peak = hwm()
traced = None
if {traced}:  # one more run under tracemalloc (it slows the run: not timed)
    import tracemalloc
    for m in rp.parent.glob("bench_[A-D]_master.h5"):
        m.unlink()
    _HEADERS.clear()
    tracemalloc.start()
    repackage_record(rp, "after", save_record=False)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
print(json.dumps({{"t": statistics.median(ts), "cpu": statistics.median(cs), "peak_mb": peak / 1024, "run_mb": (peak - base) / 1024,
                  "traced_mb": traced}}))
"""


def scale_point(rp: Path, repeats: int = 3, traced: bool = True) -> dict:
    out = subprocess.run([sys.executable, "-c", SCALE.format(root=str(ROOT), rp=str(rp), repeats=repeats,
                                                             traced=traced)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cli_help(repeats: int = 5) -> float:
    exe = [sys.executable, "-m", "mxcubecore_interleave.cli", "--help"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(exe, env=env, capture_output=True, check=True)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def cli_repackage(rp: Path) -> float:
    for m in rp.parent.glob("bench_[A-D]_master.h5"):
        m.unlink()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mxcubecore_interleave.cli", "repackage", "--record", str(rp),
                    "--no-progress"], env=env, capture_output=True, check=True)
    return time.perf_counter() - t0


def interpreter_floor(repeats: int = 5) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def scaling(tmp: Path, quick: bool, say, points: list[int] | None = None) -> None:
    """Repackaging time and peak memory from 16 to 10 000 wedges, each in a fresh process."""
    say("## Scaling: 4 sweeps, links, one data file per wedge, 32 x 16 frames (fresh process each, nxmx imported "
        "before the timed runs; median of 3 runs up to 1 000 wedges, one run at 10 000)")
    say()
    say("| wedges | frames | seconds (wall) | CPU seconds | wall ms per wedge | CPU ms per wedge | "
        "peak RSS, VmHWM (MB) | VmHWM growth over the imports (MB) | Python heap peak, tracemalloc (MB) |")
    say("|---|---|---|---|---|---|---|---|---|")
    for n in points or ((16, 144, 1000) if quick else (16, 144, 1000, 10000)):
        wedge = max(1, 3600 // (n // 4))
        d = tmp / f"scale_{n}"
        rp = make_copied_collection(d, 4, n, wedge, SMALL)
        big = n > 1000
        p = scale_point(rp, repeats=1 if big else 3, traced=not big)
        traced = "not run (one more run of minutes)" if p["traced_mb"] is None else f"{p['traced_mb']:.0f}"
        say(f"| {n} | {wedge * n} | {fmt(p['t'])} | {fmt(p['cpu'])} | {1000 * p['t'] / n:.2f} | "
            f"{1000 * p['cpu'] / n:.2f} | {p['peak_mb']:.0f} | "
            f"{p['run_mb']:.0f} | {traced} |")
        shutil.rmtree(d)
    say()


def read_throughput(tmp: Path, chunk_4m: bytes, n_rounds: int, say) -> None:
    say("## Read throughput through the sweep master ÷ direct from the data files (sweep A, median of "
        f"{n_rounds} interleaved rounds)")
    say()
    steady = steady_allocator()
    say("Each pass opens its files, reads every frame once and closes them; CPU time (`time.process_time`), "
        "rounds alternating which goes first; " + ("glibc's malloc thresholds fixed for both (`steady_allocator`)." if steady
                          else "malloc thresholds NOT fixed (no glibc): page faults may dominate."))
    say("Each cell: ratio of medians (lowest–highest per-round ratio).")
    say()
    say("| frames | L | V |")
    say("|---|---|---|")
    for size, geo, chunk, fps in (("512 x 1028", HALF_MODULE, None, 900), ("Eiger2 4M", EIGER2_4M, chunk_4m, 200)):
        row = []
        # wedges of 25 (512 x 1028) or 50 (4M) frames: L = one file per wedge, V = files of 10 or 30
        for lay, ipf in (("L", 25 if fps == 900 else 50), ("V", 10 if fps == 900 else 30)):
            d = tmp / f"tp_{lay}"
            rp = make_collection(d, 4, fps, 144 if fps == 900 else 16, ipf, geo, chunk)
            ratio, lo, hi, got = throughput(rp, n_rounds)
            assert got == lay, f"throughput {size} {lay}: written as {got}"
            row.append(f"{ratio:.3f} ({lo:.2f}–{hi:.2f}, {'met' if ratio >= 0.97 else 'MISSED'})")
            shutil.rmtree(d)
        say(f"| {size} | {row[0]} | {row[1]} |")
    say()


def command_line(tmp: Path, say) -> None:
    say("## Command line (fresh process, median of 5)")
    say()
    rp = make_collection(tmp / "cli", 4, 3600, 144, 100, SMALL)
    h, py = cli_help(), interpreter_floor()
    say(f"- `mxcube-interleave --help`: {h:.3f} s (goal < 0.3 s {'met' if h < 0.3 else 'MISSED'}); "
        f"`python -c pass`: {py:.3f} s")
    say(f"- `mxcube-interleave repackage --record` (144 wedges, 32 x 16, L), end to end: {cli_repackage(rp):.3f} s")


# -- report ----------------------------------------------------------------------------------------
def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import nexgen

        ng = nexgen.__version__
    except Exception:  # noqa: BLE001
        ng = "not installed"
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores (shared with other jobs), "
            f"Python {platform.python_version()}, h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version}), "
            f"hdf5plugin {hdf5plugin.version}, nexgen {ng}")


def fmt(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def main() -> None:
    import logging

    logging.getLogger("mxcubecore_interleave").setLevel(logging.ERROR)  # the layout-V warnings
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="3 rounds, scaling up to 1 000 wedges")
    ap.add_argument("--no-doc", action="store_true", help=f"do not write {DOC.relative_to(ROOT)}")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--only-pixels", action="store_true", help="only the 4M ÷ 32 x 16 pixel-independence rounds")
    ap.add_argument("--only-scaling", action="store_true", help="only the scaling table")
    ap.add_argument("--only-cli", action="store_true", help="only the command-line timings")
    ap.add_argument("--points", type=int, nargs="+", default=None,
                    help="the scaling table's wedge counts (default 16 144 1000 10000; --quick: up to 1000)")
    ap.add_argument("--only-throughput", action="store_true", help="only the read-throughput table")
    ap.add_argument("--only-main", action="store_true",
                    help="only the 144-wedge table against the peers (32 x 16 and 4M, layouts L and V)")
    ap.add_argument("--skip-main", action="store_true",
                    help="skip the 144-wedge table against the peers (the slowest part: 4M pixel copies)")
    args = ap.parse_args()
    n_rounds = args.rounds or (3 if args.quick else 5)
    tmp = Path(tempfile.mkdtemp(prefix="bench_repackage_"))
    lines: list[str] = []

    def say(s: str = "") -> None:
        print(s, flush=True)
        lines.append(s)

    try:
        chunk_4m = one_chunk(EIGER2_4M)
        say(f"Machine: {machine()}; {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.")
        say()
        if args.only_scaling:
            scaling(tmp, args.quick, say, args.points)
            if not args.no_doc:
                write_doc(lines, "bench_repackage_scaling")
            return
        if args.only_cli:
            command_line(tmp, say)
            if not args.no_doc:
                write_doc(lines, "bench_repackage_cli")
            return
        if args.only_throughput:
            read_throughput(tmp, chunk_4m, n_rounds, say)
            if not args.no_doc:
                write_doc(lines, "bench_repackage_throughput")
            return
        if args.only_pixels:
            pixel_independence(tmp, chunk_4m, n_rounds, say)
            if not args.no_doc:
                write_doc(lines, "bench_repackage_pixels")
            return
        if not args.skip_main:
            say(f"## 144 wedges, 4 sweeps x 3 600 frames (median of {n_rounds} interleaved rounds at 32 x 16, "
                f"{max(3, n_rounds - 2)} at 4M; seconds)")
            say()
            say("Eiger2 4M frames: 2068 x 2162 uint16, bslz4, one stored chunk of "
                f"{len(chunk_4m) / 1e6:.2f} MB per frame ({len(chunk_4m) * 14400 / 1e9:.1f} GB per collection).")
            say()
            say("| frames | layout | project | raw pixel copy (fsync'd) | open floor | read floor | nexgen | project ÷ copy | "
                "project ÷ floor | read floor ÷ floor | project ÷ nexgen |")
            say("|---|---|---|---|---|---|---|---|---|---|---|")
            results: dict[tuple[str, str], dict[str, float]] = {}
            for size, geo, chunk in (("32 x 16", SMALL, None), ("Eiger2 4M", EIGER2_4M, chunk_4m)):
                for lay, ipf in (("L", 100), ("V", 30)):
                    d = tmp / f"{size.replace(' ', '')}_{lay}"
                    t0 = time.perf_counter()
                    rp = make_collection(d, 4, 3600, 144, ipf, geo, chunk)
                    made = time.perf_counter() - t0
                    got = project(rp)[1]
                    assert got == lay * 4, f"{size} {lay}: written as {got}"
                    r = rounds({"project": lambda: project(rp)[0], "copy": lambda: raw_copy(rp, d / "copy"),
                                "floor": lambda: open_floor(rp), "read": lambda: read_floor(rp),
                                "nexgen": lambda: nexgen_writer(rp, d / "nexgen")},
                               n_rounds if chunk is None else max(3, n_rounds - 2))  # a 4M copy moves 7 GB
                    results[(size, lay)] = r
                    ng = r.get("nexgen")
                    ng_cols = (f"{fmt(ng)} | ", f"{r['project'] / ng:.3f} |") if ng else ("– | ", "– |")
                    say(f"| {size} | {lay} | {fmt(r['project'])} | {fmt(r['copy'])} | {fmt(r['floor'])} | {fmt(r['read'])} | "
                        f"{ng_cols[0]}{r['project'] / r['copy']:.3f} | {r['project'] / r['floor']:.2f} | "
                        f"{r['read'] / r['floor']:.2f} | {ng_cols[1]}")
                    print(f"    (data made in {made:.1f} s)", flush=True)
                    shutil.rmtree(d)
            say()
            say("Goals:")
            for lay in ("L", "V"):
                small, big = results[("32 x 16", lay)], results[("Eiger2 4M", lay)]
                r = big["project"] / small["project"]
                say(f"- layout {lay}: 4M ÷ 32 x 16 = {r:.2f} (goal ≤ 1.2 {'met' if r <= 1.2 else 'MISSED'}); "
                    f"÷ raw copy at 4M = {big['project'] / big['copy']:.3f} (goal ≤ 0.05 "
                    f"{'met' if big['project'] / big['copy'] <= 0.05 else 'MISSED'}); ÷ floor "
                    f"{small['project'] / small['floor']:.2f} / {big['project'] / big['floor']:.2f} (goal ≤ 3 "
                    f"{'met' if max(small['project'] / small['floor'], big['project'] / big['floor']) <= 3 else 'MISSED'})"
                    + (f"; ÷ nexgen {small['project'] / small['nexgen']:.3f} / {big['project'] / big['nexgen']:.3f} "
                       f"(goal ≤ 0.5 {'met' if max(small['project'] / small['nexgen'], big['project'] / big['nexgen']) <= 0.5 else 'MISSED'})"
                       if "nexgen" in small and "nexgen" in big else ""))
            say()
            if args.only_main:
                if not args.no_doc:
                    write_doc(lines, "bench_repackage")
                return
        pixel_independence(tmp, chunk_4m, n_rounds, say)
        read_throughput(tmp, chunk_4m, n_rounds, say)
        scaling(tmp, args.quick, say)
        command_line(tmp, say)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not args.no_doc:
        write_doc(lines, "bench_repackage_rest" if args.skip_main else "bench_repackage")


def write_doc(lines: list[str], marker: str) -> None:
    text = DOC.read_text() if DOC.exists() else ""
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    block = begin + "\n" + "\n".join(lines) + "\n" + end
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
