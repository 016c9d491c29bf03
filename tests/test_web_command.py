"""``mxcube-interleave web``: a real mxcubeweb server on loopback; a clear error without mxcubeweb."""

from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import gevent
import pytest

from mxcubecore_interleave import cli
from mxcubecore_interleave.commands import web as web_command

ROOT = Path(__file__).resolve().parents[1]
API = "/mxcube/api/v0.1"


def test_web_is_a_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["web", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--port" in out and "--video" in out and "--static-folder" in out


def test_clear_error_without_mxcubeweb(monkeypatch, capsys):
    # None in sys.modules makes "import mxcubeweb" fail as if it were not installed
    for name in [m for m in sys.modules if m == "mxcubeweb" or m.startswith("mxcubeweb.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mxcubeweb", None)
    with pytest.raises(web_command.WebUnavailableError, match="pip install"):
        web_command.import_mxcubeweb()
    assert cli.main(["web"]) == 2
    err = capsys.readouterr().err
    assert "mxcubeweb is not installed" in err and "pip install" in err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _child_pids(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


@pytest.mark.web
def test_server_runs_on_loopback_and_logs_in(tmp_path):
    """The documented command starts mxcubeweb on 127.0.0.1; a script logs in over HTTP."""
    pytest.importorskip("mxcubeweb")
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mxcubecore_interleave.cli", "web", "--port", str(port),
         "--data", str(tmp_path / "data"), "--user-db", str(tmp_path / "u.db")],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = f"http://127.0.0.1:{port}{API}"
        deadline = time.monotonic() + 90
        info = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with opener.open(f"{base}/login/login_info", timeout=5) as r:
                    info = json.load(r)
                break
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                time.sleep(0.5)
        assert info is not None, (tmp_path / "server.log").read_text()[-3000:]
        assert info["loggedIn"] is False

        request = urllib.request.Request(
            f"{base}/login/", data=json.dumps({"proposal": "idtest0", "password": "x"}).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        with opener.open(request, timeout=10) as r:
            assert json.load(r)["msg"] == ""
        with opener.open(f"{base}/queue/available_tasks", timeout=10) as r:
            assert "datacollection" in json.load(r)

        # loopback only: the kernel's table of listening sockets shows 127.0.0.1, not 0.0.0.0
        assert _listening_addresses(port) == {"127.0.0.1"}
    finally:
        children = _child_pids(proc.pid)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        for pid in children:  # e.g. a video streamer: none expected without --video
            assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"stray process {pid}"


def _listening_addresses(port: int) -> set[str]:
    """IPv4 addresses with a socket in LISTEN state on ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, hex_port = fields[1].split(":")
        if int(hex_port, 16) == port and fields[3] == "0A":
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return True


@pytest.mark.web
@pytest.mark.beamline
def test_video_streamer_started_with_video_and_stopped_at_exit(tmp_path, monkeypatch):
    """--video: mxcubeweb starts the camera's video-streamer (MJPEG); stopping leaves no process."""
    pytest.importorskip("mxcubeweb")
    bindir = Path(sys.executable).parent
    if not (bindir / "video-streamer").exists():
        pytest.skip("video-streamer (mxcube-video-streamer) is not installed")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    from mxcubecore import HardwareRepository as HWR

    video_port = _free_port()
    before = set(_child_pids(os.getpid()))
    server, cfg = web_command.build_web_app(
        web_command.DEFAULT_CONFIG_DIR, data_root=tmp_path / "data", user_db=tmp_path / "u.db",
        start_video=True, video_port=video_port, rate_limiter=False)
    try:
        streamers = [p for p in set(_child_pids(os.getpid())) - before
                     if "video-streamer" in Path(f"/proc/{p}/cmdline").read_text()]
        assert len(streamers) == 1
        camera = HWR.beamline.sample_view.camera
        url = f"http://127.0.0.1:{video_port}/video/{camera.stream_hash}"
        data = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and b"\xff\xd8" not in data:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    data = r.read(4096)
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                gevent.sleep(0.3)
        assert b"\xff\xd8" in data, "a JPEG frame of the simulated camera"
    finally:
        web_command.stop_web_app(server)
    assert all(_is_zombie(p) or not Path(f"/proc/{p}").exists() for p in streamers)
