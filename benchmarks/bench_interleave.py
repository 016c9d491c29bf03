"""Interleaved collection benchmarks: bookkeeping per wedge, planning speed, motion cost of the order.

Run: .venv/bin/python benchmarks/bench_interleave.py [--no-beamline]
"""

from __future__ import annotations

import sys

if "--no-beamline" not in sys.argv:
    from gevent import monkey

    monkey.patch_all(thread=False)

import logging  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from mxcubecore_interleave.interleave import compare_strategies, parse_task, plan  # noqa: E402
from mxcubecore_interleave.interleave.bookkeeping import RecordKeeper  # noqa: E402


def two_energy(n_images: int, wedge: int, inverse: bool = True, exp: float = 0.001) -> dict:
    return {"sweeps": [{"id": "peak", "energy_keV": 12.66, "num_images": n_images, "osc_range": 0.1,
                        "exposure_time": exp, "inverse_beam": inverse},
                       {"id": "remote", "energy_keV": 13.0, "num_images": n_images, "osc_range": 0.1,
                        "exposure_time": exp, "inverse_beam": inverse}],
            "wedge_size": wedge, "prefix": "bench", "subdir": "bench"}


def bench_planning() -> None:
    task = parse_task({"sweeps": [{"id": f"s{i}", "energy_keV": 12.0 + 0.2 * (i % 4), "kappa": 10.0 * (i % 5),
                                   "num_images": 1000, "osc_range": 0.1} for i in range(100)], "wedge_size": 1})
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        p = plan(task)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    _ = p.wedges
    t_rows = time.perf_counter() - t0
    t0 = time.perf_counter()
    c = p.cost()
    t_cost = time.perf_counter() - t0
    print(f"planning 100 sweeps x 1000 wedges ({len(p)} wedges, min_motion): median {1e3 * statistics.median(times):.1f} ms "
          f"(goal <= 100 ms); + Wedge rows {1e3 * t_rows:.0f} ms; cost {1e3 * t_cost:.1f} ms "
          f"({c.energy_changes} energy changes)")


def bench_cost_ratio() -> None:
    for inverse in (False, True):
        for n, wedge in ((100, 10), (360, 10), (1800, 50)):
            c = compare_strategies(parse_task(two_energy(n, wedge, inverse)))
            ratio = c["min_motion"].total_s / c["round_robin"].total_s
            print(f"motion cost min_motion / round_robin, two energies{' + inverse beam' if inverse else ''}, "
                  f"{n} images/sweep, wedge {wedge}: {c['min_motion'].total_s:.0f} s / {c['round_robin'].total_s:.0f} s "
                  f"= {ratio:.2f} (goal <= 0.6)")


def bookkeeping_per_wedge(n_images: int, wedge: int = 10) -> tuple[int, list[float]]:
    """begin + finish (with the atomic record write) for every wedge of a 4-sweep task, no hardware."""
    p = plan(parse_task(two_energy(n_images, wedge)))
    with tempfile.TemporaryDirectory() as d:
        keeper = RecordKeeper.create(p, d, 1)
        keeper.save()
        times = []
        for job in keeper.pending():
            t0 = time.perf_counter()
            keeper.begin(job)
            master = Path(d) / f"{job.prefix}_{job.run}_master.h5"
            data = [Path(d) / f"{job.prefix}_{job.run}_data_000001.h5"]
            keeper.finish(job, str(master), [str(x) for x in data], job.n)
            times.append(time.perf_counter() - t0)
    return len(p), times


def bench_bookkeeping_pure() -> None:
    """Per-wedge bookkeeping must not grow with the number of wedges: 80, 1 000 and 1 440+ wedges."""
    for n_images in (200, 2500, 3600, 7200):  # x 4 sweeps / wedges of 10 = 80, 1000, 1440, 2880 wedges
        n_wedges, times = bookkeeping_per_wedge(n_images)
        print(f"bookkeeping per wedge, record only ({n_wedges} wedges): median {1e3 * statistics.median(times):.2f} ms, "
              f"max {1e3 * max(times):.2f} ms, last 10% median {1e3 * statistics.median(times[-len(times) // 10:]):.2f} ms "
              "(goal <= 20 ms)", flush=True)


def bench_bookkeeping_beamline() -> None:
    """The entry on the mockup: time per wedge spent outside collect(), the filewriter wait and the motor/energy moves."""
    from mxcubecore_interleave.interleave.runner import run_interleaved_collection
    from mxcubecore_interleave.testing import load_beamline, unload_beamline

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as d:
        bl = load_beamline(data_root=d)
        try:
            run = run_interleaved_collection(bl, two_energy(40, 2, exp=0.001), timeout=600)
            times = run.entry.bookkeeping_s
        finally:
            unload_beamline()
    print(f"bookkeeping per wedge in the queue entry on the mockup ({len(times)} wedges, simulated hardware "
          f"excluded): median {1e3 * statistics.median(times):.2f} ms, max {1e3 * max(times):.2f} ms (goal <= 20 ms)")


if __name__ == "__main__":
    bench_planning()
    bench_cost_ratio()
    bench_bookkeeping_pure()
    if "--no-beamline" not in sys.argv:
        bench_bookkeeping_beamline()
