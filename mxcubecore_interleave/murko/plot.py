"""The picture of a centring: Murko's offsets against omega with the fit, and the hull's shadows.

A beamline scientist judges a centring at a glance from this PNG: points off the curve mean Murko
picked different features in different views; a hull that is not sample-shaped means too few
views or a wrong axis position.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mxcubecore_interleave.atomic import atomic_output
from mxcubecore_interleave.murko.fit import SinusoidFit


def plot_centring(
    path: str | Path,
    omega_deg: Any,
    shift_um: Any,
    fit: SinusoidFit,
    volume: np.ndarray | None,
    title: str = "",
    voxel_mm: float | None = None,
) -> Path:
    """Fit of the click offsets across the rotation axis against omega, and the hull's three projections."""
    from matplotlib.figure import Figure  # no pyplot: no global state, safe outside the main thread

    omega = np.asarray(omega_deg, dtype=float)
    fig = Figure(figsize=(14, 3.4))
    axes = fig.subplots(1, 4)
    grid = np.linspace(0, 360, 361)
    wr = np.radians(grid)
    axes[0].plot(grid, (fit.c + fit.A * np.cos(wr) + fit.B * np.sin(wr)) * 1000.0, label="fit")
    axes[0].plot(omega % 360, np.asarray(shift_um, dtype=float), "o", label="Murko clicks")
    axes[0].set(xlabel="omega (deg)", ylabel="offset across the axis from beam (um)", title=f"RMS {fit.rms * 1000:.2f} um")
    axes[0].legend(fontsize=8)
    unit = "um" if voxel_mm else "voxels"
    scale = voxel_mm * 1000.0 if voxel_mm else 1.0
    names = [("along the axis", "u"), ("along the axis", "v"), ("u", "v")]
    for ax, axis, (xl, yl) in zip(axes[1:], (2, 1, 0), names):
        if volume is not None and volume.any():
            projection = volume.any(axis=axis).T
            extent = (0, projection.shape[1] * scale, 0, projection.shape[0] * scale)
            ax.imshow(projection, origin="lower", cmap="gray_r", aspect="equal", extent=extent)
        ax.set(xlabel=f"{xl} ({unit})", ylabel=f"{yl} ({unit})", title="hull projection")
    fig.suptitle(title or "Murko centring")
    fig.tight_layout()
    path = Path(path)
    with atomic_output(path, overwrite=False) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    return path
