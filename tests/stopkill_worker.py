"""One process running the interleaved collection on the mockup beamline, for the kill -9 suite.

``python tests/stopkill_worker.py DATA_ROOT TASK_JSON [KILL]`` loads the mockup beamline from
``configuration/`` (as the tests and ``demo --quick`` load it), queues the task under sample
1:01 and runs the queue to its end. A new process resumes what an earlier one left, as a
restarted MXCuBE would (the queue rebuilt with the same task).

``KILL`` makes the process SIGKILL itself at a chosen point, to reach windows a timer rarely
hits (the effect is that of ``kill -9`` from outside at that instant):

* ``image:N``   at the N-th ``collectImageTaken`` of this process (mid-wedge, frames in flight)
* ``save:N``    right after the N-th atomic write of the acquisition record
* ``masters``   right after the after-masters were written, before the record says so

Prints one JSON line: the record path and the queue's result. Test helper, not product code.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all(thread=False)

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class _Counter:
    """A bound method as slot: mxcubecore's dispatcher holds slots weakly."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    def tick(self, *args) -> None:
        self.seen += 1
        if self.seen == self.n:
            _die()


def _arm(kill: str, bl) -> object | None:
    if not kill:
        return None
    what, _, arg = kill.partition(":")
    if what == "image":
        counter = _Counter(int(arg))
        bl.collect.connect("collectImageTaken", counter.tick)
        return counter
    if what == "save":
        from mxcubecore_interleave.interleave import bookkeeping

        counter = _Counter(int(arg))
        real = bookkeeping.RecordKeeper.save

        def save(self):
            out = real(self)
            counter.tick()
            return out

        bookkeeping.RecordKeeper.save = save  # type: ignore[method-assign]
        return counter
    if what == "masters":
        repackager = bl.get_object_by_role("master_file_repackager")
        real_write = repackager.write_sweep_masters

        def write(record_path, stage, *a, **kw):
            out = real_write(record_path, stage, *a, **kw)
            if stage == "after":
                _die()
            return out

        repackager.write_sweep_masters = write
        return repackager
    raise SystemExit(f"unknown kill point {kill!r}")


def main(argv: list[str]) -> int:
    data_root, task_json = Path(argv[0]), json.loads(argv[1])
    kill = argv[2] if len(argv) > 2 else ""
    import contextlib
    import io
    import logging

    with contextlib.redirect_stdout(io.StringIO()):  # mxcubecore prints its loading table
        from mxcubecore_interleave.interleave.runner import add_interleaved_collection
        from mxcubecore_interleave.testing import load_beamline

        logging.getLogger().setLevel(logging.ERROR)
        bl = load_beamline(ROOT / "configuration", data_root=data_root)
    keep = _arm(kill, bl)  # noqa: F841  (kept alive: weak slots)
    q, node = add_interleaved_collection(bl, task_json)
    model, entry = q.entry(node)
    finished = q.execute(timeout=240)
    idle = entry.wait_idle(60)
    print(json.dumps({"record": model.record_path, "finished": finished, "idle": idle}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
