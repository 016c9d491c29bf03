"""Simulated sample camera (OAV) whose picture follows omega and the centring motors.

mxcubecore's ``MDCameraMockup`` serves one static JPEG (and reports a size that differs from it),
so nothing can be centred on it. This camera renders a pin, loop and crystal
(``mxcubecore_interleave.simulation.murko_scene``) at the current positions of omega, phiy, phiz, sampx and
sampy, with the beamline's pixels-per-mm, beam mark and SampleView motor directions, so that
centring on the mockup really converges.

``orientation`` turns the camera: the scene is rendered with the tip to the left (a horizontal
rotation axis) and then mirrored or turned by 90 degrees, so that ``vertical_up`` shows the sample
on a vertical axis, tip up. The beam mark and pixels-per-mm the beamline reports are taken in the
turned picture's frame. (mxcubecore's own SampleView maths assume a horizontal axis; a turned
camera is for testing centring on a vertical axis, e.g. Murko's.)

It keeps the camera interface that ``SampleView`` and mxcubeweb's video use: ``get_width``,
``get_height``, ``get_last_image``, ``get_available_stream_sizes``, ``get_stream_size``,
``set_stream_size``, ``stream_hash``, ``start_streaming``, ``restart_streaming``,
``stop_streaming``. For the web video it serves its frames as an MJPEG stream on loopback and
starts mxcubeweb's ``video-streamer`` on that stream (``-uri http://…``), instead of the
streamer's built-in test pattern.

Example XML (``configuration/md_camera.xml``)::

    <object class="mxcubecore_interleave.simulation.SimulatedSampleCamera">
      <width>640</width>
      <height>480</height>
      <scene>{"crystal_position": {"phiy": 0.5, "phiz": 0.2, "sampx": 0.1, "sampy": -0.05}}</scene>
    </object>
"""

from __future__ import annotations

import ast
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gevent
import numpy as np
from mxcubecore import HardwareRepository as HWR
from mxcubecore.BaseHardwareObjects import HardwareObject, HardwareObjectState
from PIL import Image
from pydantic import Field, field_validator

from mxcubecore_interleave.murko.orientation import Orientation, tip_direction
from mxcubecore_interleave.simulation.murko_scene import CameraView, MotorDirections, SampleScene, render

__all__ = ["SimulatedSampleCamera", "parse_config_value"]

ROLES = ("omega", "phiy", "phiz", "sampx", "sampy")
log = logging.getLogger("HWR")


def parse_config_value(value: Any) -> Any:
    """XML properties arrive as strings: read JSON or a Python literal, recursively for dicts."""
    if isinstance(value, str):
        text = value.strip()
        for loader in (json.loads, ast.literal_eval):
            try:
                return loader(text)
            except (ValueError, SyntaxError):
                continue
        return value
    if isinstance(value, Mapping):
        return {key: parse_config_value(item) for key, item in value.items()}
    return value


