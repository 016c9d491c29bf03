"""``mxcube-interleave murko-mock-server``: a Murko a beamline scientist can start and point at."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest

from mxcubecore_interleave import cli
from mxcubecore_interleave.murko.client import MurkoClient
from mxcubecore_interleave.simulation.murko_scene import CameraView, SampleScene, render


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serves_until_interrupted_and_answers_the_client():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mxcubecore_interleave.cli", "murko-mock-server", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"tcp://127.0.0.1:{port}" in line, proc.stderr.read() if proc.poll() is not None else line
        scene = SampleScene()
        view = CameraView(width=320, height=240, beam_x=158.0, beam_y=118.0,
                          pixels_per_mm_x=1 / 0.00089, pixels_per_mm_y=1 / 0.00089)
        image = render(scene, dict(scene.crystal_centred_position(), omega=0.0), view)
        (result,) = MurkoClient(port=port, timeout_s=10).predict([image])
        assert result.present
        assert result.click_px == pytest.approx((view.beam_y, view.beam_x), abs=1.5)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped after 1 request(s)" in out


def test_refuses_a_port_beyond_65535(capsys):
    assert cli.main(["murko-mock-server", "--port", "89011"]) == 2
    assert "89011 is not a TCP port" in capsys.readouterr().err


def test_a_busy_port_is_a_clear_error(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert cli.main(["murko-mock-server", "--port", str(port)]) == 1
    assert f"did not start on 127.0.0.1:{port}" in capsys.readouterr().err


def test_help_lists_the_modes(capsys):
    with pytest.raises(SystemExit):
        cli.main(["murko-mock-server", "--help"])
    out = capsys.readouterr().out
    assert "silent" in out and "forbidden" in out and "--delay" in out
