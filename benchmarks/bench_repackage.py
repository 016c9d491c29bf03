"""Benchmark the repackager: time to write sweep masters, and frame-read throughput through them.

Goals (issue #5): 4 sweeps x 3 600 frames in 144 wedge series repackaged in <= 0.5 s; frame read
throughput through a sweep master / directly from the data files >= 0.97. Also prints how the
repackaging time grows with the number of wedges, and one end-to-end run in a fresh Python process
(interpreter start, imports including nxmx, and the repackaging), which is what a command-line
call costs.

Run: .venv/bin/python benchmarks/bench_repackage.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mxcubecore_interleave.eiger import DetectorGeometry, SeriesSpec, SeriesWriter  # noqa: E402
from mxcubecore_interleave.eiger.naming import series_files  # noqa: E402
from mxcubecore_interleave.nexus import repackage_record  # noqa: E402
from mxcubecore_interleave.nexus.series import _HEADERS  # noqa: E402
from mxcubecore_interleave.record import AcquisitionRecord, SweepRecord, WedgeRecord, record_path  # noqa: E402

WAVELENGTHS = (0.9793, 0.9537, 0.9184, 1.2398)


def make_collection(directory: Path, n_sweeps: int, frames_per_sweep: int, n_wedges: int, images_per_file: int,
                    geometry: DetectorGeometry) -> Path:
    """Interleaved wedges, each its own series; frames are cheap constant images (the benchmark
    measures the repackager, not the simulated detector)."""
    wedges_per_sweep = n_wedges // n_sweeps
    wedge = frames_per_sweep // wedges_per_sweep
    rng = np.random.default_rng(1)
    frame = rng.poisson(3.0, geometry.shape).astype(geometry.dtype)
    rec_wedges = []
    g = order = 0
    for k in range(wedges_per_sweep):
        for s in range(n_sweeps):
            series = f"bench_{order + 1}"
            spec = SeriesSpec(directory=directory, series=series, n_images=wedge, images_per_file=images_per_file,
                              omega_start=k * wedge * 0.1, omega_increment=0.1, wavelength_A=WAVELENGTHS[s],
                              exposure_time=0.01, detector=geometry)
            w = SeriesWriter(spec)
            for _ in range(wedge):
                w.write(frame)
            res = w.close()
            master, data = series_files(series, wedge, images_per_file)
            rec_wedges.append(WedgeRecord(order=order, sweep="ABCD"[s], sweep_first_frame=k * wedge + 1, n=wedge,
                                          n_collected=wedge, first_global=g + 1, omega_start=k * wedge * 0.1,
                                          source_master=master, data_files=data, status="complete",
                                          start_time=res.start_time, end_time=res.end_time))
            g += wedge
            order += 1
    rec = AcquisitionRecord(acquisition_id="bench", prefix="bench", status="completed",
                            sweeps=[SweepRecord(id="ABCD"[s], wavelength_A=WAVELENGTHS[s], omega_start=0.0,
                                                omega_increment=0.1, n_frames=frames_per_sweep)
                                    for s in range(n_sweeps)],
                            wedges=rec_wedges)
    path = record_path(directory, "bench")
    rec.save(path)
    return path


def time_repackage(rp: Path, repeats: int = 5) -> tuple[float, float, str]:
    times = []
    layout = "?"
    for i in range(repeats):
        for m in rp.parent.glob("bench_[A-D]_master.h5"):
            m.unlink()  # time a fresh write, not the "unchanged" shortcut
        _HEADERS.clear()  # no data-file header cached from the previous run: a cold run
        t0 = time.perf_counter()
        res = repackage_record(rp, "after")
        times.append(time.perf_counter() - t0)
        layout = "".join(m.layout for m in res.masters)
    return statistics.median(times), min(times), layout


FRESH = """
import time
t0 = time.perf_counter()
import logging
import nxmx  # the validator parses every master with it
from mxcubecore_interleave.nexus import repackage_record
t1 = time.perf_counter()
logging.getLogger("mxcubecore_interleave").setLevel(logging.ERROR)
res = repackage_record({rp!r}, "after")
t2 = time.perf_counter()
print(json.dumps({{"imports": t1 - t0, "repackage": t2 - t1, "layouts": "".join(m.layout for m in res.masters)}}))
"""


def time_fresh_process(rp: Path) -> tuple[float, float, float]:
    """(whole process, imports, repackaging) of one run in a new interpreter, seconds."""
    for m in rp.parent.glob("bench_[A-D]_master.h5"):
        m.unlink()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", "import json\n" + FRESH.format(rp=str(rp))], env=env,
                         capture_output=True, text=True, check=True)
    total = time.perf_counter() - t0
    d = json.loads(out.stdout.strip().splitlines()[-1])
    return total, d["imports"], d["repackage"]


def read_all(datasets) -> int:
    n = 0
    for ds in datasets:
        for i in range(ds.shape[0]):
            ds[i]
            n += 1
    return n


def throughput(rp: Path, master: Path, repeats: int = 5) -> tuple[float, float]:
    """Frames per second reading every frame of sweep A, through its master and directly from its
    data files; the two alternate and the best of ``repeats`` counts (the machine is shared)."""
    rec = AcquisitionRecord.load(rp)
    files = [rp.parent / d for w in rec.wedges_of("A") for d in w.data_files]
    via, direct = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with h5py.File(master, "r") as f:
            data = f["/entry/data"]
            n = read_all([data[k] for k in sorted(data)])
        via.append(n / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        handles = [h5py.File(p, "r") for p in files]
        n = read_all([h["/entry/data/data"] for h in handles])
        for h in handles:
            h.close()
        direct.append(n / (time.perf_counter() - t0))
    return max(via), max(direct)


def main() -> None:
    import logging

    logging.getLogger("mxcubecore_interleave").setLevel(logging.ERROR)  # the layout-V warnings
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller scaling sweep")
    args = ap.parse_args()
    small = DetectorGeometry(nx=32, ny=16)
    tmp = Path(tempfile.mkdtemp(prefix="bench_repackage_"))
    try:
        print("repackaging time, cold (4 sweeps x 3 600 frames, 144 wedge series; median of 5)")
        for ipf, label in ((100, "one data file per wedge -> links (L)"), (25, "4 data files per wedge -> links (L)"), (30, "30 per file -> virtual dataset (V)")):
            rp = make_collection(tmp / f"main_{ipf}", 4, 3600, 144, ipf, small)
            t, best, layout = time_repackage(rp)
            print(f"  {label}: median {t:.3f} s (best {best:.3f} s)  layouts {layout}  goal <= 0.5 s  "
                  f"{'OK' if t <= 0.5 else 'MISSED'}")
            if ipf == 25:
                total, imports, run = time_fresh_process(rp)
                print(f"    the same in a fresh process: {total:.3f} s end to end (imports {imports:.3f} s, "
                      f"repackaging {run:.3f} s, the rest interpreter start)")
        print("growth with the number of wedges (4 sweeps x 3 600 frames, links)")
        counts = (16, 48, 144) if args.quick else (16, 48, 144, 288, 576)
        rows = []
        for n in counts:
            rp = make_collection(tmp / f"scale_{n}", 4, 3600, n, 3600 * 4 // n, small)
            t, _best, _ = time_repackage(rp, repeats=3)
            rows.append((n, t))
            print(f"  {n:4d} wedges: {t:.3f} s  ({1000 * t / n:.2f} ms per wedge)")
        (n0, t0), (n1, t1) = rows[0], rows[-1]
        print(f"  slope ~ {1000 * (t1 - t0) / (n1 - n0):.2f} ms per extra wedge")
        print("frame read throughput, sweep A (900 frames of 512 x 1028 uint16, bslz4), best of 5")
        geo = DetectorGeometry(nx=1028, ny=512)
        for ipf, lay in ((25, "L"), (30, "V")):
            rp = make_collection(tmp / f"tp_{ipf}", 4, 900, 144, ipf, geo)
            res = repackage_record(rp, "after")
            via, direct = throughput(rp, res.masters[0].master)
            ratio = via / direct
            print(f"  layout {lay}: through master {via:.0f} frames/s, direct {direct:.0f} frames/s, ratio {ratio:.3f}"
                  f"  goal >= 0.97  {'OK' if ratio >= 0.97 else 'MISSED'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
