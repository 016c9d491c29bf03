"""Files a Murko centring leaves next to the sample's data: HDF5 record, PLY mesh and points.

The HDF5 file keeps everything a later reconstruction or an audit needs (inputs, masks, fit,
volume, points, mesh) under one ``murko/`` group; the PLY files are for viewers (MeshLab, Open3D,
three.js ``PLYLoader``). Binary little-endian PLY is written with numpy alone. Every file is
written atomically and never overwrites an existing one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mxcubecore_interleave.atomic import atomic_output

_PLY_VERTEX = "property float x\nproperty float y\nproperty float z\n"


def _ply_header(comment: str, vertices: int, faces: int | None) -> bytes:
    text = f"ply\nformat binary_little_endian 1.0\ncomment {comment}\nelement vertex {vertices}\n{_PLY_VERTEX}"
    if faces is not None:
        text += f"element face {faces}\nproperty list uchar int vertex_indices\n"
    return (text + "end_header\n").encode("ascii")


def write_ply(path: str | Path, vertices: np.ndarray, faces: np.ndarray,
              comment: str = "mxcubecore-interleave Murko visual hull, mm") -> Path:
    """A triangle mesh: float32 x y z per vertex, faces as uchar 3 + three int32 indices."""
    vertices = np.asarray(vertices, dtype="<f4").reshape(-1, 3)
    faces = np.asarray(faces, dtype="<i4").reshape(-1, 3)
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError("mesh faces refer to vertices that do not exist")
    records = np.empty(len(faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    records["n"] = 3
    records["idx"] = faces
    path = Path(path)
    with atomic_output(path, overwrite=False) as tmp, open(tmp, "wb") as f:
        f.write(_ply_header(comment, len(vertices), len(faces)))
        f.write(vertices.tobytes())
        f.write(records.tobytes())
    return path


def write_point_cloud_ply(path: str | Path, points: np.ndarray,
                          comment: str = "mxcubecore-interleave Murko visual hull voxels, mm") -> Path:
    """A point cloud: vertices only."""
    points = np.asarray(points, dtype="<f4").reshape(-1, 3)
    path = Path(path)
    with atomic_output(path, overwrite=False) as tmp, open(tmp, "wb") as f:
        f.write(_ply_header(comment, len(points), None))
        f.write(points.tobytes())
    return path


def write_centring_h5(path: str | Path, data: dict[str, Any]) -> Path:
    """``data`` under group ``murko/``: dicts become groups, strings string datasets, lists of
    bytes (JPEG pictures) variable-length uint8 datasets, the rest arrays (gzip when larger than
    64 values)."""
    import h5py

    def put(group: Any, key: str, value: Any) -> None:
        if isinstance(value, dict):
            sub = group.create_group(key)
            for k, v in value.items():
                put(sub, k, v)
        elif isinstance(value, str):
            group.create_dataset(key, data=value, dtype=h5py.string_dtype())
        elif isinstance(value, list) and value and all(isinstance(v, bytes) for v in value):
            # encoded pictures (JPEG): one variable-length uint8 array per picture
            dset = group.create_dataset(key, (len(value),), dtype=h5py.vlen_dtype(np.uint8))
            for i, v in enumerate(value):
                dset[i] = np.frombuffer(v, dtype=np.uint8)
        else:
            array = np.asarray(value)
            options = {"compression": "gzip", "compression_opts": 4} if array.size > 64 else {}
            group.create_dataset(key, data=array, **options)

    path = Path(path)
    with atomic_output(path, overwrite=False) as tmp, h5py.File(tmp, "w") as f:
        root = f.create_group("murko")
        root.attrs["NX_class"] = "NXcollection"
        root.attrs["schema"] = "mxcube-murko-centring/1"
        for key, value in data.items():
            put(root, key, value)
    return path


def read_centring_h5(path: str | Path) -> dict[str, Any]:
    """The ``murko/`` group as nested dicts of numpy arrays and strings (for tools and tests)."""
    import h5py

    def get(node: Any) -> Any:
        if isinstance(node, h5py.Group):
            return {k: get(v) for k, v in node.items()}
        value = node[()]
        return value.decode() if isinstance(value, bytes) else value

    with h5py.File(path, "r") as f:
        return get(f["murko"])
