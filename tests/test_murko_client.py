"""The Murko client against the mock server over real ZeroMQ: every reply case, timeouts, gevent."""

from __future__ import annotations

import pickle
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from mxcubecore_interleave.errors import MurkoProtocolError, MurkoTimeoutError, UnsafeReplyError
from mxcubecore_interleave.murko.client import MurkoClient, check_port
from mxcubecore_interleave.simulation.murko_mock_server import MODES, MockMurkoServer, answer
from mxcubecore_interleave.murko.protocol import NOTIONS, build_request, encode_jpeg
from mxcubecore_interleave.simulation.murko_scene import CameraView, SampleScene, render

VIEW = CameraView(width=320, height=240, beam_x=158.0, beam_y=118.0,
                  pixels_per_mm_x=1 / 0.00089, pixels_per_mm_y=1 / 0.00089)


@pytest.fixture(scope="module")
def pictures() -> dict[str, np.ndarray]:
    scene = SampleScene()
    motors = dict(scene.crystal_centred_position(), omega=0.0)
    return {"sample": render(scene, motors, VIEW), "empty": render(SampleScene(mounted=False), motors, VIEW)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_found_and_empty_pictures_in_one_request(pictures):
    with MockMurkoServer() as server:
        found, empty = MurkoClient(port=server.port, timeout_s=5).predict([pictures["sample"], pictures["empty"]])
        assert server.requests == 1
    assert found.present and not empty.present
    assert found.click_px == pytest.approx((VIEW.beam_y, VIEW.beam_x), abs=1.5)
    assert 0 <= found.extreme_px[1] < found.click_px[1]
    assert empty.click_px == (-1.0, -1.0) and empty.extreme_px == (-1.0, -1.0)
    assert found.foreground_mask.shape == (256, 320) and found.foreground_mask.any()
    assert not empty.foreground_mask.any()


@pytest.mark.parametrize("mode", ["nothing", "soleil_nothing"])
def test_nothing_found_replies(pictures, mode):
    with MockMurkoServer(mode=mode) as server:
        (view,) = MurkoClient(port=server.port, timeout_s=5).predict([pictures["sample"]])
    assert not view.present and view.click_px == (-1.0, -1.0)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("empty", r"replied \{\}"),
        ("shape_only", "without descriptions"),
        ("descriptions_none", "without descriptions"),
        ("raw_list", "raw model output"),
        ("short", "described 0 pictures; 1 were sent"),
    ],
)
def test_failure_replies_from_the_server(pictures, mode, message):
    with MockMurkoServer(mode=mode) as server:
        client = MurkoClient(port=server.port, timeout_s=5)
        with pytest.raises(MurkoProtocolError, match=message):
            client.predict([pictures["sample"]])
        # the socket is still in step: the next request gets its own answer
        with pytest.raises(MurkoProtocolError, match=message):
            client.predict([pictures["sample"]])
        assert server.requests == 2


def test_a_reply_with_a_forbidden_global_never_runs(pictures, tmp_path):
    marker = tmp_path / "code-ran"
    with MockMurkoServer(mode="forbidden", marker=str(marker)) as server:
        with pytest.raises(UnsafeReplyError, match="mkdir"):
            MurkoClient(port=server.port, timeout_s=5).predict([pictures["sample"]])
    assert not marker.exists()
    # the same reply, unpickled without restriction, would have created it: the test can fail
    pickle.loads(pickle.dumps(answer({}, "forbidden", str(marker))))
    assert marker.is_dir()


def test_a_dead_server_times_out_with_its_address(pictures):
    port = _free_port()
    started = time.monotonic()
    with pytest.raises(MurkoTimeoutError, match=f"127.0.0.1:{port} did not answer within 0.3 s"):
        MurkoClient(port=port, timeout_s=0.3, timeout_per_image_s=0).predict([pictures["sample"]])
    assert time.monotonic() - started < 3.0


def test_a_hung_server_times_out(pictures):
    with MockMurkoServer(mode="silent") as server:
        with pytest.raises(MurkoTimeoutError):
            MurkoClient(port=server.port, timeout_s=0.3, timeout_per_image_s=0).predict([pictures["sample"]])
        assert server.requests == 1


