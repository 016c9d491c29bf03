"""What a Murko centring leaves on disk: the HDF5 record (centred or refused), PLY mesh and points, PNG.

The record holds everything ``mxcube-interleave murko-refit`` needs to re-run the solver on the
same numbers (angles, click fractions, picture and grid sizes, beam, pixels-per-mm, axis,
conventions) and the corrections that were applied, so a scientist can check a centring
offline. Meshes are written in motor coordinates, wound outwards (murko.frames).

Pure: no mxcubecore, no gevent (the HardwareObject runs these in gevent's thread pool).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mxcubecore_interleave.murko import storage
from mxcubecore_interleave.murko.frames import MotorFrame
from mxcubecore_interleave.murko.hull import visual_hull
from mxcubecore_interleave.murko.plot import plot_centring
from mxcubecore_interleave.murko.protocol import encode_jpeg
from mxcubecore_interleave.murko.solver import conventions_from


def _jpegs(images: list[Any], quality: int) -> list[bytes]:
    """The pictures as JPEG (the camera's own when it had one)."""
    return [bytes(im) if isinstance(im, bytes | bytearray) else encode_jpeg(np.asarray(im), quality) for im in images]


def _conventions_record(settings: Any, solution: Any = None) -> dict[str, Any]:
    conventions = solution.conventions if solution is not None else conventions_from(settings)
    return {"name": conventions.name, "along": conventions.along, "pixel": conventions.pixel,
            "signs": dict(conventions.signs)}


def _views_record(views: list[Any], present: list[bool], click_frac: Any, omega_deg: Any) -> dict[str, Any]:
    """Per view: found or not, the click (NaN where not found), and the masks of the found views
    with their angles (``omega_deg`` here is already minus omega_zero_deg, as the hull's)."""
    record = {
        "present": np.asarray(present, dtype=np.uint8),
        "most_likely_click_frac": np.asarray(click_frac, dtype=float),
        "extreme_px": np.array([v.extreme_px for v in views], dtype=float),
    }
    found = [i for i, p in enumerate(present) if p]
    if found:
        record["masks"] = np.stack([np.asarray(views[i].foreground_mask, dtype=np.uint8) for i in found])
        record["mask_omega_deg"] = np.asarray(omega_deg, dtype=float)[found]
    return record


def _geometry_record(geometry: Any) -> dict[str, Any]:
    ppmm = geometry.pixels_per_mm
    return {
        "original_shape": np.asarray(geometry.image_shape),
        "prediction_shape": np.asarray(geometry.grid_shape),
        "beam_position_px": np.asarray(geometry.beam_px, dtype=float),
        "pixels_per_mm": np.asarray(ppmm, dtype=float),
        "calibration_mm_per_px": np.array([1.0 / ppmm[0], 1.0 / ppmm[1]]),
        "axis_orientation": geometry.axis,
        "omega_zero_deg": float(geometry.omega_zero_deg),
    }


def write_refusal_file(path: Path, error: Exception, evidence: dict[str, Any], settings: Any, server: str) -> None:
    """What a refused centring saw, with the refusal as ``outcome`` (pure: no hardware, no gevent)."""
    data: dict[str, Any] = {
        "outcome": f"refused: {error}",
        "outcome_check": str(getattr(error, "check", "") or "error"),
        "omega_deg": np.asarray(evidence["omega_deg"], dtype=float),
        "images_jpeg": _jpegs(evidence["images"], settings.jpeg_quality),
        "reference_position": {k: float(v) for k, v in evidence["start_position"].items()},
        "camera_orientation": str(settings.orientation),
        "server_tip": str(settings.server_tip),
        "murko_server": server,
        "conventions": _conventions_record(settings, evidence.get("solution")),
    }
    views = evidence.get("views")
    if views is not None and "click_frac" in evidence:
        zero = evidence["geometry"].omega_zero_deg if "geometry" in evidence else float(settings.omega_zero_deg)
        data.update(_views_record(views, evidence["present"], evidence["click_frac"],
                                  np.asarray(evidence["omega_deg"], dtype=float) - zero))
    if "geometry" in evidence:
        data.update(_geometry_record(evidence["geometry"]))
    solution = evidence.get("solution")
    if solution is not None:
        data["correction_refused"] = {k: float(v) for k, v in solution.correction.items()}
        data["fit"] = _fit_record(solution)
    storage.write_centring_h5(path, data)


def _fit_record(solution: Any) -> dict[str, Any]:
    f, a = solution.across, solution.along_fit
    return {"c": f.c, "A": f.A, "B": f.B, "r": f.r, "alpha": f.alpha, "rms": f.rms,
            "along": {"c": a.c, "A": a.A, "B": a.B, "rms": a.rms, "mean": float(np.nanmean(solution.shift_mm[:, 1])),
                      "used": float(solution.along_mm)}}


def write_centring_files(result: Any, paths: dict[str, Path], settings: Any, server: str, prefix: str) -> None:
    """Carve the hull and write the HDF5, the PLYs and the PNG (pure: no hardware, no gevent)."""
    cround = result.rounds[-1]
    solution, geometry = cround.solution, cround.geometry
    frame = MotorFrame.for_views(
        masks=[v.foreground_mask for v in cround.views], present=cround.present, omega_deg=cround.omega_deg,
        geometry=geometry, across_c_mm=float(solution.across.c), start=cround.start_position,
        signs=solution.conventions.signs, pixel=solution.conventions.pixel,
    )
    hull = visual_hull(
        frame.masks, frame.omega_deg, pixel_mm=frame.mask_pixel_mm,
        axis_row_px=frame.axis_row_mask_px, voxel_mm=settings.hull_voxel_mm,
    )
    result.hull = hull
    result.frame = frame
    vertices, faces = frame.mesh_to_motor(hull.vertices_mm, hull.faces)
    points = frame.to_motor(hull.points_mm)
    along = "columns from the image's left edge" if frame.axis == "horizontal" else "rows from the image's top edge"
    across = "row" if frame.axis == "horizontal" else "column"
    frac = np.array([v.click_frac if p else (np.nan, np.nan) for v, p in zip(cround.views, cround.present)], dtype=float)
    data = {
        "outcome": "centred",
        "outcome_check": "",
        "omega_deg": np.asarray(cround.omega_deg, dtype=float),
        # the inputs: the camera pictures of the last round as JPEG (the camera's own when it had one)
        "images_jpeg": _jpegs(cround.images, settings.jpeg_quality),
        **_views_record(cround.views, cround.present, frac, frame.omega_deg_all),
        "most_likely_click_px": np.asarray(solution.click_px, dtype=float),
        "shift_mm": np.asarray(cround.shift_mm, dtype=float),
        "shift_mm_axes": "across the rotation axis, along it",
        **_geometry_record(geometry),
        "camera_orientation": str(settings.orientation),
        "server_tip": str(settings.server_tip),
        "murko_server": server,
        "reference_position": {k: float(v) for k, v in cround.start_position.items()},
        "result_position": {k: float(v) for k, v in result.centred_position.items()},
        "signs": dict(solution.conventions.signs),
        "conventions": _conventions_record(settings, solution),
        "correction": {k: float(v) for k, v in cround.correction.items()},
        "fit": _fit_record(solution),
        "hull": {
            "volume": hull.volume.astype(np.uint8),
            "voxel_size_mm": float(hull.voxel_size_mm),
            "origin_mm": np.asarray(hull.origin_mm, dtype=float),
            "frame": (
                f"volume axes (x, u, v), mm: x along the rotation axis, i.e. the image {along}; "
                f"a voxel projects to image {across} (axis {across}) + u cos(w) + v sin(w), w = "
                "omega - omega_zero_deg. points_mm and mesh/vertices_mm are motor coordinates "
                "(phiy, sampx, sampy): the positions that centre each point, phiz = "
                "result_position/phiz; mesh/faces are wound outwards in that frame."
            ),
            "points_mm": points.astype(np.float32),
        },
        "mesh": {"vertices_mm": vertices.astype(np.float32), "faces": faces},
    }
    storage.write_centring_h5(paths["h5"], data)
    storage.write_ply(paths["ply"], vertices, faces)
    storage.write_point_cloud_ply(paths["points"], points)
    found = np.asarray(cround.present, dtype=bool)
    fit = solution.across
    plot_centring(
        paths["png"], frame.omega_deg_all[found], np.asarray(cround.shift_mm)[found, 0] * 1000.0, fit, hull.volume,
        title=f"Murko centring {prefix}: RMS {fit.rms * 1000:.2f} um, {len(faces)} mesh faces",
        voxel_mm=float(hull.voxel_size_mm),
    )


def free_names(directory: Path, prefix: str, reserved: set[Path] = frozenset()) -> dict[str, Path]:
    """``<prefix>[_n]_murko.h5 / _murko_mesh.ply / _murko.png`` that do not exist (nor are being written)."""
    for n in range(1, 1000):
        stem = prefix if n == 1 else f"{prefix}_{n}"
        paths = {
            "h5": directory / f"{stem}_murko.h5",
            "ply": directory / f"{stem}_murko_mesh.ply",
            "png": directory / f"{stem}_murko.png",
            "points": directory / f"{stem}_murko_points.ply",
        }
        if not any(p.exists() or p in reserved for p in paths.values()):
            return paths
    raise FileExistsError(f"{directory} already holds 999 Murko centrings named {prefix}; use another prefix")
