"""Stand-in for the Murko core (``mxcubecore_interleave.murko``) while that package is incomplete.

Used by the centring HardwareObject, the demo and the tests only when the core modules
(``murko.client``, ``murko.fit``, ``murko.hull``, ``murko.storage``, ``murko.plot``,
``murko.mock_server``) cannot be imported; it follows the same API. It is small on purpose:
the protocol (murko.md §1: ZeroMQ REQ/REP, pickle with a restricted unpickler, JPEG arrays, the
reply schema), the linear fit (§2.3), a strict visual hull (§3.2), HDF5 + binary PLY (§3.3), a
PNG, and a mock server that segments the simulated camera's dark-on-light pictures.

Pure: no mxcubecore, no gevent (the caller injects ``zmq.green`` into the client).
"""

from __future__ import annotations

import io
import math
import pickle
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mxcubecore_interleave.errors import MurkoProtocolError, MurkoTimeoutError, UnsafeReplyError

NOTIONS = ["foreground", "crystal", "loop_inside", "loop", ["crystal", "loop"], ["crystal", "loop", "stem"]]
PREDICTION_SHAPE = (256, 320)

# --- client --------------------------------------------------------------------------------


class _RestrictedUnpickler(pickle.Unpickler):
    """Loads only the numpy types real Murko replies contain (murko.md §1.4)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise UnsafeReplyError(f"Murko reply refers to {module}.{name}, which is not allowed")
        if "multiarray" in module:
            return getattr(_multiarray(), name)
        return getattr(np, name)


def _multiarray() -> Any:
    """numpy's multiarray module under its numpy 2 name, or its numpy 1 one."""
    import importlib

    try:
        return importlib.import_module("numpy._core.multiarray")
    except ImportError:
        return importlib.import_module("numpy.core.multiarray")


def safe_loads(data: bytes) -> Any:
    return _RestrictedUnpickler(io.BytesIO(data)).load()


@dataclass
class ViewResult:
    """What Murko says about one picture, in the picture's own pixels (row, col)."""

    present: bool
    click_px: tuple[float, float]
    click_frac: tuple[float, float]
    extreme_px: tuple[float, float]
    foreground_mask: np.ndarray
    raw: dict = field(repr=False, default_factory=dict)


