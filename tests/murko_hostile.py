"""Hostile and nonsense Murko replies, and a REP server that sends them (tests only).

The payloads are the cases found against the real client: an object array built from allowed
globals alone (``numpy.ndarray(shape, dtype("O"), buffer)``), the same in an error reply's
``original_image_shape``, object/void/structured dtypes by other paths, a dtype whose state sets
the has-object flag, deep nesting, exponential memo sharing, and nonsense that is well-formed:
clicks outside the picture, 1x1, 0x0, string and whole-picture masks.
"""

from __future__ import annotations

import pickle
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np


class _ObjectArray:
    """Pickles as ``numpy.ndarray((2,), dtype("O"), <attacker bytes>)``: only allowed globals."""

    def __reduce__(self):
        return (np.ndarray, ((2,), np.dtype("O"), b"\x41" * 16))


def object_array_reply(where: str = "click") -> bytes:
    """The crash of the issue: in a click, or in an error reply's shape (which was repr-ed)."""
    if where == "shape":
        return pickle.dumps({"original_image_shape": _ObjectArray()})
    return pickle.dumps({"original_image_shape": (480, 640, 3),
                         "descriptions": [{"present": 1, "most_likely_click": _ObjectArray()}]})


def flagged_dtype_reply() -> bytes:
    """A float64 dtype whose pickled state sets flags (numpy's has-object bit among them)."""
    data = pickle.dumps(np.zeros(2), protocol=4)
    plain = b"K\x00t"  # the dtype state's last item: BININT1 0, then TUPLE
    assert data.count(plain) == 1
    return data.replace(plain, b"K?t")  # flags 63


def structured_object_reply() -> bytes:
    return pickle.dumps({"descriptions": [np.zeros(2, dtype=[("a", "f4"), ("b", "O")])]})


def deep_reply(depth: int = 10_000) -> bytes:
    return b"\x80\x04" + b"]" * depth + b"a" * (depth - 1) + b"."


def shared_reply(levels: int = 25) -> bytes:
    """2**25 leaves from a few hundred bytes: each level a list holding the level below twice."""
    value: Any = [0]
    for _ in range(levels):
        value = [value, value]
    return pickle.dumps({"descriptions": value})


def description_answer() -> Callable[[Any], Any]:
    """The mock server's own reply function, wherever the simulators live."""
    from mxcubecore_interleave.murko_demo import mock_server_class

    return sys.modules[mock_server_class().__module__].answer


def edit_descriptions(edit: Callable[[dict], None]) -> Callable[[Any], Any]:
    """A reply transform: the mock's real answer with each description changed by ``edit``."""
    answer = description_answer()

    def transform(request: Any) -> Any:
        reply = answer(request)
        for description in reply["descriptions"]:
            edit(description)
        return reply

    return transform


def clicks_outside(description: dict) -> None:
    description["most_likely_click"] = np.array([57.0, 91.0])


def tiny_mask(size: int) -> Callable[[dict], None]:
    def edit(description: dict) -> None:
        description["foreground"]["notion_mask"] = np.ones((size, size), np.uint8)
        description["prediction_shape"] = np.array([size, size])

    return edit


def string_mask(description: dict) -> None:
    description["foreground"]["notion_mask"] = "11110000"


def whole_picture_mask(description: dict) -> None:
    """What untrained weights answer: everything is foreground, the click in the middle."""
    mask = description["foreground"]["notion_mask"]
    description["foreground"]["notion_mask"] = np.ones_like(mask)
    description["most_likely_click"] = np.array([0.5, 0.5])


class HostileServer:
    """ZeroMQ REP on loopback answering each request with ``reply(request)``: bytes are sent as
    they are, anything else pickled."""

    def __init__(self, reply: Callable[[Any], Any]) -> None:
        self.reply = reply
        self.requests = 0
        self.port = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hostile-murko", daemon=True)

    def __enter__(self) -> HostileServer:
        # import in the caller's thread, as the mock server does: scipy's first import may spawn
        # a subprocess, which gevent allows only from its own loop
        import scipy.ndimage  # noqa: F401
        import scipy.spatial  # noqa: F401
        import skimage.morphology  # noqa: F401
        from PIL import Image  # noqa: F401

        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _serve(self) -> None:
        import zmq

        from mxcubecore_interleave.murko.protocol import safe_loads

        context = zmq.Context()
        socket = context.socket(zmq.REP)
        socket.setsockopt(zmq.LINGER, 0)
        self.port = socket.bind_to_random_port("tcp://127.0.0.1")
        self._ready.set()
        try:
            while not self._stop.is_set():
                if not socket.poll(100, zmq.POLLIN):
                    continue
                request = safe_loads(socket.recv())
                self.requests += 1
                reply = self.reply(request)
                socket.send(reply if isinstance(reply, bytes) else pickle.dumps(reply))
        finally:
            socket.close(linger=0)
            context.term()
