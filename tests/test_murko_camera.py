"""The simulated sample camera on the mockup beamline: SampleView and mxcubeweb see a sample that moves."""

from __future__ import annotations

import io
import socket

import numpy as np
import pytest
from PIL import Image

from mxcubecore_interleave.simulation.SimulatedSampleCamera import (
    SimulatedSampleCamera,
    parse_config_value,
)
from mxcubecore_interleave.simulation.murko_scene import SampleScene
from mxcubecore_interleave.murko_demo import place_sample

pytestmark = pytest.mark.beamline


def _crystal_centroid(image: np.ndarray, scene: SampleScene) -> tuple[float, float]:
    diff = np.abs(image.astype(int) - np.asarray(scene.crystal_rgb)).sum(axis=2)
    rows, cols = np.nonzero(diff < 30)
    assert rows.size > 20, "crystal not visible"
    return float(cols.mean()), float(rows.mean())


def test_the_sample_view_uses_the_simulated_camera(beamline):
    camera = beamline.sample_view.camera
    assert isinstance(camera, SimulatedSampleCamera)
    data, width, height = camera.get_last_image()
    assert (width, height) == (camera.get_width(), camera.get_height())
    assert len(data) == width * height * 3
    snapshot = beamline.sample_view.take_snapshot()
    assert snapshot.size == (width, height)
    jpeg = beamline.sample_view.get_snapshot()
    assert Image.open(io.BytesIO(jpeg.getvalue())).size == (width, height)
    array = beamline.sample_view.get_snapshot(return_as_array=True)
    assert array.shape == (height, width, 3)


def test_the_picture_follows_phiy_and_omega(beamline):
    camera = beamline.sample_view.camera
    ppmm_x, ppmm_y = beamline.diffractometer.get_pixels_per_mm()
    place_sample(beamline, {"phiy": 0.0, "sampx": 0.02}, omega=0.0)
    x0, y0 = _crystal_centroid(camera.get_image_array(), camera.scene)
    place_sample(beamline, {"phiy": 0.01, "sampx": 0.02}, omega=90.0)
    x1, y1 = _crystal_centroid(camera.get_image_array(), camera.scene)
    # moving phiy up by 10 um brings the crystal (at phiy - motor) 10 um further left
    assert x1 - x0 == pytest.approx(-0.01 * ppmm_x, abs=0.5)
    # the sampx offset is invisible at omega 0 and a full 20 um at omega 90
    assert y0 == pytest.approx(238.0, abs=0.5)
    assert y1 - y0 == pytest.approx(-0.02 * ppmm_y, abs=0.5)


@pytest.mark.parametrize("omega", [20.0, 145.0])
def test_sample_view_maths_agree_with_the_picture(beamline, omega):
    """motor_positions_to_screen finds the crystal where it is drawn; move_to_beam brings it to the beam."""
    sample_view = beamline.sample_view
    camera = sample_view.camera
    truth = place_sample(beamline, {"phiy": -0.02, "phiz": 0.01, "sampx": 0.015, "sampy": -0.02}, omega=omega)
    x, y = _crystal_centroid(camera.get_image_array(), camera.scene)
    sx, sy = sample_view.motor_positions_to_screen(truth)
    assert abs(sx - x) <= 1.0 and abs(sy - y) <= 1.0

    sample_view.move_to_beam(x, y)
    bx, by = beamline.beam.get_beam_position_on_screen()
    x2, y2 = _crystal_centroid(camera.get_image_array(), camera.scene)
    assert (x2, y2) == pytest.approx((bx, by), abs=0.5)


@pytest.mark.parametrize("orientation", ["horizontal_flipped", "vertical_up", "vertical_down"])
def test_a_turned_camera_shows_the_centred_crystal_on_its_beam_mark(beamline, orientation):
    """The beam mark and pixels-per-mm are the turned picture's; the sample turns with it."""
    camera = beamline.sample_view.camera
    camera.config.orientation = orientation
    bx, by = beamline.beam.get_beam_position_on_screen()
    ppmm_x, ppmm_y = beamline.diffractometer.get_pixels_per_mm()
    place_sample(beamline, {"phiy": 0.0, "phiz": 0.0, "sampx": 0.0, "sampy": 0.0}, omega=0.0)
    image = camera.get_image_array()
    assert image.shape == (camera.get_height(), camera.get_width(), 3)
    assert _crystal_centroid(image, camera.scene) == pytest.approx((bx, by), abs=0.5)
    # phiy (along the axis) moves the crystal along the turned axis: left on the straight camera
    place_sample(beamline, {"phiy": 0.01}, omega=0.0)
    x, y = _crystal_centroid(camera.get_image_array(), camera.scene)
    expected = {"horizontal_flipped": (bx + 0.01 * ppmm_x, by), "vertical_up": (bx, by - 0.01 * ppmm_y),
                "vertical_down": (bx, by + 0.01 * ppmm_y)}[orientation]
    assert (x, y) == pytest.approx(expected, abs=0.6)
    with pytest.raises(ValueError, match="vertical_up"):
        SimulatedSampleCamera.HOConfig(orientation="sideways")


def test_an_unmounted_pin_is_just_background(beamline):
    camera = beamline.sample_view.camera
    camera.set_scene(SampleScene(mounted=False))
    image = camera.get_image_array()
    assert image.min() > 180


def test_stream_sizes_follow_the_configured_size(beamline):
    camera = beamline.sample_view.camera
    sizes = camera.get_available_stream_sizes()
    assert sizes[0] == (camera.get_width(), camera.get_height())
    camera.set_stream_size(320, 240)
    assert camera.get_stream_size() == (320, 240, 0.5)
    assert isinstance(camera.stream_hash, str) and camera.stream_hash


def _first_mjpeg_frame(url: str) -> bytes:
    """Read one part of a multipart MJPEG stream with a plain socket (no extra client library)."""
    host_port = url.split("//")[1].split("/")[0]
    host, port = host_port.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /video.mjpg HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        while data.count(b"--frame") < 2:
            chunk = sock.recv(65536)
            assert chunk, "stream closed"
            data += chunk
    assert b"multipart/x-mixed-replace; boundary=frame" in data
    part = data.split(b"--frame")[1]
    return part.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n")


def test_streaming_serves_the_rendered_picture_and_starts_the_streamer(beamline, mocker):
    camera = beamline.sample_view.camera
    mocker.patch("shutil.which", return_value="/usr/bin/video-streamer")
    popen = mocker.patch("subprocess.Popen")
    popen.return_value.poll.return_value = None
    camera.start_streaming("MPEG1", size=(320, 240), port=8123)
    try:
        args = popen.call_args.args[0]
        uri = args[args.index("-uri") + 1]
        assert uri.startswith("http://127.0.0.1:")
        assert args[args.index("-p") + 1] == "8123"
        assert args[args.index("-id") + 1] == camera.stream_hash
        jpeg = _first_mjpeg_frame(uri)
        assert Image.open(io.BytesIO(jpeg)).size == (320, 240)
    finally:
        camera.stop_streaming()
    popen.return_value.terminate.assert_called_once()
    assert camera._mjpeg_server is None


def test_xml_strings_are_read_as_json_or_python_literals():
    assert parse_config_value('{"a": [1, 2]}') == {"a": [1, 2]}
    assert parse_config_value("{'a': (1, 2)}") == {"a": (1, 2)}
    assert parse_config_value({"x": "0.5", "y": "text"}) == {"x": 0.5, "y": "text"}
    assert parse_config_value(None) is None