def encode_jpeg(image: np.ndarray, quality: int = 95) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class MurkoClient:
    """One Murko request per call, with a timeout; a new REQ socket each time (never stuck)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8901,
        timeout_s: float = 10.0,
        min_size: int = 64,
        orientation: str = "horizontal",
        zmq_module: Any = None,
    ) -> None:
        if not 0 < int(port) <= 65535:
            raise ValueError(f"Murko port {port} is not a TCP port (1-65535)")
        if orientation not in ("horizontal", "horizontal_flipped"):
            raise ValueError(f"orientation must be 'horizontal' or 'horizontal_flipped', got {orientation!r}")
        if zmq_module is None:
            import zmq as zmq_module
        self.host, self.port, self.timeout_s = host, int(port), float(timeout_s)
        self.min_size, self.orientation, self.zmq = int(min_size), orientation, zmq_module

    @property
    def address(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def request(self, payload: dict) -> Any:
        zmq = self.zmq
        context = zmq.Context.instance()
        socket = context.socket(zmq.REQ)
        socket.setsockopt(zmq.LINGER, 0)
        try:
            socket.connect(self.address)
            socket.send(pickle.dumps(payload))
            if not socket.poll(int(self.timeout_s * 1000), zmq.POLLIN):
                raise MurkoTimeoutError(
                    f"Murko at {self.host}:{self.port} did not answer within {self.timeout_s:g} s "
                    "(server down, overloaded, or another port?)"
                )
            return safe_loads(socket.recv())
        finally:
            socket.close(linger=0)

    def predict(self, images: list[np.ndarray]) -> list[ViewResult]:
        flip = self.orientation == "horizontal_flipped"
        sent = [np.ascontiguousarray(im[:, ::-1]) if flip else im for im in images]
        payload = {
            "to_predict": [np.frombuffer(encode_jpeg(im), np.uint8) for im in sent],
            "description": NOTIONS,
            "min_size": self.min_size,
            "save": False,
            "raw_predictions": False,
        }
        reply = self.request(payload)
        if not isinstance(reply, dict) or not isinstance(reply.get("descriptions"), list):
            raise MurkoProtocolError(f"Murko reply is not a dict with 'descriptions' (got {type(reply).__name__})")
        descriptions = reply["descriptions"]
        if len(descriptions) != len(images):
            raise MurkoProtocolError(f"Murko described {len(descriptions)} pictures, {len(images)} were sent")
        return [self._view(d, im.shape[:2], flip) for d, im in zip(descriptions, images)]

    @staticmethod
    def _view(description: dict, shape: tuple[int, int], flip: bool) -> ViewResult:
        h, w = shape
        try:
            present = bool(int(description["present"]))
            click = np.asarray(description["most_likely_click"], dtype=float).reshape(2)
            extreme = np.asarray(description.get("extreme", (-1, -1)), dtype=float).reshape(2)
            mask = np.asarray(description["foreground"]["notion_mask"], dtype=bool)
        except (KeyError, TypeError, ValueError) as exc:
            raise MurkoProtocolError(f"Murko description lacks a usable field: {exc}") from exc
        present = present and bool(np.all(np.isfinite(click)) and np.all(click >= 0))
        if flip:
            click[1] = 1.0 - click[1] if present else click[1]
            extreme[1] = 1.0 - extreme[1] if extreme[1] >= 0 else extreme[1]
            mask = mask[:, ::-1]
        click_px = (float(click[0] * h), float(click[1] * w)) if present else (-1.0, -1.0)
        extreme_px = (float(extreme[0] * h), float(extreme[1] * w)) if extreme[0] >= 0 else (-1.0, -1.0)
        return ViewResult(present, click_px, (float(click[0]), float(click[1])), extreme_px, mask, description)


# --- fit -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SinusoidFit:
    """``y = c + A cos w + B sin w = c + r cos(w - alpha)``; ``rms`` of the residuals."""

    c: float
    A: float
    B: float
    r: float
    alpha: float
    rms: float


def fit_sinusoid(omega_deg: Any, values: Any) -> SinusoidFit:
    w = np.radians(np.asarray(omega_deg, dtype=float))
    y = np.asarray(values, dtype=float)
    if w.size < 3:
        raise ValueError(f"the fit needs at least 3 views, got {w.size}")
    design = np.column_stack([np.ones_like(w), np.cos(w), np.sin(w)])
    if np.linalg.matrix_rank(design) < 3:
        raise ValueError("the views' omega angles are all equal modulo 180 degrees; the fit is undetermined")
    (c, a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
    rms = float(np.sqrt(np.mean((y - design @ np.array([c, a, b])) ** 2)))
    return SinusoidFit(float(c), float(a), float(b), float(math.hypot(a, b)), float(math.atan2(b, a)), rms)


# --- visual hull ---------------------------------------------------------------------------


@dataclass
class Hull:
    """Voxels inside every silhouette. Frame (x, u, v) mm: x along the image columns from the
    image's left edge; a point projects at ``axis row + (u cos w + v sin w)`` (vertical, mm)."""

    volume: np.ndarray
    voxel_size_mm: float
    origin_mm: np.ndarray
    points_mm: np.ndarray
    vertices_mm: np.ndarray
    faces: np.ndarray

    def contains(self, points_mm: np.ndarray) -> np.ndarray:
        idx = np.floor((np.atleast_2d(points_mm) - self.origin_mm) / self.voxel_size_mm + 0.5).astype(int)
        ok = np.all((idx >= 0) & (idx < np.array(self.volume.shape)), axis=1)
        out = np.zeros(len(idx), dtype=bool)
        out[ok] = self.volume[idx[ok, 0], idx[ok, 1], idx[ok, 2]]
        return out


