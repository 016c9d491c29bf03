"""Murko through the sample view: what mxcubeweb's auto-centring button and the queue's mounting call."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gevent
import gevent.event
import pytest

from mxcubecore_interleave.hardware_objects.MurkoSampleView import MurkoSampleView
from mxcubecore_interleave.simulation.murko_scene import SampleScene
from mxcubecore_interleave.murko_demo import centring_error_mm, place_sample
from mxcubecore_interleave.testing import wait_until

from .murko_helpers import SignalRecorder, murko, murko_server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.beamline

SIGNALS = ("centringStarted", "centringSuccessful", "centringFailed", "centringAccepted", "centringFilesStored")
OFF_CENTRE = {"phiy": -0.03, "phiz": 0.01, "sampx": -0.02, "sampy": 0.02}


def _positions(beamline) -> dict[str, float]:
    return beamline.diffractometer.get_value_motors(["omega", "phiy", "phiz", "sampx", "sampy"])


def _auto_centre_until(sample_view, last_signal: str) -> SignalRecorder:
    """Press the auto-centring button and wait for ``last_signal``; the signals it emitted."""
    signals = SignalRecorder(sample_view, SIGNALS)
    try:
        sample_view.start_auto_centring()
        assert wait_until(lambda: last_signal in signals.names(), timeout=60)
    finally:
        signals.close()
    return signals


def test_the_auto_centring_button_centres_with_murko(beamline, murko, tmp_path):
    sample_view = beamline.sample_view
    assert isinstance(sample_view, MurkoSampleView)
    murko.config.output_subdir = "murko"
    place_sample(beamline, OFF_CENTRE, omega=5.0)
    signals = SignalRecorder(sample_view, SIGNALS)
    try:
        answer = sample_view.start_auto_centring()  # returns at once, like mxcubecore's
        assert answer == {"method": "Murko", "started": True}
        assert signals.names() == ["centringStarted"]
        assert wait_until(lambda: "centringFilesStored" in signals.names(), timeout=60)
    finally:
        signals.close()
    # the centring is reported (and accepted) once the motors are in place; the files follow
    assert signals.names() == ["centringStarted", "centringSuccessful", "centringAccepted", "centringFilesStored"]
    assert signals.args("centringStarted") == ("Murko",)
    accepted, status = signals.args("centringAccepted")
    assert accepted is True and status["valid"] is True
    assert status["murko"]["files"] == {} and status["murko"]["files_pending"] is True
    # mxcubeweb's adapter turns status["motors"] into a point with motor_positions_to_screen
    x, y = sample_view.motor_positions_to_screen(status["motors"])
    assert (x, y) == tuple(int(v) for v in beamline.beam.get_beam_position_on_screen())
    _, stored = signals.args("centringFilesStored")
    files = stored["murko"]["files"]
    assert files["h5"].endswith("_murko.h5")
    # no sample changer in this configuration: no mounted sample known, the session's directory
    assert files["h5"].startswith(str(Path(beamline.session.get_base_process_directory()) / "murko"))
    assert sample_view.get_centring_status()["murko"]["files"] == files
    # the saved point carries them
    point = sample_view.get_points()[-1]
    assert point is sample_view.last_murko_point
    assert point.get_centred_position().murko_files == files
    error = centring_error_mm(beamline)
    assert all(abs(v) < 0.002 for v in error.values()), error


def _mount(beamline, mocker, address="1:01", name="sample1"):
    """A sample changer whose loaded sample sits at ``address``."""
    loaded = SimpleNamespace(get_address=lambda: address, get_name=lambda: name,
                             get_coords=lambda: tuple(int(v) for v in address.split(":")))
    changer = mocker.MagicMock()
    changer.get_loaded_sample.return_value = loaded
    changer.load.return_value = True
    changer.has_loaded_sample.return_value = True
    mocker.patch.object(type(beamline), "sample_changer", new_callable=mocker.PropertyMock, return_value=changer)
    return changer


def test_the_button_stores_in_the_mounted_samples_directory_and_on_its_point(beamline, murko, mocker):
    """As the queue's tasks for that sample: <process dir>/LYS/LYS-sample1, prefix LYS-sample1."""
    from mxcubecore_interleave.headless import HeadlessQueue

    HeadlessQueue(beamline).add_sample("1:01", name="sample1", acronym="LYS")
    _mount(beamline, mocker)
    session = beamline.session
    expected_dir = Path(session.get_process_directory("LYS/LYS-sample1"))
    sample_view = beamline.sample_view
    assert sample_view.sample_output() == (expected_dir, "LYS-sample1")
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    points_before = len(sample_view.get_points())
    signals = _auto_centre_until(sample_view, "centringFilesStored")
    files = signals.args("centringFilesStored")[1]["murko"]["files"]
    for path in files.values():
        assert Path(path).parent == expected_dir and Path(path).name.startswith("LYS-sample1_murko")
        assert Path(path).is_file()
    # one saved point, at the centred position, with the files on its centred position
    points = sample_view.get_points()
    assert len(points) == points_before + 1
    cpos = points[-1].get_centred_position()
    assert cpos.murko_files == files and cpos.centring_method == "murko"
    centred = signals.args("centringSuccessful")[1]["motors"]
    assert {k: v for k, v in cpos.as_dict().items() if k in centred} == pytest.approx(centred)


