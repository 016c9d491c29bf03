"""Murko centring overhead: wall time ÷ (motor motion time + its Murko round trips). Goal ≤ 1.1.

Runs on the mockup beamline from configuration/ with the simulated camera and the embedded mock
Murko server on loopback. The motion time is what ``diffractometer.set_value_motors`` took
(omega to each view, then the correction); a round trip is the one request carrying all views of
a round. With fewer views than ``min_views`` (5; the default 4 views) a second, verifying round
follows the first, so the centring makes two round trips; the rounds column shows how many.
Whatever is left (grabbing the pictures, the fit, bookkeeping) is the centring's own overhead.

Two ratios, both from the moment ``centre()`` is called: up to ``centringSuccessful`` (the motors
are in place; what the UI waits for; the goal applies to it), and up to ``centre()`` returning,
which includes storing the 3D files (hull, HDF5, PLY, PNG). The files are written after
``centringSuccessful``, in gevent's thread pool; their time is also shown on its own.

    .venv/bin/python benchmarks/bench_centring.py [--repeats N]
"""

from gevent import monkey

monkey.patch_all(thread=False)

import argparse  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--views", type=int, default=4)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    import contextlib
    import io

    from mxcubecore_interleave.murko_demo import mock_server_class

    MockMurkoServer = mock_server_class()
    import time

    from mxcubecore_interleave.murko_demo import centring_error_mm, place_sample
    from mxcubecore_interleave.testing import load_beamline, unload_beamline

    class Signalled:  # a live object: PyDispatcher holds slots weakly
        at = 0.0

        def __call__(self, *args):
            Signalled.at = time.monotonic()

    angles = [360.0 * k / args.views for k in range(args.views)]
    with tempfile.TemporaryDirectory() as tmp:
        with contextlib.redirect_stdout(io.StringIO()):
            bl = load_beamline(ROOT / "configuration", data_root=Path(tmp) / "data")
        murko = bl.get_object_by_role("murko")
        server = MockMurkoServer("127.0.0.1", port=0)
        server.start()
        try:
            murko.set_server("127.0.0.1", server.port)
            signalled = Signalled()
            murko.connect("centringSuccessful", signalled)
            rows = []
            for i in range(args.repeats):
                place_sample(bl, {"phiy": 0.03, "phiz": -0.01, "sampx": 0.02, "sampy": 0.015}, omega=0.0)
                t0 = time.monotonic()
                result = murko.centre(output_dir=Path(tmp) / "out", prefix=f"bench{i}", omega_angles_deg=angles)
                t_return = time.monotonic() - t0
                t_signal = Signalled.at - t0
                t = result.timings_s
                error_um = max(abs(v) for v in centring_error_mm(bl).values()) * 1000.0
                base = t["motion"] + t["murko"]
                rows.append((t_signal, t_return, t["motion"], t["murko"], t["images"], t.get("store", 0.0),
                             t_signal / base, t_return / base, error_um, len(result.rounds)))
        finally:
            server.stop()
            unload_beamline()

    print(f"Murko centring on the mockup, {args.views} views, {args.repeats} runs (mock server on loopback)")
    print(f"{'run':>3} {'to signal s':>11} {'to return s':>11} {'motion s':>8} {'murko s':>8} {'images s':>8} "
          f"{'3D store s':>10} {'ratio':>6} {'ratio+3D':>8} {'error um':>8} {'rounds':>6}")
    for i, (sig, ret, motion, rtt, images, store, ratio, ratio_all, err, n) in enumerate(rows):
        print(f"{i:>3} {sig:11.3f} {ret:11.3f} {motion:8.3f} {rtt:8.3f} {images:8.3f} {store:10.3f} "
              f"{ratio:6.3f} {ratio_all:8.3f} {err:8.3f} {n:>6}")
    median = statistics.median(r[6] for r in rows)
    median_all = statistics.median(r[7] for r in rows)
    print(f"time to centringSuccessful / (motion + Murko round trips): median {median:.3f} (goal <= {GOAL}: "
          f"{'met' if median <= GOAL else 'MISSED'})")
    print(f"time to centre() returning, 3D files stored / (motion + Murko round trips): median {median_all:.3f}")
    print(f"worst centring error: {max(r[8] for r in rows):.3f} um (goal <= 2 um)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
