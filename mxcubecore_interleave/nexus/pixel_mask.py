"""The sweep master's pixel mask: an external link to its template's own mask, not a copy.

A DECTRIS master holds the detector's pixel mask at ``detectorSpecific/pixel_mask`` (hard-linked
as ``detector/pixel_mask``), contiguous because Neggia reads it so: 18 MB at Eiger2 4M. Copying it
into every sweep master was the only part of repackaging that grew with the frame size. When the
template is one of the sweep's own wedge masters (kept with the data it describes, and named in
``/entry/acquisition_order/source_master``), both names become external links to that mask.

Neggia (DECTRIS's XDS plugin) has its own HDF5 parser. On a version-0 superblock it looks each
name up first in the symbol table that the parent's entry caches for a group, and only when the
name is not there among the link messages of the group's own header. HDF5 turns a group into a
link-message group when it receives its first external link, but leaves the parent's cached
symbol table as it was: every name in the group at that moment would stay visible to Neggia with
the object it named then (a rewritten ``nimages`` would read as the template's). So ``detector``
and ``detectorSpecific`` are made empty and given their mask link first, as DECTRIS makes
``/entry/data``, and only then filled.
"""

from __future__ import annotations

from typing import Literal, get_args

import h5py
import numpy as np

from ..errors import RepackageError
from ..h5ascii import stored_attributes

MaskPolicy = Literal["link", "copy"]
MASK_POLICIES: tuple[str, ...] = get_args(MaskPolicy)
MASK_PATH = "/entry/instrument/detector/detectorSpecific/pixel_mask"
NXMX_MASK_PATH = "/entry/instrument/detector/pixel_mask"


def check_mask_policy(policy: str) -> None:
    if policy not in MASK_POLICIES:
        raise RepackageError(f"pixel_mask must be 'link' or 'copy', not {policy!r}")


def _copy_attributes(src: h5py.HLObject, dst: h5py.HLObject) -> None:
    """Every attribute with its stored type (NeXus strings stay fixed-length ASCII)."""
    for name, tid, space, value in stored_attributes(src.id):
        h5py.h5a.create(dst.id, name, tid, space).write(value, mtype=tid)


def _address(group: h5py.Group, name: str) -> int | None:
    """The object a hard link names (None for soft and external links)."""
    if not isinstance(group.get(name, getlink=True), h5py.HardLink):
        return None
    return h5py.h5o.get_info(group.id, name.encode()).addr


Member = tuple[bytes, int, "int | None"]  # name, link type, address of the object a hard link names


def _members(group: h5py.Group) -> list[Member]:
    """Every member of a group, asked low-level (a detector group has ~30, each copied on its own)."""
    gid = group.id
    out: list[Member] = []
    for bname in gid:
        kind = gid.links.get_info(bname).type
        out.append((bname, kind, h5py.h5o.get_info(gid, bname).addr if kind == h5py.h5l.TYPE_HARD else None))
    return out


def _copy_members(src: h5py.Group, dst: h5py.Group, members: list[Member], mask: int,
                  special: dict[str, callable]) -> None:
    """Soft and external links as links, the mask not at all, the rest with ``H5Ocopy``."""
    for bname, kind, address in members:
        name = bname.decode()
        if kind != h5py.h5l.TYPE_HARD:
            dst[name] = src.get(name, getlink=True)
        elif name in special:
            special[name](src[name], dst)
        elif address != mask:
            h5py.h5o.copy(src.id, bname, dst.id, bname)


def _group_linking_mask(src: h5py.Group, parent: h5py.Group, name: str, mask: int, template_name: str,
                        special: dict[str, callable]) -> h5py.Group:
    """``src`` copied as ``parent/name``, each of its names for the mask an external link, made first."""
    members = _members(src)
    dst = parent.create_group(name)
    for bname, _kind, address in members:
        if address == mask:
            dst.id.links.create_external(bname, template_name.encode(), MASK_PATH.encode())
    _copy_attributes(src, dst)
    _copy_members(src, dst, members, mask, special)
    return dst


def copy_instrument_linking_mask(src_entry: h5py.Group, entry: h5py.Group, template_name: str) -> bool:
    """Copy ``/entry/instrument`` of the template into ``entry`` with the mask linked, not copied.

    ``template_name``: the template's file name relative to its own directory (external links are
    made relative to the sweep master's directory afterwards, with the template's other links).
    False, with nothing written, when the template has no mask dataset at ``MASK_PATH``."""
    file = src_entry.file
    if not isinstance(file.get(MASK_PATH), h5py.Dataset):
        return False
    mask = _address(file[MASK_PATH.rsplit("/", 1)[0]], "pixel_mask")
    if mask is None:  # the template links its mask elsewhere: that link is copied as it is
        return False

    def detector_specific(src: h5py.Group, parent: h5py.Group) -> None:
        _group_linking_mask(src, parent, "detectorSpecific", mask, template_name, {})

    def detector(src: h5py.Group, parent: h5py.Group) -> None:
        _group_linking_mask(src, parent, "detector", mask, template_name, {"detectorSpecific": detector_specific})

    _group_linking_mask(src_entry["instrument"], entry, "instrument", mask, template_name, {"detector": detector})
    return True


def mask_problem(f: h5py.File, frame_shape: tuple[int, int]) -> str | None:
    """What is wrong with the master's pixel mask, if anything: each name for it must resolve
    (a link to a detector master that is gone would not) to a 2-D integer dataset of the frame's
    shape. Only the dataset's header is read, never its pixels."""
    for path in (MASK_PATH, NXMX_MASK_PATH):
        link = f.get(path, getlink=True)
        if link is None:
            continue
        where = f"{path} (a link to {link.filename})" if isinstance(link, h5py.ExternalLink) else path
        try:
            ds = f[path]
        except (KeyError, OSError):
            return f"{where} cannot be read: keep the detector masters next to the data files"
        if not (isinstance(ds, h5py.Dataset) and ds.shape == tuple(frame_shape) and np.issubdtype(ds.dtype, np.integer)):
            what = f"{ds.dtype} {ds.shape}" if isinstance(ds, h5py.Dataset) else "a group"
            return f"{where} is not an integer mask of the frame's shape {tuple(frame_shape)} (it is {what})"
    return None
