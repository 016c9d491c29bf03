"""Visual hull from 8 views on Murko's 256×320 prediction grid. Goal ≤ 2 s on 2 cores.

Two cases: (a) the simulated pin, loop and crystal as the mock Murko server segments them at 8
omegas, voxels the size of a mask pixel (what a centring stores); (b) a worst case, silhouettes
spanning every column and half of the rows, so the grid is about 320 × 131 × 131 voxels. Carving
(strict and SOLEIL-like soft hull, threshold 0.75) and meshing (marching cubes) are timed apart.

    .venv/bin/python benchmarks/bench_hull.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

GOAL_S = 2.0


def _timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from mxcubecore_interleave.murko.hull import visual_hull
    from mxcubecore_interleave.simulation.murko_scene import CameraView, SampleScene, render
    from mxcubecore_interleave.murko.segment import describe

    omega = np.arange(8) * 45.0
    view = CameraView(width=1360, height=1024, beam_x=680, beam_y=512,
                      pixels_per_mm_x=1 / 0.00045, pixels_per_mm_y=1 / 0.00045)
    scene = SampleScene()
    start = scene.crystal_centred_position()
    masks = np.stack([describe(render(scene, dict(start, omega=float(om)), view))["foreground"]["notion_mask"]
                      for om in omega]).astype(bool)
    pixel = (0.00045 * 1024 / 256, 0.00045 * 1360 / 320)
    cases = {"simulated sample": (masks, pixel, (512 + 0.5) / 4 - 0.5)}
    worst = np.zeros((8, 256, 320), bool)
    worst[:, 64:192, :] = True
    cases["worst case (full width)"] = (worst, (0.004, 0.004), 127.5)

    for name, (m, px, axis_row) in cases.items():
        voxel = min(px)
        carve, hull = _timed(lambda: visual_hull(m, omega, pixel_mm=px, axis_row_px=axis_row, voxel_mm=voxel, mesh=False), args.repeats)
        soft, _ = _timed(lambda: visual_hull(m, omega, pixel_mm=px, axis_row_px=axis_row, voxel_mm=voxel, threshold=0.75, mesh=False), args.repeats)
        whole, full = _timed(lambda: visual_hull(m, omega, pixel_mm=px, axis_row_px=axis_row, voxel_mm=voxel), args.repeats)
        ok = whole <= GOAL_S and soft <= GOAL_S
        print(f"{name}: grid {hull.volume.shape}, {int(hull.volume.sum())} voxels kept, "
              f"{len(full.faces)} mesh faces")
        print(f"  carve strict {carve:6.3f} s   carve soft (0.75) {soft:6.3f} s   "
              f"carve + mesh {whole:6.3f} s   goal <= {GOAL_S} s: {'met' if ok else 'MISSED'}")
    return 0  # a benchmark measures; a missed goal is reported above, not an error


if __name__ == "__main__":
    sys.exit(main())
