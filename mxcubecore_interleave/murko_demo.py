"""Murko centring on the simulated beamline, for the demo, the tests and the benchmark.

``run_centring_demo(beamline, output_dir)`` puts the simulated sample off centre, starts the
embedded mock Murko server on a free loopback port, centres through the ``murko`` HardwareObject
and returns a summary (error before and after, the stored HDF5 / PLY / PNG paths).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CENTRING_ROLES = ("phiy", "phiz", "sampx", "sampy")
DEFAULT_OFFSET_MM = {"phiy": 0.030, "phiz": -0.012, "sampx": 0.020, "sampy": 0.015}
"""Where the demo starts: this far (mm) from the position that centres the crystal."""


def mock_server_class() -> type:
    """The embedded mock Murko server (``MockMurkoServer(host, port=0, delay_s, mode)``)."""
    from mxcubecore_interleave.simulation.murko_mock_server import MockMurkoServer

    return MockMurkoServer


def settle_motors(beamline: Any, timeout: float = 30.0) -> None:
    """Stop moves still under way and wait until every diffractometer motor is ready.

    ``DiffractometerMockup.init`` sends every motor to a random position without waiting (omega
    twice: a short move, then one of up to 3.6 s). A later move would race with those, and the
    one that ends last wins, so positioning must first abort them.
    """
    import gevent

    motors = beamline.diffractometer.get_motors()
    for motor in motors.values():
        if hasattr(motor, "abort"):
            motor.abort()  # the state may already read READY while the long omega move runs
    gevent.sleep(0.15)  # the mockup's short random moves (< 0.09 s) end by themselves
    deadline = time.monotonic() + timeout
    for role, motor in motors.items():
        while motor.get_state() != motor.STATES.READY:
            if time.monotonic() > deadline:
                raise TimeoutError(f"diffractometer motor {role} still moving after {timeout} s")
            gevent.sleep(0.02)


def place_sample(
    beamline: Any,
    offsets_mm: Mapping[str, float] | None = None,
    omega: float = 0.0,
    timeout: float = 60.0,
) -> dict[str, float]:
    """Move the centring motors to ``offsets_mm`` away from centring the simulated crystal.

    Returns the motor positions that centre the crystal (the truth the tests compare with).
    """
    camera = beamline.sample_view.camera
    truth = camera.scene.crystal_centred_position()
    offsets = dict(DEFAULT_OFFSET_MM if offsets_mm is None else offsets_mm)
    target = {role: truth[role] + float(offsets.get(role, 0.0)) for role in CENTRING_ROLES}
    target["omega"] = float(omega)
    settle_motors(beamline, timeout)
    beamline.diffractometer.set_value_motors(target, timeout=timeout)
    return truth


def centring_error_mm(beamline: Any) -> dict[str, float]:
    """Current motor positions minus those that centre the simulated crystal, per motor."""
    truth = beamline.sample_view.camera.scene.crystal_centred_position()
    now = beamline.diffractometer.get_value_motors(list(CENTRING_ROLES))
    return {role: float(now[role]) - truth[role] for role in CENTRING_ROLES}


def run_centring_demo(
    beamline: Any,
    output_dir: str | Path,
    *,
    offsets_mm: Mapping[str, float] | None = None,
    prefix: str = "demo",
    server_delay_s: float = 0.0,
) -> dict[str, Any]:
    """Centre the simulated sample through the embedded mock Murko server; write HDF5, PLY, PNG.

    ``beamline`` is the loaded ``HWR.beamline`` (with the ``murko`` role, the simulated camera and
    ``MurkoSampleView``). Returns a JSON-friendly summary: error before/after (um per motor), the
    fit RMS, the files, and the timings.
    """
    MockMurkoServer = mock_server_class()
    murko = beamline.get_object_by_role("murko")
    if murko is None:
        raise RuntimeError("the beamline has no 'murko' object; add 'murko: murko.yaml' to beamline.yaml")
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    place_sample(beamline, offsets_mm)
    before = centring_error_mm(beamline)
    server = MockMurkoServer("127.0.0.1", port=0, delay_s=server_delay_s)
    server.start()
    previous = (murko.config.host, murko.config.port)
    try:
        murko.set_server("127.0.0.1", server.port)
        sample_view = beamline.sample_view
        if hasattr(sample_view, "centre_with_murko"):
            result = sample_view.centre_with_murko(output_dir=output, prefix=prefix)
            if result is None:
                raise RuntimeError(f"Murko centring failed: {sample_view.get_centring_status().get('error')}")
        else:
            result = murko.centre(output_dir=output, prefix=prefix)
    finally:
        murko.set_server(*previous)
        server.stop()
    after = centring_error_mm(beamline)
    return {
        "error_before_um": {k: round(v * 1000.0, 3) for k, v in before.items()},
        "error_after_um": {k: round(v * 1000.0, 3) for k, v in after.items()},
        "max_error_after_um": round(max(abs(v) for v in after.values()) * 1000.0, 3),
        "fit_rms_um": round(result.rms_mm * 1000.0, 3),
        "rounds": len(result.rounds),
        "views": len(result.rounds[-1].omega_deg),
        "centred_position": result.centred_position,
        "files": dict(result.files),
        "timings_s": {k: round(v, 3) for k, v in result.timings_s.items()},
    }
