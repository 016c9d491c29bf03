"""The end-to-end demo on the mockup beamline (``make demo``).

Each step uses the beamline as a beamline scientist would through the queue and prints what it
wrote. Output goes to a new run directory under ``--output`` so a second run never touches the
first one's data.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .testing import DEFAULT_CONFIG_DIR

DEMO_LAYER = DEFAULT_CONFIG_DIR / "demo"


def _print_table(rows: list[dict], columns: list[str], out=sys.stdout) -> None:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  " + "  ".join(c.ljust(widths[c]) for c in columns), file=out)
    print("  " + "  ".join("-" * widths[c] for c in columns), file=out)
    for r in rows:
        print("  " + "  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns), file=out)


def step_ordinary_collection(bl, run_dir: Path) -> dict:
    """One ordinary rotation collection through mxcubecore's queue and the simulated Eiger."""
    from .eiger.inspect import summarize_master
    from .headless import HeadlessQueue

    q = HeadlessQueue(bl)
    sid = q.add_sample("1:05", "demo0", "LYS")
    params = q.data_collection_parameters(prefix="lys", subdir="ordinary", num_images=20, osc_start=0.0,
                                          osc_range=0.2, exp_time=0.02, energy=12.4, transmission=20.0,
                                          resolution=1.8)
    node = q.add_task(sid, "DataCollection", params)
    model, _ = q.entry(node)
    if not q.execute(timeout=300):
        raise RuntimeError("the ordinary collection did not finish within 300 s")
    pt = model.acquisitions[0].path_template
    master = Path(pt.directory) / Path(pt.get_image_path()).name
    # the filewriter closes the series after the collect returns: read it once it is on disk
    import gevent

    from .eiger.written import wait_written

    wait_written(master, 20, timeout=30, sleep=gevent.sleep)
    summary = summarize_master(master)
    print(f"  wrote {master}")
    _print_table([summary | {"data_files": len(summary["data_files"]),
                             "omega": f"{summary['omega_start']:.2f}..{summary['omega_end']:.2f} deg",
                             "wavelength": f"{summary['wavelength_A']:.5f} A"}],
                 ["master", "data_files", "frames", "frame_shape", "omega", "wavelength"])
    lims = bl.lims.recorded
    print(f"  LIMS mockup: {len(lims['groups'])} group(s), {len(lims['collections'])} collection(s)")
    return {**summary, "master": str(master)}


def step_interleaved_collection(bl, run_dir: Path) -> dict:
    """Two energies with inverse beam, interleaved; the record and one sweep master per sweep."""
    from .interleave.runner import run_interleaved_demo

    return run_interleaved_demo(bl, run_dir)


def step_murko_centring(bl, run_dir: Path) -> dict:
    """Murko centring of the simulated sample through the mock server, with its 3D model."""
    from .murko_demo import run_centring_demo

    summary = run_centring_demo(bl, run_dir)
    before = max(abs(v) for v in summary["error_before_um"].values())
    print(f"  {summary['views']} views, {summary['rounds']} round(s): crystal {before:.1f} um off before, "
          f"{summary['max_error_after_um']:.2f} um after; fit RMS {summary['fit_rms_um']:.2f} um")
    for kind, path in summary["files"].items():
        print(f"  {kind:7s}{path}")
    return summary


STEPS: list[tuple[str, Callable]] = [
    ("Ordinary data collection through the queue", step_ordinary_collection),
    ("Interleaved collection: two energies, inverse beam", step_interleaved_collection),
    ("Murko centring with a 3D model", step_murko_centring),
]


def _quiet_logs(verbose: bool) -> None:
    import logging

    if verbose:
        return
    for name in ("", "HWR", "user_level_log", "queue_exec", "py.warnings"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)
    # mxcubecore's headless ViewDelegate warns for every view call it ignores (set_queue_entry
    # on each queue entry): expected without a GUI, and noise in the demo's output
    logging.getLogger("HWR").addFilter(
        lambda record: not str(record.msg).startswith("ViewDelegate: unhandled view method"))


def run_demo(output: str | os.PathLike[str], *, config: str | None = None, quick: bool = False,
             verbose: bool = False) -> dict:
    """Load the mockup beamline and run every step; return (and write) a summary."""
    from gevent import monkey

    if not monkey.is_module_patched("socket"):
        raise RuntimeError("gevent monkey patching must happen before the demo imports mxcubecore")
    from .testing import load_beamline, unload_beamline

    output = Path(output).resolve()
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = output / f"run-{stamp}"
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = output / f"run-{stamp}-{n}"
    run_dir.mkdir(parents=True)
    if config is None:
        config = str(DEFAULT_CONFIG_DIR) if quick else f"{DEMO_LAYER}{os.pathsep}{DEFAULT_CONFIG_DIR}"
    print(f"Loading the mockup beamline from {config}")
    t0 = time.monotonic()
    import contextlib
    import io

    table = io.StringIO()
    with contextlib.redirect_stdout(table):  # mxcubecore prints its loading table
        import mxcubecore  # noqa: F401  (sets up mxcubecore's log handlers first)

        _quiet_logs(verbose)
        bl = load_beamline(config, data_root=run_dir)
    if verbose:
        print(table.getvalue())
    print(f"  loaded in {time.monotonic() - t0:.1f} s; data go to {run_dir}")
    summary: dict = {"run_dir": str(run_dir), "steps": {}}
    try:
        for i, (title, fn) in enumerate(STEPS, 1):
            print(f"\n[{i}/{len(STEPS)}] {title}")
            t0 = time.monotonic()
            summary["steps"][fn.__name__] = fn(bl, run_dir)
            print(f"  ({time.monotonic() - t0:.1f} s)")
    finally:
        unload_beamline()
    (run_dir / "demo_summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(f"\nDemo finished. Everything it wrote is under {run_dir}")
    return summary
