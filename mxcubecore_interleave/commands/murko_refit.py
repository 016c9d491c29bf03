"""``mxcube-interleave murko-refit FILE``: re-run the centring solver on a stored centring, offline.

FILE is a centring's ``<prefix>_murko.h5`` (the solver gets exactly the numbers the centring
had, and the stored corrections are checked bit for bit), or a list of Murko descriptions with
their angles (a pickle, optionally .gz/.bz2, read with the restricted unpickler; or JSON), for
which the camera geometry is given on the command line.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import sys
from pathlib import Path
from typing import Any

# numpy is imported where it is used: building every sub-command's parser is what
# ``mxcube-interleave --help`` does, and it must stay light.


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "murko-refit",
        help="re-fit a stored Murko centring (or Murko descriptions with angles) and print the corrections",
        description="Prints the four motor corrections, the fits and their residuals. For a stored "
                    "<prefix>_murko.h5 it also checks that they equal the stored ones (exit 1 if not). "
                    "--preset/--along/--pixel show what other conventions would have moved.",
    )
    parser.add_argument("file", type=Path, help="<prefix>_murko.h5, or descriptions (.pickle[.gz|.bz2] / .json)")
    parser.add_argument("--preset", help="conventions preset (default: the file's, else 'default')")
    parser.add_argument("--along", choices=("mean", "fit"), help="along-axis rule instead of the preset's")
    parser.add_argument("--pixel", choices=("centre", "corner"), help="pixel rule instead of the preset's")
    geometry = parser.add_argument_group("geometry, for a list of descriptions")
    geometry.add_argument("--image-shape", type=int, nargs=2, metavar=("ROWS", "COLS"))
    geometry.add_argument("--beam", type=float, nargs=2, metavar=("X", "Y"), help="beam mark, camera pixels")
    geometry.add_argument("--pixels-per-mm", type=float, nargs=2, metavar=("X", "Y"))
    geometry.add_argument("--axis", choices=("horizontal", "vertical"), default="horizontal")
    geometry.add_argument("--omega-zero-deg", type=float, default=0.0)
    geometry.add_argument("--angle-key", default="omega_deg", help="each description's angle key (default: %(default)s)")
    geometry.add_argument("--radians", action="store_true", help="the angles are in radians")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mxcubecore_interleave.errors import InterleaveError

    try:
        if args.file.suffix in (".h5", ".hdf5", ".nxs"):
            text, same = _refit_record(args)
        else:
            text, same = _refit_descriptions(args), True
    except (OSError, ValueError, KeyError, TypeError, InterleaveError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"murko-refit: {args.file}: {message}", file=sys.stderr)
        return 1
    print(text)
    return 0 if same else 1


def _conventions(args: argparse.Namespace, stored: dict[str, Any] | None):
    from mxcubecore_interleave.murko.solver import Conventions, preset

    if args.preset:
        base = preset(args.preset)
    elif stored:
        signs = {k: int(v) for k, v in stored["signs"].items()}
        base = Conventions(signs=signs, along=str(stored["along"]), pixel=str(stored["pixel"]), name=str(stored["name"]))
    else:
        base = preset("default")
    return Conventions(signs=base.signs, along=args.along or base.along, pixel=args.pixel or base.pixel, name=base.name)


def _refit_record(args: argparse.Namespace) -> tuple[str, bool]:
    import numpy as np

    from mxcubecore_interleave.murko.solver import Geometry, solve
    from mxcubecore_interleave.murko.storage import read_centring_h5

    record = read_centring_h5(args.file)
    for key in ("omega_deg", "most_likely_click_frac", "present", "original_shape", "prediction_shape"):
        if key not in record:
            raise KeyError(f"not a centring record with clicks: no murko/{key}")
    ppmm = record["pixels_per_mm"] if "pixels_per_mm" in record else 1.0 / np.asarray(record["calibration_mm_per_px"])
    geometry = Geometry(
        image_shape=tuple(int(v) for v in record["original_shape"]),
        grid_shape=tuple(int(v) for v in record["prediction_shape"]),
        beam_px=tuple(float(v) for v in record["beam_position_px"]),
        pixels_per_mm=tuple(float(v) for v in ppmm),
        axis=str(record["axis_orientation"]),
        omega_zero_deg=float(record.get("omega_zero_deg", 0.0)),
    )
    frac = np.asarray(record["most_likely_click_frac"], dtype=float).copy()
    frac[np.asarray(record["present"]) == 0] = np.nan
    conventions = _conventions(args, record.get("conventions"))
    solution = solve(record["omega_deg"], frac, geometry, conventions)
    lines = [_header(args.file, conventions, geometry, solution), *_report(solution)]
    lines.append(f"  outcome: {record.get('outcome', 'not recorded')}")
    stored = record.get("correction") or record.get("correction_refused")
    same = True
    if stored is not None and not (args.preset or args.along or args.pixel):
        same = all(float(stored[m]) == solution.correction[m] for m in solution.correction)
        worst = max(abs(float(stored[m]) - solution.correction[m]) for m in solution.correction)
        lines.append("  the stored correction is reproduced exactly" if same
                     else f"  DIFFERS from the stored correction by up to {worst * 1000:.6g} um")
    return "\n".join(lines), same


def _read_descriptions(path: Path) -> Any:
    from mxcubecore_interleave.murko.protocol import safe_loads

    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    elif path.suffix == ".bz2":
        data = bz2.decompress(data)
    if path.suffix == ".json" or path.name.endswith((".json.gz", ".json.bz2")):
        return json.loads(data)
    return safe_loads(data)


def _refit_descriptions(args: argparse.Namespace) -> str:
    import numpy as np

    from mxcubecore_interleave.murko.protocol import PREDICTION_SHAPE, parse_description
    from mxcubecore_interleave.murko.solver import Geometry, solve

    missing = [name for name in ("image_shape", "beam", "pixels_per_mm") if getattr(args, name) is None]
    if missing:
        raise ValueError("a list of descriptions needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
    entries = _read_descriptions(args.file)
    if isinstance(entries, dict) and "descriptions" in entries:
        entries = entries["descriptions"]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError("expected a list of Murko descriptions (dicts)")
    omega, frac, grids = [], [], set()
    for k, entry in enumerate(entries):
        if args.angle_key not in entry:
            raise KeyError(f"description {k} has no {args.angle_key!r} (the angle; see --angle-key)")
        angle = float(entry[args.angle_key])
        omega.append(np.degrees(angle) if args.radians else angle)
        description = parse_description(entry, k)
        grids.add(tuple(int(v) for v in entry.get("prediction_shape", PREDICTION_SHAPE)))
        frac.append(description.click if description.present else (np.nan, np.nan))
    if len(grids) != 1:
        raise ValueError(f"the descriptions have different prediction grids: {sorted(grids)}")
    geometry = Geometry(
        image_shape=tuple(args.image_shape), grid_shape=grids.pop(), beam_px=tuple(args.beam),
        pixels_per_mm=tuple(args.pixels_per_mm), axis=args.axis, omega_zero_deg=args.omega_zero_deg,
    )
    conventions = _conventions(args, None)
    solution = solve(omega, frac, geometry, conventions)
    return "\n".join([_header(args.file, conventions, geometry, solution), *_report(solution)])


def _header(path: Path, conventions: Any, geometry: Any, solution: Any) -> str:
    return (f"{path}: conventions {conventions.name} (along {conventions.along}, pixels {conventions.pixel}), "
            f"{geometry.axis} axis, {int(solution.found.sum())} of {len(solution.found)} views with the sample")


def _report(solution: Any) -> list[str]:
    import numpy as np

    lines = [f"  {motor:<6} {solution.correction[motor]:+.9f} mm" for motor in ("phiy", "phiz", "sampx", "sampy")]
    f, a = solution.across, solution.along_fit
    lines.append(f"  across the axis: c {f.c:+.9f} mm, A {f.A:+.9f}, B {f.B:+.9f}, r {f.r:.9f} mm, "
                 f"alpha {f.alpha:+.6f} rad, RMS {f.rms * 1000:.3f} um")
    lines.append(f"  along the axis: fit c {a.c:+.9f} mm (RMS {a.rms * 1000:.3f} um), "
                 f"mean {float(np.nanmean(solution.shift_mm[:, 1])):+.9f} mm, used {solution.along_mm:+.9f} mm")
    return lines
