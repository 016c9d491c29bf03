"""``mxcube-interleave locate``: where is image N, and which image is this frame or angle?

From a sweep master or an acquisition record: ``--global N`` gives the sweep, frame, omega, data
file and index in it, and time; ``--sweep ID --frame K`` or ``--sweep ID --omega W`` gives the
global acquisition index (and the same details).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("locate", help="map a global image number to sweep/frame/omega/file, and back",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("source", type=Path, help="a sweep master (*_master.h5) or an acquisition record (*.json)")
    p.add_argument("--global", dest="global_index", type=int, help="1-based image number in acquisition order")
    p.add_argument("--sweep", help="sweep id (default: the sweep of the given sweep master)")
    p.add_argument("--frame", type=int, help="1-based frame number within the sweep")
    p.add_argument("--omega", type=float, help="an omega angle (degrees) within the sweep")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InterleaveError
    from ..nexus.locate import Lookup

    try:
        lk = Lookup.load(args.source)
        if args.global_index is not None:
            if args.frame is not None or args.omega is not None:
                print("error: give --global, or --frame/--omega, not both", file=sys.stderr)
                return 2
            loc = lk.by_global(args.global_index)
        else:
            if (args.frame is None) == (args.omega is None):
                print("error: give --global N, or --frame K or --omega W (with --sweep)", file=sys.stderr)
                return 2
            sweep = args.sweep or _sweep_of(args.source)
            if sweep is None:
                print("error: --sweep is needed with an acquisition record", file=sys.stderr)
                return 2
            loc = lk.by_frame(sweep, args.frame) if args.frame is not None else lk.by_omega(sweep, args.omega)
    except InterleaveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(loc.as_dict()))
    else:
        dset = f":{loc.dataset}" if loc.dataset and loc.dataset != "/entry/data/data" else ""
        where = f"{loc.data_file}{dset}[{loc.index_in_file}]" if loc.data_file else "(data file not known)"
        print(f"global image {loc.global_index} = sweep {loc.sweep} frame {loc.frame}, omega {loc.omega:g}°–"
              f"{loc.omega_end:g}°, wedge {loc.wedge}, {where}, time {loc.time or '?'}"
              f"{'' if loc.collected else ' (not collected)'}")
    return 0


def _sweep_of(source: Path) -> str | None:
    if source.suffix == ".json":
        return None
    import h5py

    from ..h5ascii import read_str

    with h5py.File(source, "r") as f:
        ds = f.get("/entry/acquisition_order/sweep_id")
        return read_str(ds[()]) if ds is not None else None
