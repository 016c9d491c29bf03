# gevent's monkey patch must come before anything else is imported: without it the mockup
# hardware's time.sleep blocks the hub and the first gevent.sleep never returns.
from gevent import monkey

monkey.patch_all(thread=False)

import os  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "configuration"
SHARED_DATA = ROOT.parent / "shared" / "data"
DECTRIS_DIR = SHARED_DATA / "dectris"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def config_dir() -> Path:
    return CONFIG_DIR


@pytest.fixture
def beamline(tmp_path):
    """The mockup beamline from configuration/, loaded fresh, with its data under tmp_path."""
    from mxcubecore_interleave.testing import load_beamline, unload_beamline

    bl = load_beamline(CONFIG_DIR, data_root=tmp_path / "data")
    try:
        yield bl
    finally:
        unload_beamline()
