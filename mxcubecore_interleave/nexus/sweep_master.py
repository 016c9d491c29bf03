"""Write one sweep master (NXmx reference §4): one function per NeXus part.

The original detector master is the template: ``/entry/*`` except ``/entry/data`` is copied with
``Group.copy`` (links stay links, the pixel mask stays contiguous), then only what differs per sweep
is rewritten: ``/entry/data``, omega, wavelength, ``nimages``/``ntrigger``, times, and the
acquisition order. No pixel is copied.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from pathlib import Path

import h5py
import numpy as np

from ..errors import RepackageError
from ..h5ascii import StoredAttribute, ascii_attr, ascii_dataset, nx_group, read_str, stored_attributes
from .model import Collection, Segment, Sweep

HC_KEV_A = 12.398419843320026
SCHEMA = "mxcube-interleaved/1"
PER_FRAME_GROUPS = ("/entry/sample/transformations", "/entry/sample/goniometer")


def sweep_master_name(prefix: str, sweep_id: str) -> str:
    return f"{prefix}_{sweep_id}_master.h5"


def rel(path: Path, start: Path) -> str:
    """``path`` relative to the directory ``start`` (the directories' part is computed once per
    pair: a sweep master names hundreds of data files in one or two directories)."""
    path, start = os.fspath(path), os.fspath(start)
    if not (os.path.isabs(path) and os.path.isabs(start)):
        return os.path.relpath(path, start)
    head, tail = os.path.split(os.path.normpath(path))
    d = _rel_dir(head, os.path.normpath(start))
    return tail if d == "." else os.path.join(d, tail)


@functools.lru_cache(maxsize=4096)
def _rel_dir(directory: str, start: str) -> str:
    return os.path.relpath(directory, start)


# -- helpers ------------------------------------------------------------------------------------
_DCPL: h5py.h5p.PropDCID | None = None


def _dcpl() -> h5py.h5p.PropDCID:
    """What h5py's create_dataset uses for a small contiguous dataset: no modification times."""
    global _DCPL
    if _DCPL is None:
        _DCPL = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        _DCPL.set_obj_track_times(False)
    return _DCPL


def _replace(group: h5py.Group, name: str, data, dtype=None, old: h5py.h5d.DatasetID | None = None) -> h5py.Dataset:
    """Replace a dataset by new values, keeping its attributes (units, vector, depends_on…) with
    their stored types (low-level throughout: a sweep master rewrites ~20 of them, each with
    several attributes, and h5py's create_dataset costs several times the HDF5 calls). ``old``:
    the dataset already opened by the caller (closed here), not opened a second time."""
    gid, bname = group.id, name.encode()
    saved: list[StoredAttribute] = []
    if old is not None or bname in gid:
        old = old if old is not None else h5py.h5d.open(gid, bname)
        dtype = dtype or old.dtype
        saved = stored_attributes(old)
        old.close()
        gid.unlink(bname)
    arr = np.array(data, dtype=dtype, order="C")  # not ascontiguousarray: that makes a scalar 1-D
    space = h5py.h5s.create_simple(arr.shape) if arr.shape else h5py.h5s.create(h5py.h5s.SCALAR)
    dsid = h5py.h5d.create(gid, bname, h5py.h5t.py_create(arr.dtype, logical=True), space, dcpl=_dcpl())
    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, arr)
    ds = h5py.Dataset(dsid)
    for k, tid, aspace, buf in saved:
        if isinstance(tid, h5py.h5t.TypeStringID) and not tid.is_variable_str() and tid.get_cset() != h5py.h5t.CSET_ASCII:
            ascii_attr(ds, k.decode(), read_str(buf))  # fixed-length NeXus strings stay ASCII (durin)
        else:
            h5py.h5a.create(dsid, k, tid, aspace).write(buf, mtype=tid)
    return ds


def _set_string(group: h5py.Group, name: str, value: str) -> None:
    if name in group:
        del group[name]
    ascii_dataset(group, name, value)


# -- parts --------------------------------------------------------------------------------------
def _relink(entry: h5py.Group, template: Path, master_dir: Path) -> None:
    """External links copied from the template (``Group.copy`` keeps them as they are) name files
    relative to the template's directory; make them relative to the sweep master's, which differs
    with an output sub-directory (an absolute name becomes relative too: NXmx reference §0.4)."""
    from .series import external_links

    for name, filename, path in external_links(entry.id):
        target = filename if os.path.isabs(filename) else os.path.join(template.parent, filename)
        new = rel(Path(os.path.normpath(target)), master_dir)
        if new != filename:
            del entry[name]
            entry[name] = h5py.ExternalLink(new, path)


