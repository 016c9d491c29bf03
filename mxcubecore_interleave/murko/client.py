"""A Murko client that cannot hang MXCuBE and cannot be made to run code.

Murko's own client opens a socket per call with no timeout and unpickles whatever arrives. This
one keeps one REQ socket, gives each request one deadline (``timeout_s`` plus
``timeout_per_image_s`` per picture, for sending and receiving together), drops the socket after
a timeout (a REQ socket that sent without an answer is stuck for good), and reads replies through
the restricted unpickler. All views go in one request. The zmq module is injected: ``zmq.green``
inside MXCuBE's gevent loop, plain ``zmq`` elsewhere.

Pictures are RGB arrays or JPEG bytes (a camera's own JPEG, sent as it is when no turning is
needed). Arrays are JPEG-encoded with Pillow through ``encoder_map`` (a thread pool by default;
MurkoCentring passes gevent's, so the hub keeps running). :attr:`MurkoClient.last_timings` holds
the phases of the last request.
"""

from __future__ import annotations

import io
import os
import pickle
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mxcubecore_interleave.errors import MurkoError, MurkoProtocolError, MurkoTimeoutError
from mxcubecore_interleave.murko.orientation import (
    Orientation,
    fraction_from_position,
    pixel_from_position,
    position_from_fraction,
)
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

    ``*_px`` are (row, column) camera pixels with pixel ``k``'s centre at ``k`` (the convention of
    the beam mark), (-1, -1) when absent. ``click_frac`` is Murko's fraction (prediction-pixel
    index / grid size, murko.md §1.3) on the prediction grid turned to the camera's frame. The
    mask is the foreground on that grid.
    """

    present: bool
    click_px: tuple[float, float]
    click_frac: tuple[float, float]
    extreme_px: tuple[float, float]
    foreground_mask: np.ndarray
    image_shape: tuple[int, int] = (0, 0)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


DEFAULT_JPEG_QUALITY = 85
"""Murko shrinks every picture to its 256 x 320 grid, so quality 85 loses nothing it sees; the
JPEGs are a third smaller than at 90 (encoding time is about the same: bench_murko_client)."""

DEFAULT_TIMEOUT_S = 15.0
"""Base deadline of one request: a cold CPU server took 10.25 s for its first 4-view request
after a restart (retrace at a new picture size or batch size, murko.md §1.5); warm it is ~1.5 s."""

DEFAULT_MAX_REPLY_MB_PER_IMAGE = 10.0
"""Reply size cap per picture (plus 1 MB): 4x SOLEIL's 2.5 MB per picture, 17x Murko main's
0.58 MB. Larger replies are dropped by ZeroMQ itself (``MAXMSGSIZE``) and never unpickled."""

DEFAULT_TIMEOUT_PER_IMAGE_S = 0.5
"""Allowance per picture on top of ``timeout_s``: the real server took 0.31 s inference + 0.05 s
descriptions per 1024x1360 picture warm on 2 CPU cores (murko.md §1.5)."""


@dataclass(frozen=True)
class PreparedPicture:
    """A picture already encoded for the server (its orientation, this client's quality), with
    its camera (rows, columns): made by :meth:`MurkoClient.prepare` while omega turns to the
    next view, so that the request itself only serialises and sends."""

    jpeg: bytes
    camera_shape: tuple[int, int]
    orientation_key: tuple


def check_port(port: int) -> int:
    """A TCP port; Murko's 89011-style defaults wrap modulo 65536 in libzmq, so refuse them."""
    value = int(port)
    if not 0 < value <= 65535:
        hint = f" (libzmq would silently use {value % 65536})" if value > 65535 else ""
        raise ValueError(f"Murko port {value} is not a TCP port (1-65535){hint}; write the real port")
    return value


def jpeg_shape(data: bytes) -> tuple[int, int]:
    """(rows, columns) of a JPEG from its header (nothing is decoded)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG":
                raise ValueError(f"a picture given as bytes must be a JPEG, got {image.format}")
            width, height = image.size
    except OSError as exc:
        raise ValueError(f"a picture given as bytes is not a readable JPEG: {exc}") from exc
    return int(height), int(width)


def _thread_map() -> Callable[[Callable, Iterable], list]:
    """A lazily made thread pool's map (Pillow releases the GIL while it encodes)."""
    from concurrent.futures import ThreadPoolExecutor

    pool: list[ThreadPoolExecutor] = []

    def map_(fn: Callable, items: Iterable) -> list:
        if not pool:
            pool.append(ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="murko-jpeg"))
        return list(pool[0].map(fn, items))

    return map_


