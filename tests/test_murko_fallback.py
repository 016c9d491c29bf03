"""The stand-in Murko core (murko_fallback): protocol safety, reply checks, fit, hull, PLY."""

from __future__ import annotations

import os
import pickle
import threading

import numpy as np
import pytest

from mxcubecore_interleave.errors import MurkoProtocolError, MurkoTimeoutError, UnsafeReplyError
from mxcubecore_interleave.murko_fallback import (
    MockMurkoServer,
    MurkoClient,
    fit_sinusoid,
    safe_loads,
    visual_hull,
    write_ply,
)
from mxcubecore_interleave.murko.scene import CameraView, SampleScene, render


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_loads_numpy_replies_and_refuses_anything_else():
    reply = {"descriptions": [{"most_likely_click": np.array([0.5, 0.25]), "present": 1, "n": np.float64(2.0)}]}
    assert safe_loads(pickle.dumps(reply))["descriptions"][0]["most_likely_click"][1] == 0.25
    with pytest.raises(UnsafeReplyError, match="os.system|posix.system"):
        safe_loads(pickle.dumps(_Evil()))


def test_client_refuses_ports_beyond_65535():
    with pytest.raises(ValueError, match="89011"):
        MurkoClient(port=89011)


class _OneReplyServer:
    """A REP socket in a thread that answers one request with fixed pickled bytes."""

    def __init__(self, payload: bytes) -> None:
        import zmq

        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.REP)
        self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.payload = payload
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.recv()
        self.sock.send(self.payload)

    def close(self) -> None:
        self.thread.join(5)
        self.sock.close(linger=0)
        self.ctx.term()


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (pickle.dumps({}), MurkoProtocolError),
        (pickle.dumps([np.zeros(3)] * 6), MurkoProtocolError),
        (pickle.dumps({"original_image_shape": (4, 4, 3), "descriptions": []}), MurkoProtocolError),
        (pickle.dumps(_Evil()), UnsafeReplyError),
    ],
)
def test_bad_replies_are_clear_errors(payload, error):
    server = _OneReplyServer(payload)
    try:
        client = MurkoClient(port=server.port, timeout_s=5)
        with pytest.raises(error):
            client.predict([np.full((32, 40, 3), 220, np.uint8)])
    finally:
        server.close()


def test_a_dead_server_times_out():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(MurkoTimeoutError, match=f"127.0.0.1:{port}"):
        MurkoClient(port=port, timeout_s=0.3).predict([np.full((32, 40, 3), 220, np.uint8)])


def test_mock_server_finds_the_simulated_crystal_and_reports_nothing_on_an_empty_pin():
    scene = SampleScene()
    view = CameraView()
    motors = dict(scene.crystal_centred_position(), omega=0.0)
    images = [render(scene, motors, view), render(SampleScene(mounted=False), motors, view)]
    server = MockMurkoServer().start()
    try:
        found, empty = MurkoClient(port=server.port, timeout_s=5).predict(images)
    finally:
        server.stop()
    assert found.present and not empty.present
    assert found.click_px == pytest.approx((view.beam_y, view.beam_x), abs=1.0)
    assert empty.click_px == (-1.0, -1.0)
    assert found.foreground_mask.shape == (256, 320) and found.foreground_mask.any()
    assert server.requests == 1


def test_fit_recovers_a_sinusoid_and_refuses_degenerate_angles():
    omega = np.array([0.0, 90.0, 180.0, 270.0, 33.0])
    w = np.radians(omega)
    y = 0.01 + 0.02 * np.cos(w) - 0.005 * np.sin(w)
    fit = fit_sinusoid(omega, y)
    assert (fit.c, fit.A, fit.B) == pytest.approx((0.01, 0.02, -0.005))
    assert fit.rms < 1e-12
    with pytest.raises(ValueError, match="modulo 180"):
        fit_sinusoid([0.0, 180.0, 360.0], [1.0, 2.0, 3.0])


def test_hull_of_a_cylinder_and_a_binary_ply_that_trimesh_reads(tmp_path):
    import trimesh

    # a cylinder of radius 10 px along the columns, axis at row 20: the same disk at every angle
    masks = np.zeros((6, 41, 50), bool)
    rows = np.arange(41)[:, None]
    masks[:, (np.abs(rows - 20) <= 10)[:, 0], 5:45] = True
    hull = visual_hull(masks, np.arange(6) * 30.0, pixel_mm=(0.001, 0.001), axis_row_px=20.0, voxel_mm=0.001)
    assert hull.contains(np.array([[0.02, 0.0, 0.0], [0.02, 0.007, 0.007]])).all()
    assert not hull.contains(np.array([[0.02, 0.0, 0.013]])).any()
    path = write_ply(tmp_path / "c.ply", hull.vertices_mm, hull.faces)
    mesh = trimesh.load(path, force="mesh")
    assert len(mesh.faces) == len(hull.faces)
    assert mesh.bounds[1][1] == pytest.approx(0.0105, abs=0.002)
    with pytest.raises(FileExistsError):
        write_ply(path, hull.vertices_mm, hull.faces)
