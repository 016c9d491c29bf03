"""``mxcube-interleave murko-mock-server``: a Murko-protocol server for trying the centring without Murko."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

# The mock server (numpy, the segmentation) and the protocol module are imported only when this
# command runs or prints its own help: building the parser of every sub-command is what
# ``mxcube-interleave --help`` does, and it must stay fast.
DESCRIPTION = ("A stand-in for a Murko server: same port, request and reply schema, answers "
               "from thresholding the simulated camera's pictures. Point the MurkoCentring "
               "HardwareObject's host/port at it. Modes: ")


def _modes() -> dict[str, str]:
    from mxcubecore_interleave.simulation.murko_mock_server import MODES

    return MODES


def _default_port() -> int:
    from mxcubecore_interleave.murko.protocol import DEFAULT_PORT

    return DEFAULT_PORT


class _Modes:
    """The reply modes as argparse ``choices``, looked up when first needed."""

    def __contains__(self, item: object) -> bool:
        return item in _modes()

    def __iter__(self):
        return iter(sorted(_modes()))


class _Help(argparse.HelpFormatter):
    """Spells out the modes and the default port when this command's help is printed."""

    def add_text(self, text: str | None) -> None:
        if text is DESCRIPTION:
            text = DESCRIPTION + "; ".join(f"{name}: {t}" for name, t in _modes().items())
        super().add_text(text)

    def _expand_help(self, action: argparse.Action) -> str:
        if action.dest == "port":
            return f"TCP port (default: {_default_port()})"
        return super()._expand_help(action)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "murko-mock-server",
        help="serve Murko's protocol (ZeroMQ REQ/REP, pickle) with classical segmentation",
        description=DESCRIPTION,
        formatter_class=_Help,
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: loopback only; requests are pickles)")
    parser.add_argument("--port", type=int, default=None, help="TCP port (default: Murko's)")
    parser.add_argument("--mode", default="normal", choices=_Modes(), metavar="MODE",
                        help="reply behaviour")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each reply")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mxcubecore_interleave.simulation.murko_mock_server import MockMurkoServer

    if args.port is None:
        args.port = _default_port()
    if not 0 < args.port <= 65535:
        print(f"murko-mock-server: port {args.port} is not a TCP port (1-65535)", file=sys.stderr)
        return 2
    server = MockMurkoServer(args.host, args.port, delay_s=args.delay, mode=args.mode)
    try:
        server.start()
    except RuntimeError as exc:
        print(f"murko-mock-server: {exc}", file=sys.stderr)
        return 1
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("murko-mock-server: listening beyond loopback; keep it on a trusted network", file=sys.stderr)
    print(f"mock Murko server on tcp://{args.host}:{server.port} (mode {args.mode}); Ctrl-C stops it", flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.stop()
    print(f"mock Murko server stopped after {server.requests} request(s)", flush=True)
    return 0