def copy_template(template: Path, f: h5py.File, master_dir: Path | None = None, link_mask: bool = False) -> int:
    """Copy the template's header; returns its frame count (the length of its per-frame axes).
    External links in it are rewritten relative to ``master_dir`` (the sweep master's directory).
    ``link_mask``: the pixel mask becomes an external link to the template's (``pixel_mask.py``)."""
    from .datafiles import current
    from .pixel_mask import copy_instrument_linking_mask

    run = current()
    kept = run.master(template) if run is not None else None  # read by this run already: no second open
    try:
        src = h5py.File(kept) if kept is not None else h5py.File(template, "r")
    except OSError as exc:
        raise RepackageError(f"cannot read the template master {template}: {exc}") from exc
    with contextlib.nullcontext(src) if kept is not None else src:
        if "entry" not in src:
            raise RepackageError(f"template master {template} has no /entry")
        for k, v in src.attrs.items():
            f.attrs[k] = v
        entry = f.create_group("entry")
        for k in src["entry"].attrs:
            tid = src["entry"].attrs.get_id(k).get_type()
            if isinstance(tid, h5py.h5t.TypeStringID) and not tid.is_variable_str():
                ascii_attr(entry, k, read_str(src["entry"].attrs[k]))
            else:
                entry.attrs[k] = src["entry"].attrs[k]
        for name in src["entry"]:
            if name in ("data", "acquisition_order", "notes"):
                continue
            if name == "instrument" and link_mask and copy_instrument_linking_mask(src["entry"], entry, template.name):
                continue
            link = src["entry"].get(name, getlink=True)
            if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
                entry[name] = link
            else:
                src.copy(src["entry"][name], entry, name=name)
        omega = src.get("/entry/sample/transformations/omega")
        if omega is None:
            omega = src.get("/entry/sample/goniometer/omega")
        n = int(np.atleast_1d(omega[()]).size) if omega is not None else 0
    if "acquisition_status" in entry.attrs:  # the template wedge's own status, not the sweep's
        del entry.attrs["acquisition_status"]
    if master_dir is not None:
        _relink(entry, template, master_dir)
    return n


def write_nxdata_links(entry: h5py.Group, sweep: Sweep, master_dir: Path) -> h5py.Group:
    """Layout L: data_000001..K, one external link per whole data file, in sweep order."""
    data = nx_group(entry, "data", "NXdata")
    links = data.id.links  # low-level: hundreds of links per sweep
    for i, seg in enumerate(sweep.segments()):
        links.create_external(f"data_{i + 1:06d}".encode(), rel(seg.file.path, master_dir).encode(),
                              seg.file.dataset.encode())
    return data