def test_the_timeout_grows_with_the_number_of_pictures(pictures):
    """36 views at ~0.36 s each (murko.md §1.5) must not hit a fixed 10 s limit."""
    client = MurkoClient(port=_free_port(), timeout_s=10.0)
    assert client.request_timeout(36) == pytest.approx(10.0 + 36 * 0.5)
    assert MurkoClient(port=_free_port(), timeout_s=2.0, timeout_per_image_s=0.25).request_timeout(4) == 3.0
    with pytest.raises(ValueError, match="per picture"):
        MurkoClient(timeout_per_image_s=-1)
    # a server that needs 0.6 s for 3 pictures: 0.2 s alone times out, 0.2 + 3 x 0.5 s does not
    three = [pictures["sample"]] * 3
    with MockMurkoServer(delay_s=0.6) as server:
        with pytest.raises(MurkoTimeoutError, match="within 0.2 s"):
            MurkoClient(port=server.port, timeout_s=0.2, timeout_per_image_s=0).predict(three)
    # a fresh server: the first one is still busy with the abandoned request, and a request
    # queued behind it would measure that, not this one's deadline
    with MockMurkoServer(delay_s=0.6) as server:
        views = MurkoClient(port=server.port, timeout_s=0.2, timeout_per_image_s=0.5).predict(three)
    assert all(v.present for v in views)
    # and the allowance really extends the wait: a silent server is given 0.2 + 2 x 0.3 s
    with MockMurkoServer(mode="silent") as server:
        started = time.monotonic()
        with pytest.raises(MurkoTimeoutError, match="within 0.8 s"):
            MurkoClient(port=server.port, timeout_s=0.2, timeout_per_image_s=0.3).predict([pictures["sample"]] * 2)
        assert 0.75 < time.monotonic() - started < 3.0


class _SlowSocket:
    """A REQ socket whose every poll waits its whole timeout: writable at the end, never readable."""

    def __init__(self, log):
        self.log = log

    def setsockopt(self, *args):
        pass

    def connect(self, address):
        pass

    def poll(self, timeout_ms, flag):
        self.log.append(timeout_ms)
        time.sleep(timeout_ms / 1000.0)
        return flag == _FakeZmq.POLLOUT

    def send(self, data, flags=0):
        pass

    def close(self, linger=0):
        pass


class _FakeZmq:
    REQ, LINGER, NOBLOCK, POLLIN, POLLOUT, MAXMSGSIZE = 3, 17, 1, 1, 2, 22

    class Again(Exception):
        pass

    class ZMQError(Exception):
        pass

    def __init__(self):
        self.polls = []
        fake = self

        class Context:
            @staticmethod
            def instance():
                return Context()

            def socket(self, kind):
                return _SlowSocket(fake.polls)

        self.Context = Context


def test_sending_and_receiving_share_one_deadline(pictures):
    """A send that takes the whole timeout leaves nothing for the receive: timeout_s, not 2 x."""
    fake = _FakeZmq()
    client = MurkoClient(port=8901, timeout_s=0.4, timeout_per_image_s=0, zmq_module=fake)
    started = time.monotonic()
    with pytest.raises(MurkoTimeoutError, match="within 0.4 s"):
        client.predict([pictures["sample"]])
    elapsed = time.monotonic() - started
    # 2 x 0.4 s would be the bug; the poll timeouts below are the exact check
    assert elapsed < 0.8, f"the request waited {elapsed:.2f} s for a 0.4 s timeout"
    assert len(fake.polls) == 2 and fake.polls[0] == pytest.approx(400, abs=50) and fake.polls[1] < 50


def test_after_a_timeout_the_next_request_uses_a_fresh_socket(pictures):
    """A REQ socket that sent without an answer refuses to send again (EFSM): it must be replaced."""
    with MockMurkoServer(delay_s=0.8) as server:
        client = MurkoClient(port=server.port, timeout_s=0.2, timeout_per_image_s=0)
        with pytest.raises(MurkoTimeoutError):
            client.predict([pictures["sample"]])
        client.timeout_s = 5.0
        (view,) = client.predict([pictures["sample"]])
    assert view.present and server.requests == 2


def test_ports_beyond_65535_are_refused_with_the_wrapped_value():
    with pytest.raises(ValueError, match="23475"):
        MurkoClient(port=89011)
    with pytest.raises(ValueError, match="1-65535"):
        check_port(0)
    with pytest.raises(ValueError, match="timeout"):
        MurkoClient(timeout_s=0)


def test_pictures_of_different_sizes_are_refused_before_sending(pictures):
    client = MurkoClient(port=_free_port(), timeout_s=0.2)
    with pytest.raises(ValueError, match="one size"):
        client.predict([pictures["sample"], pictures["sample"][:100]])
    with pytest.raises(ValueError, match="no pictures"):
        client.predict([])


def test_min_size_reaches_the_server(pictures):
    with MockMurkoServer() as server:
        (view,) = MurkoClient(port=server.port, timeout_s=5, min_size=10**6).predict([pictures["sample"]])
    assert not view.present


