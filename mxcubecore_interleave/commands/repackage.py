"""``mxcube-interleave repackage``: one sweep master per sweep for data already on disk.

From an acquisition record (``--record``), or from detector masters (directories or files) that
are grouped into sweeps by wavelength, kappa/phi and omega continuity (``--sweep`` overrides).
Exit status 0 on success, 1 on any refusal (nothing written), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "repackage",
        help="write one NXmx master per sweep pointing at the stored data (links or a virtual dataset)",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument("inputs", nargs="*", type=Path, help="directories with *_master.h5, or detector masters")
    p.add_argument("--record", type=Path, help="use this acquisition record (<prefix>_acquisition.json) instead of grouping")
    p.add_argument("--output", type=Path, help="directory for the sweep masters and the record (default: next to the data)")
    p.add_argument("--output-subdir", default="", help="with --record: sub-directory of the record's directory")
    p.add_argument("--prefix", help="file-name prefix of the sweep masters (default: common prefix of the series)")
    p.add_argument("--layout", choices=("auto", "L", "V"), default="auto",
                   help="auto: links when every wedge is whole data files, else a virtual dataset")
    p.add_argument("--pixel-mask", choices=("link", "copy"), default="link",
                   help="link: the sweep master reads the mask from its first wedge's detector master (keep those); "
                        "copy: a self-contained master holding the mask (default: link)")
    p.add_argument("--sweep", action="append", default=[], metavar="ID=MASTER[,MASTER…]",
                   help="put these series into sweep ID (repeatable); the rest is grouped automatically")
    p.add_argument("--wavelength-tolerance", type=float, default=1e-4, help="relative (default 1e-4)")
    p.add_argument("--angle-tolerance", type=float, default=0.01, help="kappa/phi, degrees (default 0.01)")
    p.add_argument("--dry-run", action="store_true", help="print the grouping, write nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _explicit(items: list[str]) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for item in items:
        sid, sep, masters = item.partition("=")
        if not sep or not sid or not masters:
            raise ValueError(f"--sweep {item!r}: expected ID=MASTER[,MASTER…]")
        out.setdefault(sid, []).extend(Path(m) for m in masters.split(","))
    return out


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..errors import InterleaveError
    from ..nexus import Tolerances, describe, repackage_record, repackage_series

    logging.basicConfig(level=logging.ERROR, format="%(levelname)s: %(message)s")
    bars: dict[str, tqdm] = {}

    def _bar(kind: str, unit: str, desc: str):
        def update(i: int, n: int, what: str) -> None:
            if args.no_progress:
                return
            if kind not in bars:
                bars[kind] = tqdm(total=n, unit=unit, desc=desc, file=sys.stderr, leave=True)
            bar = bars[kind]
            bar.n = i
            bar.set_postfix_str(what)
            bar.refresh()
            if i >= n:
                bar.close()
        return update

    progress = _bar("write", "sweep", "sweep masters")
    reading = _bar("read", "series", "reading series")

    try:
        if args.record:
            if args.inputs or args.sweep:
                print("error: --record takes no masters or --sweep (the record says which wedge is which)",
                      file=sys.stderr)
                return 2
            if args.dry_run:
                from ..nexus import collection_from_record

                _rec, coll = collection_from_record(args.record, "after")
                for s in coll.sweeps:
                    print(f"sweep {s.id}: {s.n_frames} frames in {len(s.wedges)} wedges, omega {s.omega_start:g}° "
                          f"step {s.omega_increment:g}°, λ {s.wavelength_A:.5f} Å")
                return 0
            result = repackage_record(args.record, "after", output_subdir=args.output_subdir, layout=args.layout,
                                      pixel_mask=args.pixel_mask, progress=progress)
        else:
            if not args.inputs:
                print("error: give directories or masters, or --record", file=sys.stderr)
                return 2
            try:
                explicit = _explicit(args.sweep)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            tol = Tolerances(wavelength_rel=args.wavelength_tolerance, angle_deg=args.angle_tolerance)
            groups, result = repackage_series(args.inputs, output=args.output, prefix=args.prefix, layout=args.layout,
                                              explicit=explicit, tolerances=tol, dry_run=args.dry_run,
                                              pixel_mask=args.pixel_mask, progress=progress, on_series=reading)
            print(describe(groups))
            if result is None:
                return 0
    except InterleaveError as exc:
        for b in bars.values():
            b.close()
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    for b in bars.values():
        b.close()
    for m in result.masters:
        print(f"{m.status}: {m.master} (sweep {m.sweep}, {m.n_frames} frames, layout {m.layout})")
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if result.record:
        print(f"acquisition record: {result.record}")
    return 0
