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


def _start_auto_centring(web: WebSession) -> dict:
    """PUT the route the UI's auto-centring button uses; it answers JSON saying what happened.

    The plugin's adapter for MurkoSampleView (mxcubecore_interleave.web.sample_view_adapter)
    answers instead of mxcubeweb's own, which returns None (a 500 "not serializable").
    """
    response = web.put(ROUTE, json={})
    assert response.status_code == 200, response.data
    assert response.is_json
    return response.json


def _user_messages(web: WebSession) -> list[str]:
    """The user-level log mxcubeweb keeps for the browser (GET /log/, its log panel)."""
    records = web.get("/log/").json["return"]  # (mxcubeweb wraps a returned list)
    return [r["message"] for r in records]


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

    assert _start_auto_centring(web) == {"method": "Murko", "started": True}
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


def test_a_centring_murko_finds_no_sample_in_saves_no_point_and_says_why(web: WebSession):
    """Murko sees no sample: the motors go back, mxcubeweb's sample view holds no saved point
    (mxcubeweb adds one on any centringAccepted; the sample view removes it), and the reason is
    on the user-level log the browser shows."""
    server = mock_server.MockMurkoServer("127.0.0.1", port=0, mode="nothing").start()
    try:
        bl = HWR.beamline
        bl.get_object_by_role("murko").set_server("127.0.0.1", server.port)
        web.login_and_select_session()
        place_sample(bl, OFF_CENTRE, omega=0.0)
        start = bl.diffractometer.get_value_motors(["phiy", "phiz", "sampx", "sampy"])
        failed = []
        bl.sample_view.connect("centringFailed", lambda *a: failed.append(a))
        web.events()
        assert _start_auto_centring(web)["started"] is True
        web.wait_for(lambda: bl.sample_view.current_centring_procedure is None and failed, timeout=120)
    finally:
        server.stop()
    method, status = failed[-1]
    assert status["valid"] is False and "no sample" in status["error"]
    shapes = web.get("/hwobj/sample_view/sample_view/shapes").json
    assert [s for s in shapes.values() if s["t"] == "P"] == [], shapes
    last_update = web.events("update_shapes")[-1]["args"][0]["shapes"]
    assert not [s for s in last_update.values() if s["t"] == "P"], "the browser's last shapes hold no point"
    said = [m for m in _user_messages(web) if "no sample" in m]
    assert said and any("no centred point was saved" in m for m in said), _user_messages(web)[-5:]
    assert bl.diffractometer.get_value_motors(["phiy", "phiz", "sampx", "sampy"]) == pytest.approx(start, abs=1e-6)


def test_the_route_says_busy_while_a_centring_runs(web: WebSession, murko_server):
    bl = HWR.beamline
    bl.get_object_by_role("murko").set_server("127.0.0.1", murko_server.port)
    web.login_and_select_session()
    place_sample(bl, OFF_CENTRE, omega=5.0)
    assert _start_auto_centring(web)["started"] is True
    second = _start_auto_centring(web)
    assert second["started"] is False and second["busy"] is True
    assert "already running" in second["reason"]
    web.wait_for(_centring_done, timeout=90)


def test_the_route_refuses_with_the_reason_when_the_sample_view_raises(web: WebSession, monkeypatch):
    web.login_and_select_session()

    def refuse():
        raise RuntimeError("the diffractometer is not in centring phase")

    monkeypatch.setattr(HWR.beamline.sample_view, "start_auto_centring", refuse)
    answer = _start_auto_centring(web)
    assert answer == {"started": False, "refused": True,
                      "reason": "the diffractometer is not in centring phase"}
    assert any("not in centring phase" in m for m in _user_messages(web))


def test_without_a_json_body_mxcubeweb_answers_404(web: WebSession):
    """mxcubeweb 4.791 reads request.json before calling any route method; Flask's 415 goes
    through mxcubeweb's error handler, which answers every HTTP error "Not found" 404
    (docs/enable-mxcubeweb.md, Known quirks: send ``{}``). Nothing starts."""
    web.login_and_select_session()
    response = web.client.put("/mxcube/api/v0.1" + ROUTE)
    assert (response.status_code, response.data) == (404, b"Not found")
    assert HWR.beamline.sample_view.current_centring_procedure is None
