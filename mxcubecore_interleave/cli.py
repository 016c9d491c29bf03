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
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
