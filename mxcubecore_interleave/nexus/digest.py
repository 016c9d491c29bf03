"""A semantic digest of an HDF5 tree: equal digests mean the same master for every reader.

HDF5 bytes differ between two writes of the same content (NXmx reference §6), so re-runs are
compared on names, attributes, link targets, dataset values and virtual-dataset mappings.
External links and virtual sources are not followed: the master, not the data, is compared.
"""

from __future__ import annotations

import hashlib
import os

import h5py
import numpy as np

IGNORED_ATTRS: frozenset[str] = frozenset()


def _value_bytes(value) -> bytes:
    arr = np.asarray(value)
    if arr.dtype.kind == "O":
        return repr([v.decode() if isinstance(v, bytes) else v for v in arr.ravel().tolist()]).encode()
    if arr.dtype.kind == "S":
        return repr([bytes(v).rstrip(b"\0") for v in arr.ravel()]).encode()
    return arr.dtype.str.encode() + repr(arr.shape).encode() + np.ascontiguousarray(arr).tobytes()


def _attrs(h: "hashlib._Hash", obj) -> None:
    for k in sorted(obj.attrs):
        if k in IGNORED_ATTRS:
            continue
        h.update(b"@" + k.encode() + b"=" + _value_bytes(obj.attrs[k]))


def _walk(h: "hashlib._Hash", group: h5py.Group, prefix: str) -> None:
    _attrs(h, group)
    for name in sorted(group):
        path = f"{prefix}/{name}"
        link = group.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            h.update(f"X {path} -> {link.filename}:{link.path}\n".encode())
            continue
        if isinstance(link, h5py.SoftLink):
            h.update(f"S {path} -> {link.path}\n".encode())
            continue
        obj = group[name]
        if isinstance(obj, h5py.Group):
            h.update(f"G {path}\n".encode())
            _walk(h, obj, path)
        else:
            h.update(f"D {path} {obj.dtype.str} {obj.shape}\n".encode())
            _attrs(h, obj)
            if obj.is_virtual:
                for vs in obj.virtual_sources():
                    h.update(f"V {vs.file_name}:{vs.dset_name} {vs.vspace.get_select_bounds()} "
                             f"{vs.src_space.get_select_bounds()}\n".encode())
                h.update(_value_bytes(obj.fillvalue))
            else:
                h.update(_value_bytes(obj[()]))


def semantic_digest(path: str | os.PathLike[str]) -> str:
    """sha256 over the canonical tree of one HDF5 file."""
    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        _walk(h, f, "")
    return h.hexdigest()