def visual_hull(
    masks: np.ndarray,
    omega_deg: Any,
    *,
    pixel_mm: tuple[float, float],
    axis_row_px: float,
    voxel_mm: float = 0.004,
) -> Hull:
    """Strict visual hull of silhouettes ``masks`` (N, H, W) seen at ``omega_deg``.

    ``pixel_mm`` = (vertical, horizontal) size of a mask pixel in mm; ``axis_row_px`` = the row
    (mask pixels, fractional) where the rotation axis projects.
    """
    from skimage.measure import marching_cubes

    masks = np.asarray(masks, dtype=bool)
    w = np.radians(np.asarray(omega_deg, dtype=float))
    n, h, width = masks.shape
    py, px = pixel_mm
    union = masks.any(axis=0)
    cols = np.nonzero(union.any(axis=0))[0]
    rows = np.nonzero(union.any(axis=1))[0]
    if cols.size == 0:
        raise ValueError("no silhouette in any view: nothing to reconstruct")
    radius = (max(abs(rows.min() - axis_row_px), abs(rows.max() - axis_row_px)) + 1) * py
    x = np.arange(cols.min() * px, (cols.max() + 1) * px, voxel_mm)
    uv = np.arange(-radius, radius + voxel_mm, voxel_mm)
    u, v = np.meshgrid(uv, uv, indexing="ij")
    col_idx = np.clip(np.floor(x / px + 0.5).astype(int), 0, width - 1)
    volume = np.ones((x.size, uv.size, uv.size), dtype=bool)
    for k in range(n):
        r = np.floor(axis_row_px + (u * math.cos(w[k]) + v * math.sin(w[k])) / py + 0.5).astype(int)
        inside = (r >= 0) & (r < h)
        rc = np.clip(r, 0, h - 1)
        seen = masks[k][:, col_idx][rc]  # (Nu, Nv, Nx)
        volume &= np.moveaxis(seen & inside[..., None], 2, 0)
    origin = np.array([x[0], uv[0], uv[0]])
    points = origin + np.argwhere(volume) * voxel_mm
    if volume.any():
        padded = np.pad(volume, 1).astype(np.float32)
        verts, faces, _n, _v = marching_cubes(padded, level=0.5)
        vertices = origin + (verts - 1.0) * voxel_mm
    else:
        vertices, faces = np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int32)
    return Hull(volume, float(voxel_mm), origin, points, vertices, faces.astype(np.int32))


# --- storage -------------------------------------------------------------------------------