def _merged_runs(segments: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for s in segments:
        if out and out[-1].file == s.file and out[-1].start + out[-1].count == s.start:
            out[-1] = Segment(s.file, out[-1].start, out[-1].count + s.count)
        else:
            out.append(s)
    return out


def write_nxdata_vds(entry: h5py.Group, sweep: Sweep, master_dir: Path) -> h5py.Group:
    """Layout V: one virtual dataset data_000001 over relative sources, nothing else in NXdata."""
    data = nx_group(entry, "data", "NXdata")
    ny, nx = sweep.frame_shape
    nP = sweep.n_frames
    fill = np.iinfo(sweep.dtype).max if sweep.dtype.kind in "ui" else np.nan
    # low-level: h5py's VirtualSource[...] deep-copies itself per slice (~0.5 ms per source)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_fill_value(np.array(fill, dtype=sweep.dtype))
    space = h5py.h5s.create_simple((nP, ny, nx))
    vspace = space.copy()  # set_virtual copies both selections: one object each, re-selected per source
    sources: dict[tuple[int, int, int], h5py.h5s.SpaceID] = {}  # (frames, start, count): most are alike
    k = 0
    for seg in _merged_runs(sweep.segments()):
        # an explicit relative name and shape, never VirtualSource(dataset): that would record
        # whatever (absolute) path the dataset was opened with (NXmx reference §4)
        vspace.select_hyperslab((k, 0, 0), (seg.count, ny, nx))
        src = sources.get((seg.file.n, seg.start, seg.count))
        if src is None:
            src = sources[(seg.file.n, seg.start, seg.count)] = h5py.h5s.create_simple((seg.file.n, ny, nx))
            src.select_hyperslab((seg.start, 0, 0), (seg.count, ny, nx))
        dcpl.set_virtual(vspace, rel(seg.file.path, master_dir).encode(), seg.file.dataset.encode(), src)
        k += seg.count
    ds = h5py.Dataset(h5py.h5d.create(data.id, b"data_000001", h5py.h5t.py_create(sweep.dtype, logical=True), space,
                                      dcpl=dcpl))
    ds.attrs.create("image_nr_low", 1, dtype=np.uint64)
    ds.attrs.create("image_nr_high", nP, dtype=np.uint64)
    ascii_attr(data, "signal", "data_000001")
    return data


def write_detector_specific(entry: h5py.Group, sweep: Sweep) -> None:
    """nimages = frames of the sweep, ntrigger = 1 (Neggia multiplies them, eiger2cbf reads nimages)."""
    ds = entry.require_group("instrument/detector/detectorSpecific")
    _replace(ds, "nimages", sweep.n_frames, dtype=ds["nimages"].dtype if "nimages" in ds else np.uint32)
    _replace(ds, "ntrigger", 1, dtype=ds["ntrigger"].dtype if "ntrigger" in ds else np.uint32)
    if "nimages_planned" in ds:
        _replace(ds, "nimages_planned", sweep.n_frames)
    if "photon_energy" in ds:  # the sweep's energy is known: it follows from its wavelength
        energy_ev = sweep.energy_keV * 1000.0 if sweep.energy_keV else HC_KEV_A / sweep.wavelength_A * 1000.0
        _replace(ds, "photon_energy", energy_ev)


def write_goniometer(entry: h5py.Group, sweep: Sweep, n_template: int) -> None:
    """Per-frame omega of this sweep (NXmx and DECTRIS legacy); other axes stretched to nP."""
    nP, inc = sweep.n_frames, sweep.omega_increment
    omega = sweep.omega()
    f = entry.file
    for gpath in PER_FRAME_GROUPS:
        g = f.get(gpath)
        if not isinstance(g, h5py.Group):
            continue
        gid = g.id
        for bname in list(gid):  # low-level: ~20 datasets per sweep master, each asked its type and shape
            name = bname.decode()
            try:
                if h5py.h5g.get_objinfo(gid, bname).type != h5py.h5g.DATASET:
                    continue
            except (KeyError, OSError, ValueError, RuntimeError):  # a dangling link: nothing to rewrite
                continue
            if name in ("omega_increment_set", "omega_range_average"):
                _replace(g, name, inc)
                continue
            if name == "omega_range_total":
                _replace(g, name, inc * nP)
                continue
            dsid = h5py.h5d.open(gid, bname)
            dtype, shape = dsid.dtype, dsid.shape
            if name == "omega":
                _replace(g, name, omega, dtype=np.float64 if dtype.itemsize >= 8 else dtype, old=dsid)
            elif name == "omega_end":
                _replace(g, name, omega + inc, dtype=np.float64 if dtype.itemsize >= 8 else dtype, old=dsid)
            elif len(shape) == 1 and shape[0] == n_template and n_template > 0:
                values = np.empty(shape, dtype=dtype)
                dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, values)
                if np.ptp(values) > 1e-9:
                    dsid.close()
                    raise RepackageError(f"template master {sweep.template}: {gpath}/{name} changes during its series "
                                         f"({values.min():g} to {values.max():g}); only omega scans are supported, "
                                         "nothing was written")
                _replace(g, name, np.full(nP, values[0], dtype=dtype), old=dsid)
            else:
                dsid.close()
    tr = f.get("/entry/sample/transformations")
    if isinstance(tr, h5py.Group) and "omega" in tr:
        if "omega_end" not in tr:
            end = tr.create_dataset("omega_end", data=omega + inc)
            ascii_attr(end, "units", "deg")
        if "omega_increment_set" not in tr:
            s = tr.create_dataset("omega_increment_set", data=np.float64(inc))
            ascii_attr(s, "units", "deg")


def write_beam(entry: h5py.Group, sweep: Sweep) -> None:
    beam = entry.get("instrument/beam")
    if beam is None:
        beam = nx_group(entry.require_group("instrument"), "beam", "NXbeam")
    ds = _replace(beam, "incident_wavelength", sweep.wavelength_A, dtype=np.float64)
    ascii_attr(ds, "units", "angstrom")


