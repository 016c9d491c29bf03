"""mxcubeweb 4.791's real application on the plugin's mockup beamline (configuration/).

Each test builds mxcubeweb's Flask app and socket.io server (``build_web_app``: mxcubeweb's own
``Config``, ``create_server``, ``MXCUBEApplication.init`` and ``register_routes``) on a freshly
loaded beamline, and drives it with Flask's test client and Flask-SocketIO's test client, as a
browser or a script would over HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import pytest

pytest.importorskip("mxcubeweb")

from mxcubecore_interleave.commands.web import build_web_app, stop_web_app  # noqa: E402

pytestmark = [pytest.mark.web, pytest.mark.beamline]

API = "/mxcube/api/v0.1"
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configuration"
SAMPLE_ID = "1:01"


class WebSession:
    """One logged-in browser: an HTTP test client and a socket.io test client sharing a cookie."""

    def __init__(self, server: Any, cfg: Any) -> None:
        self.server = server
        self.cfg = cfg
        self.client = server.flask.test_client()
        self.sio = None

    def get(self, path: str, **kw):
        return self.client.get(API + path, **kw)

    def put(self, path: str, json: Any = None):
        return self.client.put(API + path, json=json)

    def post(self, path: str, json: Any = None):
        return self.client.post(API + path, json=json)

    def login(self) -> None:
        response = self.post("/login/", {"proposal": "idtest0", "password": "any"})
        assert response.status_code == 200 and response.json["msg"] == "", response.json
        self.sio = self.server.flask_socketio.test_client(
            self.server.flask, namespace="/hwr", flask_test_client=self.client)
        assert self.sio.is_connected("/hwr")

    def login_and_select_session(self) -> None:
        self.login()
        sessions = self.get("/login/login_info").json["proposalList"]
        response = self.post("/lims/proposal", {"proposal_number": sessions[0]["session_id"]})
        assert response.status_code == 200, response.data

    def add_sample(self, tasks: list[dict] | None = None, sample_id: str = SAMPLE_ID):
        """POST /queue/ with one hand-mounted sample, as the UI does."""
        item = {"sampleID": sample_id, "sampleName": "crystal1", "location": "Manual",
                "type": "Sample", "checked": True, "tasks": tasks or []}
        response = self.post("/queue/", [item])
        assert response.status_code == 200, response.data
        return response.json

    def events(self, name: str | None = None) -> list[dict]:
        """socket.io events received since the last call (all, or those called ``name``)."""
        self._events = getattr(self, "_events", [])
        if self.sio is not None:
            self._events.extend(self.sio.get_received("/hwr"))
        if name is None:
            out, self._events = self._events, []
            return out
        return [e for e in self._events if e["name"] == name]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Poll under gevent (the queue runs in greenlets) until ``predicate()`` is truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            gevent.sleep(0.05)
        raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")


@pytest.fixture
def web(tmp_path):
    server, cfg = build_web_app(CONFIG_DIR, data_root=tmp_path / "data",
                                user_db=tmp_path / "users.db", start_video=False,
                                rate_limiter=False)
    session = WebSession(server, cfg)
    try:
        yield session
    finally:
        if session.sio is not None and session.sio.is_connected("/hwr"):
            session.sio.disconnect("/hwr")
        stop_web_app(server)


def test_login_with_the_mockup_lims(web: WebSession):
    assert web.get("/login/login_info").json["loggedIn"] is False
    refused = web.client.post(f"{API}/login/", json={"proposal": "idtest0", "password": "wrong"})
    assert refused.status_code == 200 and refused.json["msg"] == "Authentication failed"
    assert web.get("/login/login_info").json["loggedIn"] is False

    web.login()
    info = web.get("/login/login_info").json
    assert info["loggedIn"] is True
    assert info["loginType"] == "Proposal"
    assert info["beamlineName"] == "mockup"
    assert info["user"]["inControl"] is True
    assert info["proposalList"], "the mockup LIMS offers a session to choose"


def test_api_refuses_anonymous_requests(web: WebSession):
    """mxcubeweb answers unauthenticated API calls with a redirect to its login page."""
    for response in (web.client.get(f"{API}/queue/available_tasks"),
                     web.client.put(f"{API}/queue/start", json={"sid": SAMPLE_ID})):
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/login")


def test_ui_configuration_names_existing_adapters(web: WebSession):
    """Every component of ui.yaml resolves to an mxcubeweb adapter of the mockup beamline."""
    web.login()
    props = web.get("/uiproperties").json
    assert set(props) >= {"beamline_setup", "sample_view_motors", "sample_view_video_controls"}
    for section in ("beamline_setup", "sample_view_motors"):
        for component in props[section]["components"]:
            assert component["object_type"], f"{section}: {component['attribute']} has no adapter"
    settings = web.get("/application_settings").json
    assert settings["mode"] == "OSC"
    assert settings["use_get_samples_from_sc"] is False


def test_select_session_puts_data_under_the_data_root(web: WebSession, tmp_path):
    web.login_and_select_session()
    # (GET /lims/proposal raises AttributeError inside mxcubeweb 4.791: get_proposal_info is
    # missing; login_info carries the same information)
    info = web.get("/login/login_info").json
    assert info["selectedProposal"] == "ID23-10424"
    assert info["rootPath"].startswith(str(tmp_path / "data"))
    assert info["rootPath"].endswith("RAW_DATA")


def test_socketio_client_receives_server_events(web: WebSession):
    web.login_and_select_session()
    web.add_sample()
    names = [e["name"] for e in web.events()]
    assert "queue" in names


def test_available_tasks_lists_datacollection_with_limits(web: WebSession):
    web.login()
    tasks = web.get("/queue/available_tasks").json
    assert "datacollection" in tasks
    assert tasks["datacollection"]["limits"]["exposure_time"] == [0.001, 1000]


def test_config_dir_is_the_repository_configuration():
    assert (CONFIG_DIR / "beamline.yaml").is_file()
    assert (CONFIG_DIR / "mxcube-web" / "server.yaml").is_file()
    assert (CONFIG_DIR / "mxcube-web" / "ui.yaml").is_file()


def test_stock_mxcubeweb_entry_point_loads_the_configuration():
    """``mxcubeweb-server -r configuration`` (its build_server_and_config) accepts our folder."""
    import mxcubeweb
    from mxcubecore import HardwareRepository as HWR

    HWR.uninit_hardware_repository()
    server, cfg = mxcubeweb.build_server_and_config(test=True, argv=["-r", str(CONFIG_DIR)])
    session = WebSession(server, cfg)
    try:
        assert cfg.flask.HOST == "127.0.0.1"
        assert cfg.app.MXCUBE_STARTS_VIDEO_STREAM is False
        session.login()
        tasks = session.get("/queue/available_tasks").json
        assert "datacollection" in tasks
    finally:
        if session.sio is not None:
            session.sio.disconnect("/hwr")
        stop_web_app(server)


def test_a_second_client_observes_until_it_takes_control(web: WebSession):
    """What docs/enable-mxcubeweb.md ("A second client") says each refusal answers."""
    web.login_and_select_session()
    other = WebSession(web.server, web.cfg)
    try:
        other.login()
        assert other.get("/login/login_info").json["user"]["inControl"] is False
        refused = other.post("/queue/", [])
        assert (refused.status_code, refused.data) == (401, b""), "an observer's queue call"
        assert other.put("/queue/start", {"sid": SAMPLE_ID}).status_code == 401
        third = WebSession(web.server, web.cfg)
        third.login()
        assert other.post("/ra/request_control", {"message": "may I?"}).status_code == 200
        busy = third.post("/ra/request_control", {"message": "me too"})
        assert (busy.status_code, busy.data) == (409, b"Another user is already asking for control")
        assert other.post("/ra/cancel_request", {}).status_code == 200

        taken = other.post("/ra/take_control", {})
        assert (taken.status_code, taken.data) == (200, b"")
        assert other.get("/login/login_info").json["user"]["inControl"] is True
        assert web.get("/login/login_info").json["user"]["inControl"] is False
        assert web.post("/queue/", []).status_code == 401, "the first client is now the observer"
        assert other.get("/queue/").status_code == 200
        third.sio.disconnect("/hwr")
    finally:
        if other.sio is not None and other.sio.is_connected("/hwr"):
            other.sio.disconnect("/hwr")
