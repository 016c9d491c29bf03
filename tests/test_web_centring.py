"""Automatic centring through mxcubeweb's sample-view API: Murko (mock server) moves the motors.

mxcubeweb 4.791 builds the sample-view routes from its adapter's commands plus the methods the
sample-view HardwareObject exports; configuration/sample_view.xml exports
``start_auto_centring``, which the adapter forwards to ``MurkoSampleView.start_auto_centring``.
"""

from __future__ import annotations

import pytest

pytest.importorskip("mxcubeweb")
mock_server = pytest.importorskip("mxcubecore_interleave.simulation.murko_mock_server")

from mxcubecore import HardwareRepository as HWR  # noqa: E402

from mxcubecore_interleave.murko_demo import centring_error_mm, place_sample  # noqa: E402

from .test_web_app import WebSession, web  # noqa: E402,F401 (fixture)

pytestmark = [pytest.mark.web, pytest.mark.beamline]

ROUTE = "/hwobj/sample_view/sample_view/start_auto_centring"
OFF_CENTRE = {"phiy": -0.03, "phiz": 0.01, "sampx": -0.02, "sampy": 0.02}


@pytest.fixture
def murko_server():
    server = mock_server.MockMurkoServer("127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _start_auto_centring(web: WebSession) -> None:
    """PUT the route the UI's auto-centring button uses (a JSON body is required).

    mxcubeweb 4.791's ``SampleViewAdapter.start_auto_centring`` starts the centring and returns
    None, which its resource handler cannot serialise: the answer is a 500 even though the
    centring runs (docs/enable-mxcubeweb.md, "Known limitations"). Assert exactly that, so a
    fixed mxcubeweb (200) passes and any other failure does not.
    """
    response = web.put(ROUTE, json={})
    if response.status_code != 200:
        assert response.status_code == 500, response.data
        assert "NoneType" in response.json["error"] and "not serializable" in response.json["error"]


def _centring_done() -> bool:
    view = HWR.beamline.sample_view
    return view.current_centring_procedure is None and view.last_murko_result is not None


def test_auto_centring_route_centres_with_murko(web: WebSession, murko_server):
    bl = HWR.beamline
    bl.get_object_by_role("murko").set_server("127.0.0.1", murko_server.port)
    web.login_and_select_session()
    place_sample(bl, OFF_CENTRE, omega=5.0)
    before = centring_error_mm(bl)
    assert max(abs(v) for v in before.values()) > 0.01
    web.events()

    _start_auto_centring(web)
    web.wait_for(_centring_done, timeout=90)

    after = centring_error_mm(bl)
    assert all(abs(v) < 0.002 for v in after.values()), after
    # what a browser sees: the centring started (LOOP = automatic), then the saved point
    started = web.events("sample_centring")
    assert started and started[0]["args"][0]["method"] != 0
    shapes = web.get("/hwobj/sample_view/sample_view/shapes").json
    points = [s for s in shapes.values() if s["t"] == "P"]
    assert points and points[-1]["state"] == "SAVED"


def test_auto_centring_without_murko_server_moves_nothing(web: WebSession):
    """A dead Murko: the route answers, the centring fails, the motors stay where they were."""
    bl = HWR.beamline
    murko = bl.get_object_by_role("murko")
    murko.set_server("127.0.0.1", 9)  # discard port: nothing answers
    murko.config.timeout_s = 1.0
    web.login_and_select_session()
    place_sample(bl, OFF_CENTRE, omega=0.0)
    start = bl.diffractometer.get_value_motors(["phiy", "phiz", "sampx", "sampy"])
    _start_auto_centring(web)
    web.wait_for(lambda: bl.sample_view.current_centring_procedure is None, timeout=90)
    assert bl.sample_view.get_centring_status()["valid"] is False
    end = bl.diffractometer.get_value_motors(["phiy", "phiz", "sampx", "sampy"])
    assert end == pytest.approx(start, abs=1e-6)