def test_a_point_the_front_end_saved_gets_the_files(beamline, murko, mocker):
    """mxcubeweb adds the point itself on centringSuccessful: the files go on that one."""
    sample_view = beamline.sample_view
    added = []

    class FrontEnd:  # what mxcubeweb's SampleViewAdapter does on centringSuccessful
        def __call__(self, method, status):
            motors = dict(status["motors"])
            added.append(sample_view.add_shape_from_mpos([motors], sample_view.motor_positions_to_screen(motors), "P"))

    front_end = FrontEnd()
    sample_view.connect("centringSuccessful", front_end.__call__)
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    n = len(sample_view.get_points())
    try:
        result = sample_view.centre_with_murko()
    finally:
        sample_view.disconnect("centringSuccessful", front_end.__call__)
    assert len(sample_view.get_points()) == n + 1  # no second point
    assert added[0].get_centred_position().murko_files == result.files != {}


def test_the_queue_mounting_path_waits_for_the_murko_centring(beamline, murko, mocker):
    """mxcubecore's own ``mount_sample`` (LOOP centring) gets a valid centring from Murko."""
    from mxcubecore.queue_entry import base_queue_entry
    from mxcubecore.queue_entry.base_queue_entry import CENTRING_METHOD

    _mount(beamline, mocker)
    beamline.queue_manager.centring_method = CENTRING_METHOD.LOOP
    place_sample(beamline, OFF_CENTRE, omega=0.0)

    result = gevent.event.AsyncResult()
    outcome = {}

    class Done:  # a live object: PyDispatcher holds slots weakly
        def __call__(self, success, info):
            outcome["success"] = success
            result.set(info)

    done = Done()
    sample = SimpleNamespace(location=(1, 1), loc_str="1:01", code="", lims_id=None)
    base_queue_entry.mount_sample(sample, done.__call__, result)
    assert outcome["success"] is True
    assert result.get(timeout=1)["valid"] is True
    assert all(abs(v) < 0.002 for v in centring_error_mm(beamline).values())


def test_a_failed_murko_centring_is_reported_and_moves_nothing(beamline, murko):
    sample_view = beamline.sample_view
    beamline.sample_view.camera.set_scene(SampleScene(mounted=False))
    murko.config.max_attempts = 2
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    start = _positions(beamline)
    signals = _auto_centre_until(sample_view, "centringAccepted")
    assert signals.names() == ["centringStarted", "centringFailed", "centringAccepted"]
    accepted, status = signals.args("centringAccepted")
    assert accepted is False and status["valid"] is False
    assert "found no sample" in status["error"]
    # mxcubeweb's adapter reads status["motors"] on every centringAccepted: where the sample is
    assert status["motors"] == pytest.approx(start, abs=1e-9)
    after = _positions(beamline)
    for role, value in start.items():
        assert after[role] == pytest.approx(value, abs=1e-9), role


def test_cancel_puts_the_motors_back(beamline, murko):
    from mxcubecore_interleave.murko_demo import mock_server_class

    MockMurkoServer = mock_server_class()

    slow = MockMurkoServer("127.0.0.1", port=0, delay_s=5.0)
    slow.start()
    sample_view = beamline.sample_view
    try:
        murko.set_server("127.0.0.1", slow.port)
        omega = beamline.diffractometer.omega
        omega.set_velocity(100.0)  # slow enough to cancel in the middle of a rotation
        place_sample(beamline, OFF_CENTRE, omega=0.0)
        start = _positions(beamline)
        signals = SignalRecorder(sample_view, SIGNALS)
        sample_view.start_auto_centring()
        assert wait_until(lambda: 20.0 < omega.get_value() < 70.0, timeout=10)
        assert not omega.is_ready()  # omega is turning to the second view
        sample_view.cancel_centring()
        signals.close()
    finally:
        slow.stop()
    assert signals.names()[0] == "centringStarted"
    assert "centringFailed" in signals.names()
    assert "cancelled" in signals.args("centringFailed")[1]["error"]
    assert not murko.is_busy()
    after = _positions(beamline)
    for role, value in start.items():
        assert after[role] == pytest.approx(value, abs=1e-9), role
