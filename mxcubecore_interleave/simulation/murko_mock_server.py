"""A Murko server for tests, the demo and trying things out: same socket, protocol and replies.

ZeroMQ REP on loopback; pickled request dicts in, pickled ``main``-schema replies out. It handles
``to_predict`` the way ``main``'s server.py does (JPEG arrays, single JPEG bytes, an RGB array;
a list of raw bytes gets ``{}``; a missing ``description`` gets the raw-output list; an
incomplete one gets ``{"original_image_shape": …}``). Failure modes reproduce what real servers
send, so clients can be tested against each of them. It runs in a thread so it keeps answering
while a gevent loop in the same process waits for it.

Requests are read with the restricted unpickler too: the mock never executes what it receives.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
import threading
from typing import Any

import numpy as np

from mxcubecore_interleave.murko.protocol import DEFAULT_MIN_SIZE, NOTIONS, PREDICTION_SHAPE, safe_loads
from mxcubecore_interleave.murko.segment import describe

MODES = {
    "normal": "segment the pictures and describe them",
    "nothing": "describe every picture as empty (int64 [-1, -1] click, tiny negative extremes)",
    "soleil_nothing": "nothing found, SOLEIL 2026 spelling (tuple (-1, -1) click, NaN extremes)",
    "empty": "reply {} (main's answer to undecodable pictures)",
    "shape_only": "reply {'original_image_shape': ...} (main after a failure past decoding)",
    "descriptions_none": "reply descriptions None (SOLEIL predictor.py after a failure)",
    "raw_list": "reply the raw model output list (as when no description is requested)",
    "short": "describe one picture fewer than were sent",
    "forbidden": "reply a pickle whose global would create a marker directory if it were run",
    "silent": "receive and never answer (a hung server)",
}


class _Forbidden:
    """Unpickled without restriction, this would create ``marker``: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.marker,))


def decode_pictures(to_predict: Any) -> list[np.ndarray]:
    """The request's pictures as RGB arrays, accepting what ``main``'s server accepts."""
    from PIL import Image

    def jpeg(data: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    if isinstance(to_predict, bytes):
        return [jpeg(to_predict)]
    if isinstance(to_predict, np.ndarray) and to_predict.ndim == 3:
        return [to_predict.astype(np.uint8)]
    if isinstance(to_predict, list) and to_predict:
        if not all(isinstance(item, np.ndarray) and item.ndim == 1 for item in to_predict):
            raise TypeError("to_predict list items must be 1-D uint8 arrays holding JPEGs")
        return [jpeg(np.asarray(item, np.uint8).tobytes()) for item in to_predict]
    raise TypeError(f"cannot read to_predict of type {type(to_predict).__name__}")


def answer(request: Any, mode: str = "normal", marker: str | None = None) -> Any:
    """The reply object for one request (what ``main``'s server would send, or a failure mode)."""
    if mode == "empty":
        return {}
    if mode == "forbidden":
        return _Forbidden(marker or os.path.join(tempfile.gettempdir(), "murko-mock-forbidden-ran"))
    try:
        images = decode_pictures(request["to_predict"])
    except Exception:  # main wraps everything in a bare except and replies what it has
        return {}
    shape = tuple(int(v) for v in images[0].shape)
    if mode == "shape_only":
        return {"original_image_shape": shape}
    if mode == "descriptions_none":
        return {"original_image_shape": shape, "descriptions": None}
    notions = request.get("description")
    if not notions or mode == "raw_list":
        n = len(images)
        return [np.zeros((n, *PREDICTION_SHAPE, 1), np.float32) for _ in range(6)]
    wanted = {",".join(x) if isinstance(x, list) else x for x in notions}
    if not {",".join(x) if isinstance(x, list) else x for x in NOTIONS} <= wanted:
        return {"original_image_shape": shape}  # main: KeyError in get_descriptions
    min_size = int(request.get("min_size", DEFAULT_MIN_SIZE))
    blank = mode in ("nothing", "soleil_nothing")
    descriptions = [describe(im, min_size=min_size, blank=blank) for im in images]
    if mode == "soleil_nothing":
        for d in descriptions:
            d["most_likely_click"] = (-1, -1)
            for key in ("extreme", "end_likely", "start_likely", "start_possible"):
                d[key] = np.array([np.nan, np.nan])
    if mode == "short":
        descriptions = descriptions[:-1]
    return {"original_image_shape": shape, "descriptions": descriptions}


class MockMurkoServer:
    """The mock on ``tcp://host:port`` (port 0: a free one, see ``.port``), in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, delay_s: float = 0.0, mode: str = "normal",
                 marker: str | None = None) -> None:
        mode = "empty" if mode == "garbage" else mode
        if mode not in MODES:
            raise ValueError(f"unknown mock Murko mode {mode!r}; use one of {', '.join(MODES)}")
        if not 0 <= int(port) <= 65535:
            raise ValueError(f"port {port} is not a TCP port")
        self.host, self._port, self.delay_s, self.mode, self.marker = host, int(port), float(delay_s), mode, marker
        self.requests = 0
        self.port = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> MockMurkoServer:
        # import here, in the caller's thread: scipy's first import may spawn a subprocess,
        # which gevent allows only from its own loop
        import scipy.ndimage  # noqa: F401
        import scipy.spatial  # noqa: F401
        import skimage.morphology  # noqa: F401
        from PIL import Image  # noqa: F401

        self._thread = threading.Thread(target=self._serve, name="mock-murko", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"the mock Murko server did not start on {self.host}:{self._port}: {self._error}")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> MockMurkoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (the command-line server)."""
        self._serve()

    def _serve(self) -> None:
        import zmq

        context = zmq.Context()
        socket = context.socket(zmq.REP)
        socket.setsockopt(zmq.LINGER, 0)
        try:
            if self._port:
                socket.bind(f"tcp://{self.host}:{self._port}")
                self.port = self._port
            else:
                self.port = socket.bind_to_random_port(f"tcp://{self.host}")
        except zmq.ZMQError as exc:
            self._error = exc
            self._ready.set()
            socket.close(linger=0)
            context.term()
            return
        self._ready.set()
        try:
            while not self._stop.is_set():
                if not socket.poll(100, zmq.POLLIN):
                    continue
                data = socket.recv()
                self.requests += 1
                if self.mode == "silent":
                    self._stop.wait()
                    break
                try:
                    reply = answer(safe_loads(data), self.mode, self.marker)
                except Exception:  # as the real server: a bare except, and always a reply
                    reply = {}
                if self.delay_s and self._stop.wait(self.delay_s):
                    break
                socket.send(pickle.dumps(reply))
        finally:
            socket.close(linger=0)
            context.term()
