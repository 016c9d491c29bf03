"""``mxcube-interleave demo``: the end-to-end demo on the mockup beamline."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run the end-to-end demo on the mockup beamline")
    p.add_argument("--output", default="demo-output", help="directory for the demo's data (a new run directory each time)")
    p.add_argument("--config", default=None, help="beamline configuration path (default: the bundled mockup)")
    p.add_argument("--quick", action="store_true", help="small detector frames (as in the tests)")
    p.add_argument("--verbose", action="store_true", help="show mxcubecore's log and loading table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gevent import monkey

    monkey.patch_all(thread=False)  # before mxcubecore is imported
    from ..demo import run_demo

    run_demo(args.output, config=args.config, quick=args.quick, verbose=args.verbose)
    return 0
