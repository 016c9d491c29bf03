"""``murko-refit`` reproduces a stored centring; the SOLEIL preset in the configuration; the warm-up."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from mxcubecore_interleave.cli import main
from mxcubecore_interleave.hardware_objects.MurkoCentring import MurkoCentring
from mxcubecore_interleave.murko.storage import read_centring_h5
from mxcubecore_interleave.murko_demo import place_sample

from .murko_helpers import murko, murko_server  # noqa: F401 (fixtures)

OFF_CENTRE = {"phiy": 0.035, "phiz": -0.015, "sampx": 0.025, "sampy": -0.02}


@pytest.mark.beamline
def test_refit_reproduces_a_stored_centring_exactly(beamline, murko, tmp_path, capsys):
    place_sample(beamline, OFF_CENTRE, omega=10.0)
    result = murko.centre(output_dir=tmp_path, prefix="r", omega_angles_deg=[0, 60, 120, 180, 240, 300])
    record = read_centring_h5(result.files["h5"])
    assert record["outcome"] == "centred"
    stored = record["correction"]
    assert stored == pytest.approx(result.rounds[-1].correction, abs=0)

    assert main(["murko-refit", result.files["h5"]]) == 0
    out = capsys.readouterr().out
    assert "the stored correction is reproduced exactly" in out
    for motor, value in result.rounds[-1].correction.items():
        assert f"{motor:<6} {value:+.9f} mm" in out
    # other conventions on the same numbers: printed, and not the stored correction
    assert main(["murko-refit", result.files["h5"], "--pixel", "corner"]) == 0
    other = capsys.readouterr().out
    assert "pixels corner" in other and "reproduced" not in other

    # a tampered record is caught
    import h5py

    with h5py.File(result.files["h5"], "r+") as h5:
        h5["murko/correction/phiz"][()] = stored["phiz"] + 1e-6
    assert main(["murko-refit", result.files["h5"]]) == 1
    assert "DIFFERS from the stored correction" in capsys.readouterr().out


def test_refit_takes_descriptions_with_angles(tmp_path, capsys):
    """A list of Murko descriptions (as a server returns them) with their angles, geometry given."""
    omega = [0.0, 90.0, 180.0, 270.0]
    clicks = [(0.50, 0.40), (0.45, 0.40), (0.50, 0.40), (0.55, 0.40)]
    descriptions = [{"omega_deg": w, "present": 1, "most_likely_click": np.array(c),
                     "prediction_shape": np.array([256, 320])} for w, c in zip(omega, clicks)]
    path = tmp_path / "d.pickle"
    path.write_bytes(pickle.dumps(descriptions))
    args = ["murko-refit", str(path), "--image-shape", "1024", "1280", "--beam", "640", "512",
            "--pixels-per-mm", "1000", "1000", "--preset", "soleil", "--axis", "horizontal"]
    assert main(args) == 0
    out = capsys.readouterr().out
    # rows across a horizontal axis: c = mean row offset; B from the 90/270 pair; f·H pixels
    rows = np.array([c[0] for c in clicks]) * 1024
    assert f"phiz   {-(rows.mean() - 512) / 1000:+.9f} mm" in out
    assert f"sampx  {((rows[1] - rows[3]) / 2) / 1000:+.9f} mm" in out
    # missing geometry: one line, exit 1
    assert main(["murko-refit", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs --image-shape" in err


def test_refit_refuses_a_hostile_pickle_in_one_line(tmp_path, capsys):
    from . import murko_hostile

    path = tmp_path / "evil.pickle"
    path.write_bytes(murko_hostile.object_array_reply("click"))
    assert main(["murko-refit", str(path), "--image-shape", "8", "8", "--beam", "1", "1", "--pixels-per-mm", "1", "1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "numpy.ndarray" in err


def test_the_soleil_preset_sets_its_conventions_unless_configured():
    config = MurkoCentring.HOConfig(conventions="soleil")
    assert (config.orientation, config.server_tip) == ("vertical_up", "up")
    assert config.signs.model_dump() == {"sampx": 1, "sampy": 1, "phiz": -1, "phiy": 1}
    own = MurkoCentring.HOConfig(conventions="soleil", orientation="vertical_down", signs={"phiz": 1})
    assert own.orientation == "vertical_down" and own.signs.phiz == 1
    with pytest.raises(ValueError, match="presets: default, soleil"):
        MurkoCentring.HOConfig(conventions="esrf")
    with pytest.raises(ValueError, match="along-axis rule"):
        MurkoCentring.HOConfig(along_axis="median")


@pytest.mark.beamline
def test_warm_up_runs_in_a_greenlet_at_the_round_size(beamline, murko, murko_server):
    import gevent

    murko.config.warm_up = True
    try:
        before = murko_server.requests
        murko.init()  # returns at once: the request is in a greenlet
        greenlet = murko.warm_up_greenlet
        assert greenlet is not None and not greenlet.dead
        greenlet.join(60)
        assert "warmed up: 4 pictures answered" in murko.warm_up_result
        assert murko_server.requests == before + 1
        # a dead server: a warning, never an exception, and init still returned at once
        murko.set_server("127.0.0.1", 1)
        murko.config.warm_up_timeout_s = 0.3
        murko.init()
        murko.warm_up_greenlet.join(10)
        assert murko.warm_up_result.startswith("Murko warm-up at 127.0.0.1:1 failed")
        gevent.sleep(0)
    finally:
        murko.config.warm_up = False
        murko.config.warm_up_timeout_s = 60.0
