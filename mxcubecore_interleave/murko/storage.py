"""Files a Murko centring leaves next to the sample's data: HDF5 record, PLY mesh and points.

The HDF5 file keeps everything a later reconstruction or an audit needs (inputs, masks, fit,
volume, points, mesh) under one ``murko/`` group; the PLY files are for viewers (MeshLab, Open3D,
three.js ``PLYLoader``), written by trimesh as binary little-endian PLY. Every file is
written atomically and never overwrites an existing one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mxcubecore_interleave.atomic import atomic_output

def write_ply(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """A triangle mesh as binary PLY, written by trimesh (float32 xyz, int32 triangles).

    The faces are written as given (no merging, no re-winding): the caller winds them outwards.
    """
    import trimesh

    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError("mesh faces refer to vertices that do not exist")
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False, validate=False)
    return _write_bytes(path, trimesh.exchange.ply.export_ply(mesh, encoding="binary", vertex_normal=False))


def write_point_cloud_ply(path: str | Path, points: np.ndarray) -> Path:
    """A point cloud (vertices only) as binary PLY, written by trimesh."""
    import trimesh

    cloud = trimesh.PointCloud(np.asarray(points, dtype=np.float64).reshape(-1, 3))
    return _write_bytes(path, trimesh.exchange.ply.export_ply(cloud, encoding="binary"))


def _write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    with atomic_output(path, overwrite=False) as tmp, open(tmp, "wb") as f:
        f.write(data)
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