@pytest.mark.parametrize("orientation", ["horizontal_flipped", "vertical_up", "vertical_down"])
def test_turned_cameras_get_their_clicks_back_in_their_own_frame(pictures, orientation):
    image = pictures["sample"]
    turned = {"horizontal_flipped": image[:, ::-1], "vertical_up": np.rot90(image, -1),
              "vertical_down": np.rot90(image, 1)}[orientation]
    with MockMurkoServer() as server:
        (straight,) = MurkoClient(port=server.port, timeout_s=5).predict([image])
        (view,) = MurkoClient(port=server.port, timeout_s=5, orientation=orientation).predict([np.ascontiguousarray(turned)])
    r, c = straight.click_px
    h, w = image.shape[:2]
    expected = {"horizontal_flipped": (r, w - c), "vertical_up": (c, h - r), "vertical_down": (w - c, r)}[orientation]
    assert view.click_px == pytest.approx(expected, abs=1.5)
    assert view.foreground_mask.shape == {"horizontal_flipped": (256, 320)}.get(orientation, (320, 256))


def _block_picture(shape=(1024, 1280), rows=(400, 480), cols=(600, 760)) -> np.ndarray:
    """A brown crystal block whose edges fall on the 256 x 320 prediction grid (4 px cells)."""
    image = np.full((*shape, 3), 226, np.uint8)
    image[rows[0]:rows[1], cols[0]:cols[1]] = (120, 64, 22)
    return image


def test_a_click_maps_to_camera_pixels_with_the_pixel_centre_convention():
    """Prediction pixel i (fraction i/Hp, murko.md §1.3) covers camera pixels [i, i+1) * H/Hp."""
    from mxcubecore_interleave.murko.protocol import Description

    client = MurkoClient(port=_free_port())
    flipped = MurkoClient(port=_free_port(), orientation="horizontal_flipped")
    mask = np.zeros((256, 320), bool)
    d = Description(present=True, click=(100 / 256, 40 / 320), extreme=(0.0, 0.0), aoi_bbox=None, mask=mask)
    view = client._view(d, (1024, 1280))
    assert view.click_px == pytest.approx(((100 + 0.5) * 4 - 0.5, (40 + 0.5) * 4 - 0.5))
    assert view.click_frac == pytest.approx((100 / 256, 40 / 320))
    assert view.extreme_px == pytest.approx((1.5, 1.5))  # the centre of the 4 x 4 pixels of cell (0, 0)
    # mirrored: server column 40 is camera column 319 - 40, and the same convention holds
    back = flipped._view(d, (1024, 1280))
    assert back.click_px == pytest.approx(((100 + 0.5) * 4 - 0.5, (319 - 40 + 0.5) * 4 - 0.5))
    assert back.click_frac == pytest.approx((100 / 256, (319 - 40) / 320))


@pytest.mark.parametrize("orientation", ["horizontal", "horizontal_flipped", "vertical_up", "vertical_down"])
def test_a_symmetric_crystal_is_found_at_its_centre_in_every_orientation(orientation):
    """No half-prediction-pixel bias: the block's centre (439.5, 679.5) comes back exactly."""
    image = _block_picture()
    turn = {"horizontal": lambda a: a, "horizontal_flipped": lambda a: a[:, ::-1],
            "vertical_up": lambda a: np.rot90(a, -1), "vertical_down": lambda a: np.rot90(a, 1)}[orientation]
    turned = np.ascontiguousarray(turn(image))
    truth = np.zeros(image.shape[:2], bool)
    truth[439:441, 679:681] = True  # the 2 x 2 pixels around the centre, turned like the picture
    centre = np.argwhere(turn(truth)).mean(axis=0)
    with MockMurkoServer() as server:
        (view,) = MurkoClient(port=server.port, timeout_s=5, orientation=orientation).predict([turned])
    assert view.present
    assert view.click_px == pytest.approx(tuple(centre), abs=0.01)


def test_camera_jpeg_bytes_are_sent_as_they_are(pictures):
    jpeg = encode_jpeg(pictures["sample"], 90)
    client = MurkoClient(port=_free_port())
    sent, shapes = client.encode([jpeg, jpeg])
    assert sent == [jpeg, jpeg] and shapes == [(240, 320), (240, 320)]
    # a camera that needs turning: decoded, turned, encoded again
    turned, _ = MurkoClient(port=_free_port(), orientation="horizontal_flipped").encode([jpeg])
    assert turned[0] != jpeg
    with pytest.raises(ValueError, match="one size"):
        client.encode([jpeg, pictures["sample"][:100]])
    with pytest.raises(ValueError, match="not a readable JPEG"):
        client.encode([b"not a picture"])
    with MockMurkoServer() as server:
        client = MurkoClient(port=server.port, timeout_s=5)
        client.encoder_map = lambda fn, items: pytest.fail("camera JPEGs need no encoding")
        (from_bytes,) = client.predict([jpeg])
        client.encoder_map = lambda fn, items: [fn(i) for i in items]
        (from_array,) = client.predict([pictures["sample"]])
    assert from_bytes.present and from_bytes.image_shape == (240, 320)
    assert from_bytes.click_px == pytest.approx(from_array.click_px, abs=1.0)
    assert set(client.last_timings) == {"encode", "serialise", "round_trip", "unpickle", "parse", "total"}
    assert client.last_timings["total"] >= client.last_timings["round_trip"] > 0


