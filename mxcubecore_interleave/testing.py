"""Load the mockup beamline as a beamline loads its own, for tests, the demo and benchmarks."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def mockup_config_dir() -> Path:
    """The mockup beamline's configuration, shipped as package data (in a checkout, the
    ``mxcubecore_interleave/configuration`` symlink to the top-level ``configuration/``)."""
    path = Path(str(files("mxcubecore_interleave") / "configuration"))
    if not (path / "beamline.yaml").is_file():
        raise FileNotFoundError(f"the mockup configuration is missing from the package ({path}); "
                                "reinstall mxcubecore-interleave")
    return path


DEFAULT_CONFIG_DIR = mockup_config_dir()


def load_beamline(config_dir: str | os.PathLike[str] = DEFAULT_CONFIG_DIR, *, data_root: str | os.PathLike[str] | None = None):
    """(Re)load ``HWR.beamline`` from ``config_dir`` (or ``"dir1:dir2"``); data under ``data_root``.

    The caller must have applied gevent's ``monkey.patch_all(thread=False)`` first.
    """
    from mxcubecore import HardwareRepository as HWR

    HWR.uninit_hardware_repository()
    # several directories may be layered ("site:base"): the first that has a file wins
    parts = [str(Path(p).resolve()) for p in str(config_dir).split(os.pathsep) if p]
    HWR.init_hardware_repository(os.pathsep.join(parts))
    bl = HWR.beamline
    if data_root is not None:
        root = Path(data_root)
        for sub in ("data", "processed", "archive"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        bl.session.set_base_data_directories(
            str(root / "data"), str(root / "processed"), str(root / "archive"),
            raw_folder=bl.session.raw_data_folder_name,
            process_folder=bl.session.processed_data_folder_name,
            archive_folder="ARCHIVE",
        )
    # DiffractometerMockup.init() sends every motor to a random position, asynchronously:
    # wait for those moves so that what a caller reads is where the motors really are
    motors = list(getattr(bl.diffractometer, "motors_hwobj_dict", {}).values())
    if not wait_until(lambda: all(m.get_state() == m.STATES.READY for m in motors), timeout=20.0):
        busy = [m.name() for m in motors if m.get_state() != m.STATES.READY]
        raise TimeoutError(f"the mockup beamline's motors did not settle within 20 s: {', '.join(busy)}")
    # ... and kappa/phi at home, where a mounted sample is centred: a random start orientation
    # would make every collection's first wedge a kappa/phi change (a re-centring)
    home = [m for role, m in getattr(bl.diffractometer, "motors_hwobj_dict", {}).items() if role in ("kappa", "kappa_phi")]
    for m in home:
        m.set_value(0.0, timeout=20)
    return bl


def unload_beamline() -> None:
    from mxcubecore import HardwareRepository as HWR

    HWR.uninit_hardware_repository()


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` under gevent until it is true; False on timeout (never hangs)."""
    import time

    import gevent

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        gevent.sleep(interval)
    return bool(predicate())
