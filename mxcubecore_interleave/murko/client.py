"""A Murko client that cannot hang MXCuBE and cannot be made to run code.

Murko's own client opens a socket per call with no timeout and unpickles whatever arrives. This
one keeps one REQ socket, bounds every send and receive, drops the socket after a timeout (a REQ
socket that sent without an answer is stuck for good), and reads replies through the restricted
unpickler. All views go in one request. The zmq module is injected: ``zmq.green`` inside
MXCuBE's gevent loop, plain ``zmq`` elsewhere.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mxcubecore_interleave.errors import MurkoError, MurkoProtocolError, MurkoTimeoutError
from mxcubecore_interleave.murko.orientation import Orientation
from mxcubecore_interleave.murko.protocol import (
    DEFAULT_MIN_SIZE,
    DEFAULT_PORT,
    Description,
    build_request,
    encode_jpeg,
    parse_reply,
    safe_loads,
)


@dataclass(frozen=True)
class ViewResult:
    """What Murko says about one camera picture, mapped back into that picture's frame.

    ``*_px`` are (row, column) pixels of the camera picture, (-1, -1) when absent; the mask is
    the foreground on Murko's prediction grid, turned back to the camera's orientation.
    """

    present: bool
    click_px: tuple[float, float]
    click_frac: tuple[float, float]
    extreme_px: tuple[float, float]
    foreground_mask: np.ndarray
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


def check_port(port: int) -> int:
    """A TCP port; Murko's 89011-style defaults wrap modulo 65536 in libzmq, so refuse them."""
    value = int(port)
    if not 0 < value <= 65535:
        hint = f" (libzmq would silently use {value % 65536})" if value > 65535 else ""
        raise ValueError(f"Murko port {value} is not a TCP port (1-65535){hint}; write the real port")
    return value


class MurkoClient:
    """Send all views of a centring to Murko in one request; read the reply safely."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        timeout_s: float = 10.0,
        min_size: int = DEFAULT_MIN_SIZE,
        orientation: str = "horizontal",
        server_tip: str = "left",
        jpeg_quality: int = 90,
        zmq_module: Any = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"the Murko timeout must be positive, got {timeout_s}")
        if zmq_module is None:
            import zmq as zmq_module
        self.host = host
        self.port = check_port(port)
        self.timeout_s = float(timeout_s)
        self.min_size = int(min_size)
        self.orientation = Orientation(orientation, server_tip)
        self.jpeg_quality = int(jpeg_quality)
        self.zmq = zmq_module
        self._socket: Any = None

    @property
    def address(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def _connected(self) -> Any:
        if self._socket is None:
            zmq = self.zmq
            socket = zmq.Context.instance().socket(zmq.REQ)
            timeout_ms = max(1, int(self.timeout_s * 1000))
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.SNDTIMEO, timeout_ms)
            socket.setsockopt(zmq.RCVTIMEO, timeout_ms)
            socket.connect(self.address)
            self._socket = socket
        return self._socket

    def close(self) -> None:
        """Drop the socket (the next request opens a new one)."""
        socket, self._socket = self._socket, None
        if socket is not None:
            socket.close(linger=0)

    def request(self, payload: dict[str, Any]) -> Any:
        """One round trip. Times out instead of waiting forever; never reuses a stuck socket.

        Waiting is done with ``poll``: it yields to gevent under ``zmq.green`` and honours the
        timeout (green sockets do not apply SNDTIMEO/RCVTIMEO to their own waits).
        """
        zmq = self.zmq
        socket = self._connected()
        timeout_ms = max(1, int(self.timeout_s * 1000))
        try:
            if not socket.poll(timeout_ms, zmq.POLLOUT):
                raise zmq.Again()
            socket.send(pickle.dumps(payload), zmq.NOBLOCK)
            if not socket.poll(timeout_ms, zmq.POLLIN):
                raise zmq.Again()
            data = socket.recv(zmq.NOBLOCK)
        except zmq.Again as exc:
            self.close()
            raise MurkoTimeoutError(
                f"Murko at {self.host}:{self.port} did not answer within {self.timeout_s:g} s "
                "(server down, overloaded, or another port?)"
            ) from exc
        except zmq.ZMQError as exc:
            self.close()
            raise MurkoError(f"ZeroMQ error talking to Murko at {self.host}:{self.port}: {exc}") from exc
        try:
            return safe_loads(data)
        except MurkoProtocolError:
            self.close()
            raise

    def describe(self, images: Sequence[np.ndarray]) -> list[Description]:
        """Murko's descriptions of ``images``, in the server's picture frame."""
        if not images:
            raise ValueError("no pictures to send to Murko")
        shapes = {np.asarray(im).shape for im in images}
        if len(shapes) > 1:
            raise ValueError(f"all pictures of one Murko request must have one size, got {sorted(shapes)}")
        jpegs = [encode_jpeg(self.orientation.to_server(im), self.jpeg_quality) for im in images]
        return parse_reply(self.request(build_request(jpegs, self.min_size)), len(images))

    def predict(self, images: Sequence[np.ndarray]) -> list[ViewResult]:
        """Murko's answers for ``images`` in camera pixels (what a centring needs)."""
        descriptions = self.describe(images)
        return [self._view(d, np.asarray(im).shape[:2]) for d, im in zip(descriptions, images)]

    def _view(self, description: Description, shape: tuple[int, int]) -> ViewResult:
        h, w = shape
        o = self.orientation
        click = o.point_from_server(description.click)
        extreme = o.point_from_server(description.extreme)
        return ViewResult(
            present=description.present,
            click_px=(click[0] * h, click[1] * w) if click else (-1.0, -1.0),
            click_frac=click if click else (-1.0, -1.0),
            extreme_px=(extreme[0] * h, extreme[1] * w) if extreme else (-1.0, -1.0),
            foreground_mask=o.mask_from_server(description.mask),
            raw=description.raw,
        )
