"""The demo's layered configuration loads, and the demo runs end to end (small frames)."""

import json
import os

import pytest

from mxcubecore_interleave.testing import DEFAULT_CONFIG_DIR, load_beamline, unload_beamline

pytestmark = pytest.mark.beamline


def test_demo_layer_gives_an_eiger2_1m(tmp_path):
    try:
        bl = load_beamline(f"{DEFAULT_CONFIG_DIR / 'demo'}{os.pathsep}{DEFAULT_CONFIG_DIR}", data_root=tmp_path)
        geo = bl.detector.get_geometry()
        assert (geo.nx, geo.ny) == (1028, 1062)
        assert geo.x_pixel_size_m == pytest.approx(75e-6)
        mask = geo.pixel_mask()
        assert mask[512:550].all() and not mask[511].any() and not mask[550].any()
        assert bl.diffractometer is not None and bl.collect is not None
    finally:
        unload_beamline()


def test_demo_runs_end_to_end(tmp_path, capsys):
    from mxcubecore_interleave.demo import STEPS, run_demo

    summary = run_demo(tmp_path / "demo", quick=True)
    out = capsys.readouterr().out
    assert "Demo finished" in out
    assert set(summary["steps"]) == {fn.__name__ for _, fn in STEPS}
    run_dir = tmp_path / "demo" / os.path.basename(summary["run_dir"])
    written = json.loads((run_dir / "demo_summary.json").read_text())
    ordinary = written["steps"]["step_ordinary_collection"]
    assert ordinary["frames"] == 20 and os.path.isfile(ordinary["master"])