class SimulatedSampleCamera(HardwareObject):
    """Renders the simulated sample as seen by the on-axis camera."""

    class HOConfig(HardwareObject.HOConfig):
        username: str = "Sample camera (simulated)"
        width: int = Field(640, gt=8, le=8192)
        height: int = Field(480, gt=8, le=8192)
        jpeg_quality: int = Field(90, ge=10, le=100)
        scene: Any = None
        """SampleScene fields (dict, or a JSON / Python-literal string in XML)."""
        motor_directions: Any = None
        """Used only if the SampleView has none (it normally does: ``centring_motors``)."""
        stream_frame_rate: float = Field(10.0, gt=0, le=60)
        video_streamer: str = "video-streamer"
        motor_roles: Any = None
        """The diffractometer's role for each of omega, phiy, phiz, sampx, sampy (a mapping, or
        ``md2``/``md3``; goniometer.MotorRoles); None: the same names."""
        orientation: str = "horizontal"
        """Where the sample tip points in the picture: horizontal (left), horizontal_flipped,
        vertical_up, vertical_down (the latter two: a vertical rotation axis)."""

        @field_validator("orientation")
        @classmethod
        def _direction(cls, value: str) -> str:
            tip_direction(value)  # raises a ValueError that lists the allowed names
            return value

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.stream_hash = uuid.uuid4().hex[:12]
        self._scene = SampleScene()
        self._frame_index = 0
        self._format = "MPEG1"
        self._port: int | str = 8000
        self._stream_size: tuple[int, int] = (0, 0)
        self._mjpeg_server = None
        self._video_stream_process: subprocess.Popen | None = None

    def init(self) -> None:
        super().init()
        scene = parse_config_value(self.config.scene) or {}
        self._scene = SampleScene(**scene)
        self._stream_size = (self.get_width(), self.get_height())
        self.update_state(HardwareObjectState.READY)

    # --- the simulated sample --------------------------------------------------------------

    @property
    def scene(self) -> SampleScene:
        """What is mounted: the pin, loop and crystal and where they sit."""
        return self._scene

    def set_scene(self, scene: SampleScene) -> None:
        """Mount another simulated sample (or none: ``SampleScene(mounted=False)``)."""
        self._scene = scene

    def _turn(self) -> Orientation:
        """From the rendered picture (tip left) to the camera's picture."""
        return Orientation("left", self.config.orientation)

    def camera_view(self) -> CameraView:
        """Size, beam mark, calibration and motor directions of the rendered (tip-left) picture.

        Read from the beamline now; for a turned camera they are turned back from the camera's
        frame (pixel k's centre at k, as the beam mark).
        """
        beamline = HWR.beamline
        if beamline is None or beamline.diffractometer is None or beamline.beam is None:
            raise RuntimeError("the simulated camera needs HWR.beamline.diffractometer and .beam")
        ppmm_x, ppmm_y = (float(v) for v in beamline.diffractometer.get_pixels_per_mm())
        beam_x, beam_y = (float(v) for v in beamline.beam.get_beam_position_on_screen())
        width, height = self.get_width(), self.get_height()
        turn = self._turn()
        if not turn.is_identity:
            # the camera picture is the "server" side of the turn: map its beam mark back
            rows, cols = height, width
            position = turn.point_from_server(((beam_y + 0.5) / rows, (beam_x + 0.5) / cols))
            height, width = turn.shape_from_server((rows, cols))
            beam_y, beam_x = position[0] * height - 0.5, position[1] * width - 0.5
            if (height, width) != (rows, cols):
                ppmm_x, ppmm_y = ppmm_y, ppmm_x
        return CameraView(
            width=width,
            height=height,
            beam_x=beam_x,
            beam_y=beam_y,
            pixels_per_mm_x=ppmm_x,
            pixels_per_mm_y=ppmm_y,
            directions=self._directions(),
        )

    def _directions(self) -> MotorDirections:
        sample_view = HWR.beamline.sample_view if HWR.beamline is not None else None
        motors = getattr(sample_view, "centring_motors", None) or {}
        if all(role in motors for role in ROLES):
            return MotorDirections(**{role: int(motors[role].direction) for role in ROLES})
        return MotorDirections(**(parse_config_value(self.config.motor_directions) or {}))

    def motor_positions(self) -> dict[str, float]:
        """Current omega, phiy, phiz, sampx, sampy from the diffractometer."""
        from mxcubecore_interleave.goniometer import motor_roles_from, read_motors

        roles = motor_roles_from(SimpleNamespace(motor_roles=parse_config_value(self.config.motor_roles)))
        positions = roles.from_site(read_motors(HWR.beamline.diffractometer, roles.site_roles(ROLES)))
        missing = [role for role in ROLES if positions.get(role) is None]
        if missing:
            raise RuntimeError(f"the diffractometer has no position for {missing}")
        return positions

    def get_image_array(self) -> np.ndarray:
        """The current picture, (H, W, 3) uint8 RGB."""
        self._frame_index += 1
        image = render(self._scene, self.motor_positions(), self.camera_view(), frame_index=self._frame_index)
        turn = self._turn()
        return image if turn.is_identity else turn.to_server(image)

    def get_jpeg(self, quality: int | None = None) -> bytes:
        """The current picture as JPEG bytes."""
        buffer = io.BytesIO()
        Image.fromarray(self.get_image_array()).save(
            buffer, format="JPEG", quality=quality or self.config.jpeg_quality
        )
        return buffer.getvalue()

    # --- the camera interface of SampleView and mxcubeweb ----------------------------------

    def get_width(self) -> int:
        return int(self.config.width)

    def get_height(self) -> int:
        return int(self.config.height)

    def get_last_image(self) -> tuple[bytes, int, int]:
        """``(rgb bytes, width, height)``, what ``SampleView.take_snapshot`` reads."""
        image = self.get_image_array()
        return image.tobytes(), image.shape[1], image.shape[0]

    def get_available_stream_sizes(self) -> list[tuple[int, int]]:
        w, h = self.get_width(), self.get_height()
        return [(w, h), (w // 2, h // 2), (w // 4, h // 4)]

    def set_stream_size(self, width: float, height: float) -> None:
        self._stream_size = (int(width), int(height))

    def get_stream_size(self) -> tuple[int, int, float]:
        width, height = self._stream_size
        return width, height, float(width) / self.get_width()

    def start_streaming(self, _format: str = "MPEG1", size: tuple[int, int] = (0, 0), port: int | str = "8000") -> None:
        """Serve MJPEG on loopback and run ``video-streamer`` on it (as MDCameraMockup runs it)."""
        self._format = _format
        self._port = port
        if size and size[0]:
            self.set_stream_size(size[0], size[1])
        else:
            self.set_stream_size(self.get_width(), self.get_height())
        url = self.start_mjpeg_server()
        streamer = self._video_streamer()
        if streamer is None:
            log.warning("SimulatedSampleCamera: %s not found; MJPEG only at %s", self.config.video_streamer, url)
            return
        if self._video_stream_process is not None and self._video_stream_process.poll() is None:
            return
        width, height = self._stream_size
        self._video_stream_process = subprocess.Popen(  # noqa: S603 (fixed argument list)
            [
                streamer,
                "-uri", url,
                "-hs", "localhost",
                "-p", str(self._port),
                "-of", self._format,
                "-q", "4",
                "-s", f"{width}, {height}",
                "-id", self.stream_hash,
            ],
            close_fds=True,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopping reaches its helpers too
        )

    def _video_streamer(self) -> str | None:
        """The streamer command: on PATH, or installed next to this Python (a virtualenv)."""
        found = shutil.which(self.config.video_streamer)
        if found is None:
            candidate = Path(sys.executable).parent / self.config.video_streamer
            found = str(candidate) if candidate.is_file() else None
        return found

    def stop_streaming(self) -> None:
        """Stop the streamer this camera started (by its pid) and the MJPEG server."""
        process, self._video_stream_process = self._video_stream_process, None
        if process is not None:
            _stop_process_group(process)
        self.stop_mjpeg_server()

    def restart_streaming(self, size: tuple[int, int]) -> None:
        self.stop_streaming()
        self.start_streaming(self._format, size=size, port=self._port)

    # --- MJPEG over HTTP on loopback -------------------------------------------------------

    def start_mjpeg_server(self, port: int = 0) -> str:
        """Start (once) the loopback MJPEG server; returns its URL."""
        if self._mjpeg_server is None:
            from gevent.pywsgi import WSGIServer

            server = WSGIServer(("127.0.0.1", port), self._mjpeg_app, log=None, error_log=None)
            server.start()
            self._mjpeg_server = server
        return f"http://127.0.0.1:{self._mjpeg_server.server_port}/video.mjpg"

    def stop_mjpeg_server(self) -> None:
        server, self._mjpeg_server = self._mjpeg_server, None
        if server is not None:
            server.stop(timeout=1)

    def _mjpeg_app(self, environ, start_response):
        if environ.get("PATH_INFO") not in ("/", "/video.mjpg"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        start_response(
            "200 OK",
            [("Content-Type", "multipart/x-mixed-replace; boundary=frame"), ("Cache-Control", "no-cache")],
        )
        return self._mjpeg_frames()

    def _mjpeg_frames(self) -> Iterator[bytes]:
        period = 1.0 / self.config.stream_frame_rate
        while self._mjpeg_server is not None:
            width, height = self._stream_size
            image = Image.fromarray(self.get_image_array())
            if (width, height) != image.size and width > 0 and height > 0:
                image = image.resize((width, height))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=self.config.jpeg_quality)
            jpeg = buffer.getvalue()
            yield (
                b"--frame\r\nContent-Type: image/jpeg\r\n"
                + f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                + jpeg
                + b"\r\n"
            )
            gevent.sleep(period)


def _stop_process_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop the streamer (and its process group, when it leads one), then reap it.

    The streamer (uvicorn) may wait for open viewer connections before it exits on SIGTERM,
    so a kill must follow, and the kill must be waited for: otherwise the process outlives
    ``stop_streaming``. The group is signalled only if the process really leads its own group
    (never our own, never pid 1).
    """
    for sig, timeout in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        if process.poll() is not None:
            return
        if _leads_own_group(process.pid):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
        elif sig == signal.SIGTERM:
            process.terminate()
        else:
            process.kill()
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue
    log.error("SimulatedSampleCamera: video streamer %s did not exit", process.pid)


def _leads_own_group(pid: object) -> bool:
    if type(pid) is not int or pid <= 1:
        return False
    try:
        return os.getpgid(pid) == pid and pid != os.getpgid(0)
    except OSError:
        return False
