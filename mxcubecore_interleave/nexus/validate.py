"""The checks of NXmx reference §6: on the inputs before writing, on the master after writing.

Every failure is a ``RepackageError`` naming the file and the frame; nothing is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import h5py
import hdf5plugin  # noqa: F401
import numpy as np

from ..errors import RepackageError
from .model import Collection, Segment, Sweep


Layout = Literal["L", "V"]
LayoutPolicy = Literal["auto", "L", "V"]
# readers that cannot read layout V (NXmx reference §1, §3)
VDS_BLIND_READERS = "Neggia (XDS plugin) and eiger2cbf/H5ToXds"


def _tol(inc: float) -> float:
    return 1e-6 * abs(inc)


def links_possible(sweep: Sweep) -> str | None:
    """None if layout L fits the sweep, else the reason it does not."""
    segs = sweep.segments()
    for s in segs:
        if not s.whole_file:
            return (f"wedge frames {s.start + 1}..{s.start + s.count} of {s.file.path.name} are not a whole "
                    "data file")
    sizes = [s.count for s in segs]
    for i, n in enumerate(sizes):
        if (i < len(sizes) - 1 and n != sizes[0]) or n > sizes[0]:
            return (f"{segs[i].file.path.name} holds {n} frames, {segs[0].file.path.name} {sizes[0]}: links need "
                    "data files of equal size (only the sweep's last may be shorter)")
    return None


def choose_layout(sweep: Sweep, policy: LayoutPolicy = "auto") -> tuple[Layout, str | None]:
    """(layout, warning). Policy "L" refuses what links cannot express."""
    reason = links_possible(sweep)
    if policy == "V":
        return "V", f"sweep {sweep.id}: layout V (virtual dataset) by configuration; {VDS_BLIND_READERS} cannot read it"
    if reason is None:
        return "L", None
    if policy == "L":
        raise RepackageError(f"sweep {sweep.id} cannot be written as links only: {reason}. Set nimages_per_file "
                             "to the wedge size, or allow layout V")
    return "V", (f"sweep {sweep.id} is written as a virtual dataset ({reason}); {VDS_BLIND_READERS} cannot read "
                 "it: use durin, DIALS or xia2")


def validate_inputs(collection: Collection, *, check_files: bool = True) -> list[str]:
    """§6 inputs: one sweep per wedge, disjoint global numbers, omega continuity, one wavelength,
    one dtype and frame shape. Returns warnings (unusual compression)."""
    warnings: list[str] = []
    seen: dict[int, str] = {}
    for w in collection.wedges:
        key = (w.order)
        if key in seen:
            raise RepackageError(f"wedge {w.order} belongs to sweeps {seen[key]} and {w.sweep}")
        seen[key] = w.sweep
    ranges = sorted((w.first_global, w.first_global + w.n - 1, w) for w in collection.wedges)
    for (a0, a1, wa), (b0, _b1, wb) in zip(ranges, ranges[1:]):
        if b0 <= a1:
            raise RepackageError(f"global images {b0}..{a1} belong to both {wa.label} and {wb.label}")
    ref_shape = ref_dtype = None
    for sweep in collection.sweeps:
        inc = sweep.omega_increment
        if inc == 0:
            raise RepackageError(f"sweep {sweep.id} has an omega increment of 0: not a rotation sweep")
        frame = 1
        prev = None
        for w in sweep.wedges:
            if abs(w.omega_increment - inc) > _tol(inc):
                raise RepackageError(f"sweep {sweep.id}: {w.label} steps omega by {w.omega_increment}°, the sweep by "
                                     f"{inc}°")
            if abs(w.wavelength_A - sweep.wavelength_A) > 1e-5 * sweep.wavelength_A:
                raise RepackageError(f"sweep {sweep.id}: {w.label} was collected at {w.wavelength_A:.5f} Å, the sweep "
                                     f"at {sweep.wavelength_A:.5f} Å (frame {frame}); one wavelength per sweep")
            if prev is not None:
                expected = prev.omega_end
                if abs(w.omega_start - expected) > _tol(inc):
                    kind = "gap" if (w.omega_start - expected) * np.sign(inc) > 0 else "overlap"
                    raise RepackageError(
                        f"sweep {sweep.id}: omega {kind} between frame {frame - 1} ({prev.label}, ends at "
                        f"{expected:.6g}°) and frame {frame} ({w.label}, starts at {w.omega_start:.6g}°)"
                    )
            if sum(s.count for s in w.segments) != w.n:
                raise RepackageError(f"{w.label}: its data files give {sum(s.count for s in w.segments)} frames, "
                                     f"the wedge {w.n}")
            frame += w.n
            prev = w
        if ref_shape is None:
            ref_shape, ref_dtype = sweep.frame_shape, sweep.dtype
        elif (sweep.frame_shape, sweep.dtype) != (ref_shape, ref_dtype):
            raise RepackageError(f"sweep {sweep.id} has {sweep.dtype} frames of {sweep.frame_shape}, sweep "
                                 f"{collection.sweeps[0].id} {ref_dtype} frames of {ref_shape}")
    if check_files:
        from .series import open_data_file

        for sweep in collection.sweeps:
            for seg in sweep.segments():
                n, shape, dtype, filters = open_data_file(seg.file.path, seg.file.dataset, what=f"sweep {sweep.id}")
                if n < seg.start + seg.count:
                    raise RepackageError(f"{seg.file.path} holds {n} frames; sweep {sweep.id} needs frame "
                                         f"{seg.start + seg.count} of it (truncated file?)")
                if (shape, np.dtype(dtype)) != (sweep.frame_shape, sweep.dtype):
                    raise RepackageError(f"{seg.file.path} holds {dtype} frames of {shape}; sweep {sweep.id} expects "
                                         f"{sweep.dtype} frames of {sweep.frame_shape}")
                odd = filters - {32008, 32004}
                if odd:
                    warnings.append(f"{seg.file.path.name} uses HDF5 filter(s) {sorted(odd)}: Neggia and durin "
                                    "read only bitshuffle/LZ4 (32008) and LZ4 (32004)")
    return warnings


# -- output ------------------------------------------------------------------------------------
def _check_ascii_nx_class(f: h5py.File, path: Path) -> tuple[list[str], list[str]]:
    nxdata, nxdet = [], []

    def visit(name: str, obj) -> None:
        if "NX_class" not in obj.attrs:
            return
        tid = obj.attrs.get_id("NX_class").get_type()
        if not isinstance(tid, h5py.h5t.TypeStringID) or tid.is_variable_str() or tid.get_cset() != h5py.h5t.CSET_ASCII:
            raise RepackageError(f"{path}: NX_class of /{name} is not a fixed-length ASCII string (durin refuses it)")
        cls = obj.attrs["NX_class"]
        cls = cls.decode() if isinstance(cls, bytes) else str(cls)
        if cls == "NXdata":
            nxdata.append(name)
        elif cls == "NXdetector":
            nxdet.append(name)

    f.visititems(visit)
    return nxdata, nxdet


def validate_master(path: Path, sweep: Sweep, *, read_frames: bool = True, use_nxmx: bool = True,
                    thorough: bool = True, target: Path | None = None) -> None:
    """§6 outputs, on a written (possibly still temporary) master file.

    ``target``: the name the file will have (default ``path``); it must end in ``_master.h5`` and
    names the file in messages. ``read_frames=False`` (masters written before the data exist):
    sources may be missing, and no frame is compared; everything else is checked.
    ``thorough=False`` compares the frames of the first and last wedge only.
    """
    final = Path(target) if target is not None else path
    shown = final if final == path else Path(f"{final} (not written)")
    if not final.name.endswith("_master.h5"):
        raise RepackageError(f"{final}: a sweep master's name must end in _master.h5 (XDS plugins find the master "
                             "by replacing ??????.h5 with master.h5)")
    if not sweep.wedges:
        raise RepackageError(f"{shown}: sweep {sweep.id} has no wedges")
    nP = sweep.n_frames
    with h5py.File(path, "r") as f:
        data = f["/entry/data"]
        keys = sorted(data.keys())
        if any(not k.startswith("data_") for k in keys if k.startswith("data")):
            raise RepackageError(f"{shown}: /entry/data holds {keys}; only data_NNNNNN names are allowed")
        base = path.parent
        sources: list[str] = []
        total = 0
        segs = sweep.segments()
        for i, k in enumerate(keys):
            link = data.get(k, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                # the block size is the linked file's, checked when it was opened directly; the
                # link itself must name that file, relative to the master
                sources.append(link.filename)
                seg = segs[i] if i < len(segs) and len(keys) == len(segs) else None
                if seg is None or os.path.normpath(base / link.filename) != os.path.normpath(seg.file.path):
                    raise RepackageError(f"{shown}: {k} points to {link.filename}, expected "
                                         f"{seg.file.path.name if seg else 'no link'}")
                if read_frames and not (base / link.filename).exists():
                    raise RepackageError(f"{shown}: {k} points to {link.filename}, which does not exist")
                total += seg.count
                continue
            ds = data[k]
            if ds.is_virtual:
                for vs in ds.virtual_sources():
                    sources.append(vs.file_name)
                    if read_frames and not (base / vs.file_name).exists():
                        raise RepackageError(f"{shown}: {k} maps frames from {vs.file_name}, which does not exist "
                                             "(a virtual dataset would return fill values)")
            total += ds.shape[0]
        for s in sources:
            if os.path.isabs(s) or s in ("", "."):
                raise RepackageError(f"{shown}: source path {s!r} is not a relative file name")
        omega_ds = f.get("/entry/sample/transformations/omega")
        if omega_ds is None:  # older "nearly NeXus" firmware: DECTRIS goniometer fields only
            omega_ds = f.get("/entry/sample/goniometer/omega")
        if omega_ds is None:
            raise RepackageError(f"{shown}: no omega angles (/entry/sample/transformations/omega)")
        omega = np.atleast_1d(omega_ds[()])
        ds = "/entry/instrument/detector/detectorSpecific"
        nimages = int(f[f"{ds}/nimages"][()]) * int(f[f"{ds}/ntrigger"][()])
        if not (len(omega) == nP == total == nimages):
            raise RepackageError(f"{shown}: frame counts disagree: omega {len(omega)}, data {total}, "
                                 f"nimages*ntrigger {nimages}, sweep {nP}")
        d = np.diff(omega)
        inc = sweep.omega_increment
        if len(d) and np.any(np.abs(d - inc) > _tol(inc)):
            k = int(np.argmax(np.abs(d - inc) > _tol(inc)))
            raise RepackageError(f"{shown}: omega steps {d[k]}° between frames {k + 1} and {k + 2}, expected {inc}°")
        nxdata, nxdet = _check_ascii_nx_class(f, shown) if thorough else (["entry/data"], ["detector"])
        if len(nxdata) != 1 or len(nxdet) != 1:
            raise RepackageError(f"{shown}: needs exactly one NXdata and one NXdetector, has {nxdata} and {nxdet}")
        if read_frames:
            wedges = sweep.wedges if thorough else [sweep.wedges[0], sweep.wedges[-1]]
            _compare_frames(data, keys, segs, wedges, shown)
    if use_nxmx:
        _check_nxmx(path, shown, sweep)


def _compare_frames(data: h5py.Group, keys: list[str], segs: list[Segment], wedges, shown: Path) -> None:
    """First and last frame of every wedge: through the master (dxtbx's EigerFilewriter lookup,
    data_NNNNNN in order) against a direct read of the data file at the expected index."""
    import bisect

    if len(keys) == 1 and data[keys[0]].is_virtual:
        starts, opened = [0], {keys[0]: data[keys[0]]}
    else:
        starts, k = [], 0
        for s in segs:
            starts.append(k)
            k += s.count
        opened = {}
    wanted: dict[Path, list[tuple[int, int, str, object]]] = {}
    for w in wedges:
        k0 = w.sweep_first_frame - 1
        for k, seg, j in ((k0, w.segments[0], 0), (k0 + w.n - 1, w.segments[-1], w.segments[-1].count - 1)):
            wanted.setdefault(seg.file.path, []).append((k, seg.start + j, seg.file.dataset, w))
    for path, items in wanted.items():
        with h5py.File(path, "r") as f:
            for k, idx, dset, w in items:
                i = bisect.bisect_right(starts, k) - 1
                key = keys[i]
                if key not in opened:
                    opened[key] = data[key]
                try:
                    via = opened[key][k - starts[i]]
                    direct = f[dset][idx]
                except (KeyError, OSError, IndexError, ValueError) as exc:
                    raise RepackageError(f"{shown}: frame {k + 1} ({w.label}) cannot be read through the sweep master "
                                         f"or from {path.name} (frame {idx + 1}): {exc}") from exc
                if via.shape != direct.shape or not np.array_equal(via, direct):
                    raise RepackageError(f"{shown}: frame {k + 1} ({w.label}) read through the sweep master differs "
                                         f"from frame {idx + 1} of {path.name}")
        for key in list(opened):  # close the linked file again
            if len(keys) > 1:
                del opened[key]


def _check_nxmx(path: Path, shown: Path, sweep: Sweep) -> None:
    try:
        import nxmx
    except ImportError:  # pragma: no cover - nxmx is a test dependency
        return
    with h5py.File(path, "r") as f:
        try:
            entries = nxmx.NXmx(f).entries
        except Exception as exc:  # noqa: BLE001 - any parse failure is a refusal
            raise RepackageError(f"{shown}: the nxmx reader cannot parse it: {exc}") from exc
        if "definition" in f["/entry"] and not entries:
            raise RepackageError(f"{shown}: nxmx finds no NXmx entry")
        if entries:
            e = entries[0]
            wl = float(np.asarray(e.instruments[0].beams[0].incident_wavelength).ravel()[0])
            if abs(wl - sweep.wavelength_A) > 1e-5 * sweep.wavelength_A:
                raise RepackageError(f"{shown}: nxmx reads wavelength {wl} Å, expected {sweep.wavelength_A}")
