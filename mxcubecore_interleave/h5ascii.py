"""NeXus strings as DECTRIS writes them: fixed-length, NUL-terminated ASCII.

h5py's default for ``attrs["NX_class"] = "NXentry"`` is a variable-length UTF-8 string, which
durin (the XDS plugin) refuses to open (NXmx reference §3).
"""

from __future__ import annotations

import h5py
import numpy as np


def _ascii_type(value: str) -> h5py.h5t.TypeID:
    raw = value.encode("ascii")
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(len(raw) + 1)
    tid.set_strpad(h5py.h5t.STR_NULLTERM)
    tid.set_cset(h5py.h5t.CSET_ASCII)
    return tid


def ascii_attr(obj: h5py.HLObject, name: str, value: str) -> None:
    """Set attribute ``name`` to fixed-length ASCII ``value`` (replacing any existing one)."""
    if name in obj.attrs:
        del obj.attrs[name]
    raw = value.encode("ascii")
    tid = _ascii_type(value)
    space = h5py.h5s.create(h5py.h5s.SCALAR)
    aid = h5py.h5a.create(obj.id, name.encode("ascii"), tid, space)
    aid.write(np.array(raw, dtype=f"S{len(raw) + 1}"), mtype=tid)


def ascii_dataset(group: h5py.Group, name: str, value: str) -> h5py.Dataset:
    """A scalar fixed-length ASCII string dataset."""
    raw = value.encode("ascii")
    return group.create_dataset(name, data=np.bytes_(raw), dtype=f"S{max(len(raw), 1)}")


def nx_group(parent: h5py.Group, name: str, nx_class: str) -> h5py.Group:
    grp = parent.require_group(name)
    ascii_attr(grp, "NX_class", nx_class)
    return grp


def read_str(value: object) -> str:
    """Decode whatever h5py hands back for a string dataset or attribute."""
    if isinstance(value, np.ndarray):
        value = value[()] if value.shape == () else value.flat[0]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("ascii", "replace").rstrip("\x00")
    return str(value)


StoredAttribute = tuple[bytes, h5py.h5t.TypeID, h5py.h5s.SpaceID, np.ndarray]


def stored_attributes(oid: h5py.h5o.ObjectID) -> list[StoredAttribute]:
    """Every attribute of an object as stored: (name, type, space, value read in that type), so a
    copy keeps its fixed-length strings, not h5py's variable-length defaults (low-level: ~20
    datasets and 3 groups per sweep master are copied this way)."""
    out: list[StoredAttribute] = []
    for i in range(h5py.h5a.get_num_attrs(oid)):
        aid = h5py.h5a.open(oid, index=i)
        tid = aid.get_type()
        buf = np.empty(aid.shape, dtype=aid.dtype)
        aid.read(buf, mtype=tid)
        out.append((aid.get_name(), tid, aid.get_space(), buf))
    return out