@pytest.mark.parametrize("orientation", ["horizontal", "vertical_up"])
def test_pictures_prepared_ahead_give_the_same_answer(pictures, orientation):
    """prepare() (run while omega turns) does the request's encoding: same bytes, same views."""
    image = pictures["sample"] if orientation == "horizontal" else np.ascontiguousarray(np.rot90(pictures["sample"], -1))
    with MockMurkoServer() as server:
        client = MurkoClient(port=server.port, timeout_s=5, orientation=orientation)
        pool_map = client.encoder_map
        # prepare runs in a worker thread already: it must not open another pool from there
        client.encoder_map = lambda fn, items: pytest.fail("prepare went through encoder_map")
        prepared = [client.prepare(image), client.prepare(pictures["empty"] if orientation == "horizontal" else image)]
        client.encoder_map = pool_map
        assert prepared[0].jpeg == client.encode([image])[0][0]
        assert prepared[0].camera_shape == image.shape[:2]
        encoded = []
        client.encoder_map = lambda fn, items: encoded.extend(items) or [fn(i) for i in items]
        found, _ = client.predict(prepared)
        assert encoded == []  # nothing left to encode in the request
        (direct,) = client.predict([image])
        assert len(encoded) == 1
    assert found.present and found.click_px == pytest.approx(direct.click_px, abs=1e-9)
    assert found.image_shape == direct.image_shape
    with pytest.raises(ValueError, match="not both"):
        client.encode([prepared[0], image])
    other = MurkoClient(port=_free_port(), orientation="horizontal_flipped")
    with pytest.raises(ValueError, match="another orientation"):
        other.encode([prepared[0]])
    with pytest.raises(ValueError, match="another orientation or JPEG quality"):
        MurkoClient(port=_free_port(), orientation=orientation, jpeg_quality=50).encode([prepared[0]])


def test_the_server_accepts_what_mains_server_accepts(pictures):
    jpeg = encode_jpeg(pictures["sample"])
    single = answer({"to_predict": jpeg, "description": NOTIONS})
    array = answer({"to_predict": pictures["sample"], "description": NOTIONS})
    assert single["descriptions"][0]["present"] == 1 and array["descriptions"][0]["present"] == 1
    assert answer({"to_predict": [jpeg], "description": NOTIONS}) == {}  # a list of bytes: main fails
    assert isinstance(answer({"to_predict": [np.frombuffer(jpeg, np.uint8)]}), list)  # no description
    partial = answer({"to_predict": [np.frombuffer(jpeg, np.uint8)], "description": ["foreground"]})
    assert partial == {"original_image_shape": (240, 320, 3)}
    assert build_request([jpeg])["to_predict"][0].tobytes() == jpeg


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="normal"):
        MockMurkoServer(mode="sometimes")
    assert {"normal", "silent", "forbidden"} <= set(MODES)


def test_the_gevent_loop_keeps_running_while_murko_thinks(pictures, tmp_path):
    """With zmq.green the wait for a slow server yields: other greenlets keep their pace."""
    code = f"""
import gevent, time, numpy as np, zmq.green
from mxcubecore_interleave.murko.client import MurkoClient
from mxcubecore_interleave.simulation.murko_mock_server import MockMurkoServer
image = np.load({str(tmp_path / "sample.npy")!r})
server = MockMurkoServer(delay_s=1.0).start()
ticks = []
def ticker():
    while True:
        ticks.append(time.monotonic()); gevent.sleep(0.02)
t = gevent.spawn(ticker)
job = gevent.spawn(MurkoClient(port=server.port, timeout_s=5, zmq_module=zmq.green).predict, [image])
job.join(10)
t.kill(); server.stop()
gaps = np.diff(ticks)
print(job.successful(), job.value[0].present, len(ticks), round(float(gaps.max()), 3))
"""
    np.save(tmp_path / "sample.npy", pictures["sample"])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    ok, present, ticks, max_gap = out.stdout.split()
    assert ok == "True" and present == "True"
    assert int(ticks) > 30  # about 1 s of 20 ms ticks while the server waited
    assert float(max_gap) < 0.3