def write_times(entry: h5py.Group, sweep: Sweep, fallback: str) -> None:
    """Start and end from the sweep's chronologically first and last wedge."""
    by_time = sorted(sweep.wedges, key=lambda w: w.order)
    start = by_time[0].start_time or fallback
    end = by_time[-1].end_time or start
    _set_string(entry, "start_time", start)
    _set_string(entry, "end_time", end)
    _set_string(entry, "end_time_estimated", end)
    ds = entry.get("instrument/detector/detectorSpecific")
    if isinstance(ds, h5py.Group) and "data_collection_date" in ds:
        _set_string(ds, "data_collection_date", start)


def write_acquisition_order(entry: h5py.Group, sweep: Sweep, collection: Collection, master_dir: Path,
                            record_path: Path | None) -> None:
    """/entry/acquisition_order (NXcollection): where every frame of this sweep sits in time."""
    g = nx_group(entry, "acquisition_order", "NXcollection")
    ascii_dataset(g, "schema", SCHEMA)
    ascii_dataset(g, "acquisition_id", collection.acquisition_id)
    ascii_dataset(g, "sweep_id", sweep.id)
    g.create_dataset("sweep_index", data=np.int32(sweep.index))
    gin = np.concatenate([np.arange(w.first_global, w.first_global + w.n, dtype=np.int64) for w in sweep.wedges])
    wix = np.concatenate([np.full(w.n, w.order, dtype=np.int32) for w in sweep.wedges])
    g.create_dataset("global_image_number", data=gin)
    g.create_dataset("wedge_index", data=wix)
    masters = [rel(w.source_master, master_dir) if w.source_master else "" for w in sweep.wedges]
    width = max(1, *(len(m) for m in masters))
    g.create_dataset("source_master", data=np.array([m.encode() for m in masters], dtype=f"S{width}"))
    g.create_dataset("wedge_first_frame", data=np.array([w.sweep_first_frame for w in sweep.wedges], dtype=np.int32))
    if record_path is not None:
        ascii_dataset(g, "record", rel(record_path, master_dir))


def write_notes(entry: h5py.Group, record_json: str) -> None:
    """/entry/notes (NXnote): the whole acquisition record, for every sweep."""
    g = nx_group(entry, "notes", "NXnote")
    ascii_dataset(g, "type", "application/json")
    ascii_dataset(g, "description", f"acquisition record ({SCHEMA}): every sweep and wedge in acquisition order")
    ascii_dataset(g, "data", record_json)


def _template_is_a_wedge_master(sweep: Sweep) -> bool:
    """The template is one of the sweep's own detector masters, which stay with their data: its
    pixel mask can be linked. A configured template (masters written before the data) is copied."""
    own = {os.path.normpath(w.source_master) for w in sweep.wedges if w.source_master}
    return sweep.template is not None and os.path.normpath(sweep.template) in own


def build_sweep_master(f: h5py.File, sweep: Sweep, collection: Collection, layout: str, master_dir: Path,
                       record_json: str, record_path: Path | None, created: str, pixel_mask: str = "link") -> None:
    """Fill an empty, open HDF5 file with the sweep master (``pixel_mask``: "link" or "copy")."""
    if sweep.template is None:
        raise RepackageError(f"sweep {sweep.id} has no template master")
    n_template = copy_template(sweep.template, f, master_dir, link_mask=pixel_mask == "link" and _template_is_a_wedge_master(sweep))
    entry = f["entry"]
    if layout == "L":
        write_nxdata_links(entry, sweep, master_dir)
    else:
        write_nxdata_vds(entry, sweep, master_dir)
    ascii_attr(f, "default", "entry")
    ascii_attr(entry, "default", "data")
    write_detector_specific(entry, sweep)
    write_goniometer(entry, sweep, n_template)
    write_beam(entry, sweep)
    write_times(entry, sweep, created)
    write_source(entry)
    write_acquisition_order(entry, sweep, collection, master_dir, record_path)
    write_notes(entry, record_json)


def write_source(entry: h5py.Group) -> None:
    """NXmx (current definition) wants NXsource in NXentry; the DECTRIS layout has it in
    NXinstrument, where older readers look. A hard link makes the one group both."""
    if "source" not in entry:
        source = entry.get("instrument/source")
        if isinstance(source, h5py.Group) and source.attrs.get("NX_class") in (b"NXsource", "NXsource"):
            entry["source"] = source


def record_json_for_masters(record_dict: dict) -> str:
    """The record as embedded in masters: without the ``updated`` stamp and the run's status, so
    re-runs are identical and the masters are final before the record is saved "completed"."""
    d = {k: v for k, v in record_dict.items() if k not in ("updated", "status")}
    return json.dumps(d, sort_keys=False, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
