"""Synthetic but honest detector frames.

Each frame carries its image number in two pixels (so tests can tell frames apart after any
re-mapping) and otherwise looks like a diffraction image: Poisson background, powder-like rings
and Bragg spots whose positions follow omega.
"""

from __future__ import annotations

import functools

import numpy as np

TAG_ROW = 0
TAG_COLS = (0, 1)  # low and high 16 bits of the image number


@functools.lru_cache(maxsize=8)
def _background(shape: tuple[int, int], center: tuple[float, float]) -> np.ndarray:
    ny, nx = shape
    y, x = np.ogrid[:ny, :nx]
    r = np.hypot(x - center[0], y - center[1]) / max(ny, nx)
    rings = sum(a * np.exp(-(((r - r0) / 0.004) ** 2)) for r0, a in ((0.18, 14.0), (0.27, 9.0), (0.36, 5.0)))
    water = 6.0 * np.exp(-(((r - 0.45) / 0.05) ** 2))
    return (1.5 + rings + water + 4.0 / (1.0 + 200 * r * r)).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _noise_bank(shape: tuple[int, int], center: tuple[float, float]) -> tuple[np.ndarray, ...]:
    """A few Poisson realisations of the background: drawing a fresh one per Eiger-sized frame
    would dominate the simulated acquisition time."""
    bg = _background(shape, center)
    rng = np.random.default_rng(12345)
    return tuple(rng.poisson(bg).astype(np.float32) for _ in range(5))


def synthetic_frame(
    image_number: int,
    omega_deg: float,
    shape: tuple[int, int],
    *,
    beam_center: tuple[float, float] | None = None,
    dtype: np.dtype | type = np.uint16,
    n_spots: int | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """A frame of ``shape`` (ny, nx) whose tag pixels hold ``image_number``.

    ``mask`` (nonzero = bad pixel, as in DECTRIS ``pixel_mask``) is painted with the maximum
    value, as the filewriter does with ``pixel_mask_applied``.
    """
    ny, nx = shape
    if beam_center is None:
        beam_center = (nx / 2.0, ny / 2.0)
    if image_number < 0 or image_number >= 2**32:
        raise ValueError(f"image number {image_number} does not fit the frame tag")
    bank = _noise_bank((ny, nx), (float(beam_center[0]), float(beam_center[1])))
    frame = bank[image_number % len(bank)].copy()
    if n_spots is None:
        n_spots = max(20, ny * nx // 6000)
    # spots: their positions depend on omega only, so the same angle shows the same lattice
    spot_rng = np.random.default_rng(int(round(omega_deg * 100)) & 0x7FFFFFFF)
    ys = spot_rng.uniform(4, max(ny - 4, 5), n_spots)
    xs = spot_rng.uniform(4, max(nx - 4, 5), n_spots)
    amps = spot_rng.uniform(50, 800, n_spots)
    for y0, x0, a in zip(ys, xs, amps):
        iy, ix = int(y0), int(x0)
        y_lo, y_hi = max(iy - 3, 0), min(iy + 4, ny)
        x_lo, x_hi = max(ix - 3, 0), min(ix + 4, nx)
        yy, xx = np.ogrid[y_lo:y_hi, x_lo:x_hi]
        frame[y_lo:y_hi, x_lo:x_hi] += a * np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2) / 1.5)
    info = np.iinfo(dtype)
    out = np.clip(frame, 0, info.max - 1).astype(dtype)
    if mask is not None:
        out[mask != 0] = info.max
    out[TAG_ROW, TAG_COLS[0]] = image_number & 0xFFFF
    out[TAG_ROW, TAG_COLS[1]] = (image_number >> 16) & 0xFFFF
    return out


def frame_tag(frame: np.ndarray) -> int:
    """The image number a synthetic frame was made for."""
    return int(frame[TAG_ROW, TAG_COLS[0]]) | (int(frame[TAG_ROW, TAG_COLS[1]]) << 16)
