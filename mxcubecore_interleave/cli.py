"""``mxcube-interleave``: one command, one sub-command per job.

Each sub-command lives in ``mxcubecore_interleave.commands.<name>`` and provides
``add_parser(subparsers)`` that registers itself and sets ``func(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

COMMANDS = (
    "demo",
    "plan",
    "schema",
    "repackage",
    "locate",
    "murko_mock_server",
    "murko_refit",
    "web",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mxcube-interleave",
        description="Interleaved data collection, sweep masters and Murko centring for MXCuBE.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        modname = f"{__package__}.commands.{name}"
        try:
            module = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name == modname:  # not written yet; anything else is a real error
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1, no traceback
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1


def one_line(exc: BaseException) -> str:
    """An unexpected failure as one line that names the file (when known) and what to do."""
    if isinstance(exc, OSError) and exc.errno is not None:
        where = f"{exc.filename}: " if exc.filename else ""
        hint = {28: "free space on that file system and run again",
                30: "the file system is read-only; choose a writable output directory",
                13: "check the permissions", 1: "check the permissions",
                2: "check the path"}.get(exc.errno, "check the file and run again")
        return f"{where}{exc.strerror or exc}; {hint}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, (OSError, RuntimeError)):  # h5py reports unreadable HDF5 so
        return f"{text} ({type(exc).__name__}); an input file is corrupt, truncated or not HDF5"
    return f"{type(exc).__name__}: {text}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