def write_ply(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Binary little-endian PLY: float32 x y z, faces as uchar count + int32 indices."""
    from mxcubecore_interleave.atomic import atomic_output

    vertices = np.asarray(vertices, dtype="<f4").reshape(-1, 3)
    faces = np.asarray(faces, dtype="<i4").reshape(-1, 3)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment mxcubecore-interleave Murko visual hull, mm\n"
        f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode("ascii")
    face_records = np.empty(len(faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    face_records["n"] = 3
    face_records["idx"] = faces
    path = Path(path)
    with atomic_output(path, overwrite=False) as tmp:
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(vertices.tobytes())
            f.write(face_records.tobytes())
    return path


def write_centring_h5(path: str | Path, data: dict[str, Any]) -> Path:
    """``data`` under group ``murko/``: dicts become groups, strings string datasets, the rest
    arrays (gzip when larger than 64 values). Written atomically; never overwrites."""
    import h5py

    from mxcubecore_interleave.atomic import atomic_output

    def put(group: Any, key: str, value: Any) -> None:
        if isinstance(value, dict):
            sub = group.create_group(key)
            for k, v in value.items():
                put(sub, k, v)
        elif isinstance(value, str):
            group.create_dataset(key, data=value, dtype=h5py.string_dtype())
        else:
            arr = np.asarray(value)
            opts = {"compression": "gzip", "compression_opts": 4} if arr.size > 64 else {}
            group.create_dataset(key, data=arr, **opts)

    path = Path(path)
    with atomic_output(path, overwrite=False) as tmp:
        with h5py.File(tmp, "w") as f:
            root = f.create_group("murko")
            root.attrs["NX_class"] = "NXcollection"
            for key, value in data.items():
                put(root, key, value)
    return path


# --- plot ----------------------------------------------------------------------------------


def plot_centring(
    path: str | Path,
    omega_deg: Any,
    shift_um: Any,
    fit: SinusoidFit,
    volume: np.ndarray | None,
    title: str = "",
    voxel_mm: float | None = None,
) -> Path:
    """Fit of the vertical click offsets against omega, and the hull's three projections."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mxcubecore_interleave.atomic import atomic_output

    omega = np.asarray(omega_deg, dtype=float)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
    grid = np.linspace(0, 360, 361)
    wr = np.radians(grid)
    axes[0].plot(grid, (fit.c + fit.A * np.cos(wr) + fit.B * np.sin(wr)) * 1000.0, label="fit")
    axes[0].plot(omega % 360, np.asarray(shift_um, dtype=float), "o", label="Murko clicks")
    axes[0].set(xlabel="omega (deg)", ylabel="vertical offset from beam (um)", title=f"RMS {fit.rms * 1000:.2f} um")
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
    plt.close(fig)
    return path


# --- mock server ---------------------------------------------------------------------------


def describe(image: np.ndarray, min_size: int = 64, mode: str = "normal") -> dict[str, Any]:
    """A Murko ``main`` description of one RGB picture: dark sample on a light background."""
    from PIL import Image
    from scipy import ndimage

    hp, wp = PREDICTION_SHAPE
    small = np.asarray(Image.fromarray(image).resize((wp, hp), Image.BILINEAR), dtype=np.int32)
    grey = small.sum(axis=2)
    foreground = ndimage.binary_fill_holes(grey < 450) if mode == "normal" else np.zeros((hp, wp), bool)
    crystal = foreground & (small[..., 0] - small[..., 2] > 50)
    loop_inside = ndimage.binary_fill_holes(foreground & ~(grey < 450)) if mode == "normal" else crystal
    shape = np.array([hp, wp])

    def notion(mask: np.ndarray) -> dict[str, Any]:
        if mask.sum() <= min_size:
            return {"present": 0, "r": float("nan"), "c": float("nan"), "notion_mask": mask.astype(np.uint8)}
        r, c = np.nonzero(mask)
        return {"present": 1, "r": float(r.mean()), "c": float(c.mean()), "epo": np.array([r[np.argmin(c)], c.min()], float), "notion_mask": mask.astype(np.uint8)}

    notions = {"foreground": notion(foreground), "crystal": notion(crystal), "loop_inside": notion(loop_inside)}
    present = notions["foreground"]["present"]
    if notions["crystal"]["present"]:
        click = np.array([notions["crystal"]["r"], notions["crystal"]["c"]]) / shape
    elif notions["loop_inside"]["present"]:
        click = np.array([notions["loop_inside"]["r"], notions["loop_inside"]["c"]]) / shape
    elif present:
        click = notions["foreground"]["epo"] / shape
    else:
        click = np.array([-1, -1], dtype=np.int64)
    extreme = notions["foreground"]["epo"] / shape if present else np.array([-1.0, -1.0]) / shape
    return {
        "original_shape": np.array(image.shape[:2]),
        "prediction_shape": shape,
        "present": int(present),
        "most_likely_click": click,
        "extreme": extreme,
        **notions,
    }


class MockMurkoServer:
    """A Murko-protocol REP server on loopback, in a thread (answers while gevent waits).

    ``mode``: "normal" (segments the pictures), "nothing" (nothing found), "garbage" (replies
    ``{}``). ``delay_s`` delays every reply (a slow server).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, delay_s: float = 0.0, mode: str = "normal") -> None:
        self.host, self._port, self.delay_s, self.mode = host, int(port), float(delay_s), mode
        self.requests = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0

    def start(self) -> MockMurkoServer:
        # import in the calling thread: scipy's first import runs a subprocess, which gevent only
        # allows from its main loop
        from PIL import Image  # noqa: F401
        from scipy import ndimage  # noqa: F401

        self._thread = threading.Thread(target=self._serve, name="mock-murko", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the mock Murko server did not start")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _serve(self) -> None:
        import zmq

        context = zmq.Context()
        socket = context.socket(zmq.REP)
        socket.setsockopt(zmq.LINGER, 0)
        if self._port:
            socket.bind(f"tcp://{self.host}:{self._port}")
            self.port = self._port
        else:
            self.port = socket.bind_to_random_port(f"tcp://{self.host}")
        self._ready.set()
        try:
            while not self._stop.is_set():
                if not socket.poll(100, zmq.POLLIN):
                    continue
                self.requests += 1
                try:
                    reply = self._answer(safe_loads(socket.recv()))
                except Exception:  # as the real server: a bare except, and always a reply
                    reply = {}
                if self.delay_s and self._stop.wait(self.delay_s):
                    break
                socket.send(pickle.dumps(reply))
        finally:
            socket.close(linger=0)
            context.term()

    def _answer(self, request: Any) -> Any:
        if self.mode == "garbage":
            return {}
        from PIL import Image

        images = [np.asarray(Image.open(io.BytesIO(np.asarray(a, np.uint8).tobytes())).convert("RGB")) for a in request["to_predict"]]
        t0 = time.monotonic()
        descriptions = [describe(im, int(request.get("min_size", 64)), self.mode) for im in images]
        del t0
        return {"original_image_shape": tuple(int(v) for v in images[0].shape), "descriptions": descriptions}
