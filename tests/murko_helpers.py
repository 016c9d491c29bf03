"""Fixtures shared by the Murko centring tests: the embedded mock server and a signal recorder."""

from __future__ import annotations

import socket

import pytest


class SignalRecorder:
    """Keeps strong references to its bound-method slots (PyDispatcher holds receivers weakly)."""

    def __init__(self, sender, names) -> None:
        self.sender = sender
        self.calls: list[tuple[str, tuple]] = []
        self._slots = {}
        for name in names:
            slot = self._make_slot(name)
            self._slots[name] = slot
            sender.connect(name, slot)

    def _make_slot(self, name):
        recorder = self

        class _Slot:
            def __call__(self, *args):
                recorder.calls.append((name, args))

        slot = _Slot()
        return slot.__call__

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def args(self, name: str) -> tuple:
        for recorded, args in self.calls:
            if recorded == name:
                return args
        raise AssertionError(f"signal {name} not emitted; got {self.names()}")

    def close(self) -> None:
        for name, slot in self._slots.items():
            self.sender.disconnect(name, slot)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def murko_server():
    """The embedded mock Murko server on a free loopback port."""
    from mxcubecore_interleave.murko_demo import mock_server_class

    MockMurkoServer = mock_server_class()

    server = MockMurkoServer("127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def murko(beamline, murko_server):
    """The beamline's MurkoCentring, pointed at the mock server, files under the test's tmp dir."""
    ho = beamline.get_object_by_role("murko")
    assert ho is not None, "configuration/beamline.yaml has no murko role"
    ho.set_server("127.0.0.1", murko_server.port)
    # omega turns at 100 deg/s in the mockup configuration; the tests do not measure motion
    beamline.diffractometer.omega.set_velocity(1000.0)
    return ho