class MurkoClient:
    """Send all views of a centring to Murko in one request; read the reply safely."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        min_size: int = DEFAULT_MIN_SIZE,
        orientation: str = "horizontal",
        server_tip: str = "left",
        jpeg_quality: int = DEFAULT_JPEG_QUALITY,
        zmq_module: Any = None,
        timeout_per_image_s: float = DEFAULT_TIMEOUT_PER_IMAGE_S,
        encoder_map: Callable[[Callable, Iterable], Iterable] | None = None,
        max_reply_mb_per_image: float = DEFAULT_MAX_REPLY_MB_PER_IMAGE,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"the Murko timeout must be positive, got {timeout_s}")
        if timeout_per_image_s < 0:
            raise ValueError(f"the Murko timeout per picture must not be negative, got {timeout_per_image_s}")
        if not max_reply_mb_per_image > 0:
            raise ValueError(f"the Murko reply cap must be positive, got {max_reply_mb_per_image} MB per picture")
        if not 1 <= int(jpeg_quality) <= 100:
            raise ValueError(f"JPEG quality must be 1-100, got {jpeg_quality}")
        if zmq_module is None:
            import zmq as zmq_module
        self.host = host
        self.port = check_port(port)
        self.timeout_s = float(timeout_s)
        self.timeout_per_image_s = float(timeout_per_image_s)
        self.min_size = int(min_size)
        self.orientation = Orientation(orientation, server_tip)
        self.jpeg_quality = int(jpeg_quality)
        self.zmq = zmq_module
        self.encoder_map = encoder_map or _thread_map()
        self.max_reply_mb_per_image = float(max_reply_mb_per_image)
        self._answered: set[tuple] = set()
        """(picture shape, batch size) the server has answered on this client: a first request at
        a new key may meet a cold server (Keras retraces), which the timeout message says."""
        self._socket_cap: int | None = None
        self.last_timings: dict[str, float] = {}
        """Seconds per phase of the last :meth:`predict`: encode, serialise, round_trip (send,
        the server's work, receive), unpickle, parse, total."""
        self.last_first_at_size = False
        """Whether the last :meth:`predict` was the first at its picture size and batch size."""
        self._socket: Any = None

    @property
    def address(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def request_timeout(self, n_images: int) -> float:
        """The deadline of one request of ``n_images`` pictures, seconds."""
        return self.timeout_s + self.timeout_per_image_s * max(0, int(n_images))

    def max_reply_bytes(self, n_images: int) -> int:
        """The largest reply accepted for ``n_images`` pictures (1 MB + the cap per picture)."""
        return int((1.0 + self.max_reply_mb_per_image * max(1, int(n_images))) * 1e6)

    def _connected(self, max_bytes: int | None = None) -> Any:
        if self._socket is not None and max_bytes is not None and self._socket_cap != max_bytes:
            self.close()  # MAXMSGSIZE applies to connections made after it is set
        if self._socket is None:
            zmq = self.zmq
            socket = zmq.Context.instance().socket(zmq.REQ)
            socket.setsockopt(zmq.LINGER, 0)
            if max_bytes is not None:
                socket.setsockopt(zmq.MAXMSGSIZE, int(max_bytes))
            socket.connect(self.address)
            self._socket, self._socket_cap = socket, max_bytes
        return self._socket

    def close(self) -> None:
        """Drop the socket (the next request opens a new one)."""
        socket, self._socket = self._socket, None
        if socket is not None:
            socket.close(linger=0)

    def request(self, payload: dict[str, Any], timeout_s: float | None = None) -> Any:
        """One round trip, unpickled safely (see :meth:`round_trip`)."""
        cap = self.max_reply_bytes(1)
        return self._loads(self.round_trip(pickle.dumps(payload), timeout_s, max_bytes=cap), cap)

    def round_trip(self, data: bytes, timeout_s: float | None = None, *, max_bytes: int | None = None,
                   cold_hint: bool = False) -> bytes:
        """Send ``data``, return the reply's bytes; sending and receiving share one deadline.

        Waiting is done with ``poll``: it yields to gevent under ``zmq.green`` and honours the
        deadline (green sockets do not apply SNDTIMEO/RCVTIMEO to their own waits). A socket
        that timed out is dropped: a REQ socket that sent without an answer is stuck for good.
        ``max_bytes`` is set as the socket's ZeroMQ ``MAXMSGSIZE``: a larger reply is dropped by
        libzmq (the peer is disconnected) and shows as a timeout that names the cap.
        """
        zmq = self.zmq
        timeout = self.timeout_s if timeout_s is None else float(timeout_s)
        deadline = time.monotonic() + timeout

        def remaining_ms() -> int:
            return max(0, int((deadline - time.monotonic()) * 1000))

        socket = self._connected(max_bytes)
        try:
            if not socket.poll(remaining_ms(), zmq.POLLOUT):
                raise zmq.Again()
            socket.send(data, zmq.NOBLOCK)
            if not socket.poll(remaining_ms(), zmq.POLLIN):
                raise zmq.Again()
            return socket.recv(zmq.NOBLOCK)
        except zmq.Again as exc:
            self.close()
            cold = (" It was the first request at this picture size and batch size: a cold server "
                    "(just started or restarted) needs ~5 s more on CPU; warm_up at start avoids it."
                    if cold_hint else "")
            cap = f", or its reply was over the {max_bytes / 1e6:.3g} MB cap" if max_bytes else ""
            raise MurkoTimeoutError(
                f"Murko at {self.host}:{self.port} did not answer within {timeout:g} s "
                f"(server down, overloaded, another port{cap}?).{cold}"
            ) from exc
        except zmq.ZMQError as exc:
            self.close()
            raise MurkoError(f"ZeroMQ error talking to Murko at {self.host}:{self.port}: {exc}") from exc

    def _loads(self, data: bytes, max_bytes: int | None = None) -> Any:
        try:
            return safe_loads(data, max_bytes)
        except MurkoProtocolError:
            self.close()
            raise

    # --- pictures --------------------------------------------------------------------------

    def encode(self, pictures: Sequence[np.ndarray | bytes], *, in_this_thread: bool = False,
               ) -> tuple[list[bytes], list[tuple[int, int]]]:
        """The JPEGs to send (server orientation) and each picture's camera (rows, columns).

        JPEG bytes go out unchanged when the server needs no turning; otherwise they are decoded,
        turned and encoded again. Arrays are turned and encoded through ``encoder_map``, or right
        here with ``in_this_thread`` (a caller that is itself a worker thread).
        """
        if not pictures:
            raise ValueError("no pictures to send to Murko")
        if any(isinstance(p, PreparedPicture) for p in pictures):
            if not all(isinstance(p, PreparedPicture) for p in pictures):
                raise ValueError("a Murko request takes prepared pictures or raw ones, not both")
            return self._prepared(pictures)
        shapes = [jpeg_shape(p) if isinstance(p, bytes | bytearray | memoryview) else np.asarray(p).shape[:2]
                  for p in pictures]
        if len(set(shapes)) > 1:
            raise ValueError(f"all pictures of one Murko request must have one size, got {sorted(set(shapes))}")
        for p in pictures:
            if not isinstance(p, bytes | bytearray | memoryview):
                array = np.asarray(p)
                if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
                    raise ValueError(f"Murko needs RGB uint8 pictures (H, W, 3), got {array.dtype} {array.shape}")
        identity = self.orientation.is_identity
        quality = self.jpeg_quality

        def one(picture: np.ndarray | bytes) -> bytes:
            if isinstance(picture, bytes | bytearray | memoryview):
                if identity:
                    return bytes(picture)
                picture = _decode_jpeg(bytes(picture))
            return encode_jpeg(self.orientation.to_server(picture), quality)

        if all(isinstance(p, bytes | bytearray | memoryview) for p in pictures) and identity:
            jpegs = [bytes(p) for p in pictures]
        else:
            jpegs = [one(p) for p in pictures] if in_this_thread else list(self.encoder_map(one, pictures))
        return jpegs, [(int(h), int(w)) for h, w in shapes]

    def prepare(self, picture: np.ndarray | bytes) -> PreparedPicture:
        """Encode one picture now, as :meth:`encode` would inside the request (thread-safe: a
        caller may run it in a thread pool while the goniometer moves; it encodes in the calling
        thread, not through ``encoder_map``)."""
        jpegs, shapes = self.encode([picture], in_this_thread=True)
        return PreparedPicture(jpeg=jpegs[0], camera_shape=shapes[0], orientation_key=self._encoding_key())

    def _encoding_key(self) -> tuple:
        return (self.orientation.ops, self.jpeg_quality)

    def _prepared(self, pictures: Sequence[PreparedPicture]) -> tuple[list[bytes], list[tuple[int, int]]]:
        key = self._encoding_key()
        if any(p.orientation_key != key for p in pictures):
            raise ValueError("pictures prepared by a client with another orientation or JPEG quality")
        shapes = {p.camera_shape for p in pictures}
        if len(shapes) > 1:
            raise ValueError(f"all pictures of one Murko request must have one size, got {sorted(shapes)}")
        return [p.jpeg for p in pictures], [p.camera_shape for p in pictures]

    def describe(self, images: Sequence[np.ndarray | bytes]) -> list[Description]:
        """Murko's descriptions of ``images``, in the server's picture frame."""
        jpegs, _shapes = self.encode(images)
        data = pickle.dumps(build_request(jpegs, self.min_size))
        cap = self.max_reply_bytes(len(jpegs))
        raw = self.round_trip(data, self.request_timeout(len(jpegs)), max_bytes=cap)
        return parse_reply(self._loads(raw, cap), len(jpegs))

    def predict(self, images: Sequence[np.ndarray | bytes], timeout_s: float | None = None) -> list[ViewResult]:
        """Murko's answers for ``images`` in camera pixels (what a centring needs).

        ``timeout_s`` replaces the request's deadline (a warm-up request gives a cold server longer).
        """
        t0 = time.perf_counter()
        jpegs, shapes = self.encode(images)
        t1 = time.perf_counter()
        data = pickle.dumps(build_request(jpegs, self.min_size))
        t2 = time.perf_counter()
        key = (shapes[0], len(jpegs))
        cap = self.max_reply_bytes(len(jpegs))
        deadline = self.request_timeout(len(jpegs)) if timeout_s is None else float(timeout_s)
        raw = self.round_trip(data, deadline, max_bytes=cap, cold_hint=key not in self._answered)
        t3 = time.perf_counter()
        first = key not in self._answered
        self._answered.add(key)
        reply = self._loads(raw, cap)
        t4 = time.perf_counter()
        descriptions = parse_reply(reply, len(jpegs))
        views = [self._view(d, shape) for d, shape in zip(descriptions, shapes)]
        t5 = time.perf_counter()
        self.last_timings = {
            "encode": t1 - t0, "serialise": t2 - t1, "round_trip": t3 - t2,
            "unpickle": t4 - t3, "parse": t5 - t4, "total": t5 - t0,
        }
        self.last_first_at_size = first
        return views

    def _view(self, description: Description, shape: tuple[int, int]) -> ViewResult:
        o = self.orientation
        server_grid = tuple(int(v) for v in description.mask.shape)
        camera_grid = o.shape_from_server(server_grid)

        def back(frac: tuple[float, float] | None) -> tuple[tuple[float, float], tuple[float, float]]:
            if frac is None:
                return (-1.0, -1.0), (-1.0, -1.0)
            position = o.point_from_server(position_from_fraction(frac, server_grid))
            return pixel_from_position(position, shape), fraction_from_position(position, camera_grid)

        click_px, click_frac = back(description.click)
        extreme_px, _ = back(description.extreme)
        return ViewResult(
            present=description.present,
            click_px=click_px,
            click_frac=click_frac,
            extreme_px=extreme_px,
            foreground_mask=o.mask_from_server(description.mask),
            image_shape=(int(shape[0]), int(shape[1])),
            raw=description.raw,
        )


def _decode_jpeg(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))
