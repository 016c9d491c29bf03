"""Build and run an interleaved collection on the loaded ``HWR.beamline`` (demo, scripts, tests).

An adapter, not core: it drives mxcubecore's queue the way mxcubeweb does (``HeadlessQueue``),
so the entry runs exactly as it would from the web or Qt. mxcubecore is imported lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .task import InterleavedTask, parse_task


def task_parameters(beamline: Any, task: InterleavedTask | dict, **overrides: Any) -> dict:
    """The flat parameter dict mxcubeweb would send for ``task`` (the five groups in one dict)."""
    from ..headless import HeadlessQueue  # noqa: F401  (same defaults as the web)

    task = task if isinstance(task, InterleavedTask) else parse_task(task)
    first = task.sweeps[0]
    p = beamline.get_default_acquisition_parameters().as_dict()
    p.update({
        "prefix": task.prefix, "subdir": task.subdir, "experiment_name": None, "type": "interleaved_collection",
        "label": "Interleaved", "beam_size": "0.05", "shape": -1, "helical": False, "mesh": False,
        "num_images": first.num_images, "first_image": 1, "osc_range": first.osc_range,
        "osc_start": first.omega_start, "exp_time": first.exposure_time, "energy": first.energy,
        "transmission": first.transmission, "resolution": first.resolution or p.get("resolution") or 2.0,
        "take_snapshots": 0, "inverse_beam": False,
        "sweeps": [s.model_dump(exclude={"inverse_of"}) for s in task.sweeps],
        "wedge_size": task.wedge_size, "wedge_unit": task.wedge_unit, "strategy": task.strategy,
        "images_per_file": task.images_per_file, "write_masters_before": task.write_masters_before,
        "orientation_change": task.orientation_change,
    })
    p.update(overrides)
    return p


@dataclass
class InterleavedRun:
    """What one run of the entry left: the queue model, the entry, the record and sweep masters."""

    node_id: int
    model: Any
    entry: Any
    finished: bool
    record_path: Path | None = None
    sweep_masters: list[Path] = field(default_factory=list)


def add_interleaved_collection(beamline: Any, task: InterleavedTask | dict, *, queue: Any = None,
                               sample_id: str = "1:01", **overrides: Any) -> tuple[Any, int]:
    """Queue ``task`` under a sample (added if needed); returns (HeadlessQueue, node id)."""
    from ..headless import HeadlessQueue

    q = queue
    if q is None:
        q = HeadlessQueue(beamline)
        q.add_sample(sample_id)
    node = q.add_task(sample_id, "interleaved_collection", task_parameters(beamline, task, **overrides),
                      label="Interleaved")
    return q, node


def run_interleaved_collection(beamline: Any, task: InterleavedTask | dict, *, timeout: float = 600.0,
                               sample_id: str = "1:01", **overrides: Any) -> InterleavedRun:
    """Queue ``task`` on ``beamline`` and run the queue to the end (the demo's entry point)."""
    q, node = add_interleaved_collection(beamline, task, sample_id=sample_id, **overrides)
    model, entry = q.entry(node)
    finished = q.execute(timeout=timeout)
    return InterleavedRun(node, model, entry, finished,
                          Path(model.record_path) if model.record_path else None,
                          [Path(p) for p in model.sweep_masters])


DEMO_TASK = {
    "sweeps": [
        {"id": "peak", "energy_keV": 12.66, "num_images": 20, "osc_range": 0.5, "exposure_time": 0.005,
         "inverse_beam": True, "transmission": 50.0},
        {"id": "remote", "energy_keV": 13.0, "num_images": 20, "osc_range": 0.5, "exposure_time": 0.005,
         "inverse_beam": True, "transmission": 50.0},
    ],
    "wedge_size": 5, "prefix": "demo", "subdir": "interleaved", "strategy": "min_motion",
}


def run_interleaved_demo(beamline: Any, output_dir: str | Path, task: dict | None = None,
                         *, echo=print) -> InterleavedRun:
    """The demo step: a two-energy inverse-beam collection on ``beamline``.

    Prints the schedule table, writes ``interleaved-schedule.png`` in ``output_dir``, runs the
    queue entry, and prints where the record and sweep masters are.
    """
    from .planner import plan
    from .schedule import format_schedule_table, plot_schedule

    t = parse_task(task or DEMO_TASK)
    p = plan(t)
    echo(format_schedule_table(p))
    png = plot_schedule(p, Path(output_dir) / "interleaved-schedule.png")
    echo(f"schedule: {png}")
    run = run_interleaved_collection(beamline, t)
    echo(f"acquisition record: {run.record_path}")
    for m in run.sweep_masters:
        echo(f"sweep master: {m}")
    return run
