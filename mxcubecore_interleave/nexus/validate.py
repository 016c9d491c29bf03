"""The checks of NXmx reference §6: on the inputs before writing, on the master after writing.

Every failure is a ``RepackageError`` naming the file and the frame; nothing is written.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import re
from pathlib import Path
from typing import Any, Literal

import h5py
import hdf5plugin  # noqa: F401
import numpy as np

from ..errors import RepackageError
from .model import Collection, Segment, Sweep


Layout = Literal["L", "V"]
LayoutPolicy = Literal["auto", "L", "V"]
# readers that cannot read layout V (NXmx reference §1, §3)
VDS_BLIND_READERS = "Neggia (XDS plugin) and eiger2cbf/H5ToXds"
# real-beamline.md §4: Durin decodes every linked file with the filter of data_000001
DURIN_FIRST_FILE_RULE = ("XDS's Durin plugin decodes every linked data file with the filter of the first "
                         "(its first-file rule) and would return wrong pixels without an error")


def _tol(inc: float) -> float:
    return 1e-6 * abs(inc)


def links_possible(sweep: Sweep) -> str | None:
    """None if layout L fits the sweep, else the reason it does not."""
    if sweep.mixed_storage:
        return sweep.mixed_storage
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
        hint = ("write the sweep as layout V (--layout auto or V)" if sweep.mixed_storage
                else "Set nimages_per_file to the wedge size, or allow layout V")
        raise RepackageError(f"sweep {sweep.id} cannot be written as links only: {reason}. {hint}")
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
        from .series import data_file_info

        for sweep in collection.sweeps:
            first: tuple | None = None
            for seg in sweep.segments():
                n, shape, dtype, filters, storage = data_file_info(seg.file.path, seg.file.dataset,
                                                                   what=f"sweep {sweep.id}")
                if n < seg.start + seg.count:
                    raise RepackageError(f"{seg.file.path} holds {n} frames; sweep {sweep.id} needs frame "
                                         f"{seg.start + seg.count} of it (truncated file?)")
                if (shape, np.dtype(dtype)) != (sweep.frame_shape, sweep.dtype):
                    raise RepackageError(f"{seg.file.path} holds {dtype} frames of {shape}; sweep {sweep.id} expects "
                                         f"{sweep.dtype} frames of {sweep.frame_shape}")
                if first is None:
                    first = (seg.file.path, storage)
                elif storage != first[1] and sweep.mixed_storage is None:
                    sweep.mixed_storage = (
                        f"{seg.file.path.name} is stored as {_storage_text(storage)}, the sweep's first data file "
                        f"{first[0].name} as {_storage_text(first[1])}: {DURIN_FIRST_FILE_RULE}")
                odd = filters - {32008, 32004}
                if odd:
                    warnings.append(f"{seg.file.path.name} uses HDF5 filter(s) {sorted(odd)}: Neggia and durin "
                                    "read only bitshuffle/LZ4 (32008) and LZ4 (32004)")
    return warnings


def _storage_text(storage: tuple) -> str:
    dtype, pipeline, chunks = storage
    names = {32008: "bitshuffle-LZ4", 32004: "LZ4", 1: "deflate", 2: "shuffle"}
    filt = "+".join(names.get(code, str(code)) for code in pipeline) or "no filter"
    return f"{np.dtype(dtype).name}, {filt}, chunks {chunks}"


# -- output ------------------------------------------------------------------------------------
DATA_NAME = re.compile(r"data_\d{6}")


def _fixed_ascii(tid) -> bool:
    return (isinstance(tid, h5py.h5t.TypeStringID) and not tid.is_variable_str()
            and tid.get_cset() == h5py.h5t.CSET_ASCII)


def _walk_tree(f: h5py.File, shown: Path) -> tuple[list[str], list[str]]:
    """§6.3–6.4 on the whole file: every NX_class fixed-length ASCII, every external link (not
    only those in /entry/data) relative, and those outside /entry/data resolving; returns the
    NXdata and NXdetector groups. (The visitors only collect: an exception raised inside an
    HDF5 visit callback does not come out cleanly.)"""
    nxdata: list[str] = []
    nxdet: list[str] = []
    problems: list[str] = []

    def obj(name: bytes) -> None:
        # by name from the file: no object id built per visited object (~100 per master)
        if not h5py.h5a.exists(f.id, b"NX_class", obj_name=name):
            return
        aid = h5py.h5a.open(f.id, b"NX_class", obj_name=name)
        if not _fixed_ascii(aid.get_type()):
            problems.append(f"NX_class of /{name.decode()} is not a fixed-length ASCII string (durin refuses it)")
            return
        buf = np.empty((), dtype=aid.dtype)
        aid.read(buf)
        cls = bytes(buf[()]).rstrip(b"\0")
        if cls == b"NXdata":
            nxdata.append(name.decode())
        elif cls == b"NXdetector":
            nxdet.append(name.decode())

    base = os.path.dirname(os.path.abspath(f.filename))

    def link(name: str, filename: str) -> None:
        if os.path.isabs(filename) or filename in ("", "."):
            problems.append(f"/{name} is an external link to {filename!r}, not a relative file name")
        elif not name.startswith("entry/data/") and not os.path.exists(os.path.join(base, filename)):
            # data links are checked with the frames (before the data exist they may dangle)
            problems.append(f"/{name} links to {filename}, which does not exist next to the sweep master")

    from .series import external_links

    h5py.h5o.visit(f.id, obj)
    for name, filename, _path in external_links(f.id):
        link(name, filename)
    if problems:
        raise RepackageError(f"{shown}: {problems[0]}")
    return nxdata, nxdet


class _Stack:
    """A 3-D dataset id with its shape and dtype asked once (each ``.shape``/``.dtype`` of an id
    builds a new HDF5 object, and hundreds of frames are checked per master)."""

    def __init__(self, dsid) -> None:
        self.id = dsid
        self.shape = tuple(dsid.shape)
        self.dtype = dsid.dtype
        self._frame_chunks: bool | None = None
        self._filters: tuple | None = None

    @property
    def frame_chunks(self) -> bool:
        """One frame per chunk (what DECTRIS writes): a frame's stored bytes are one raw chunk."""
        if self._frame_chunks is None:
            plist = self.id.get_create_plist()
            self._frame_chunks = (plist.get_layout() == h5py.h5d.CHUNKED
                                  and tuple(plist.get_chunk()) == (1, *self.shape[1:]))
        return self._frame_chunks

    @property
    def filters(self) -> tuple:
        """The filter pipeline (ids and parameters): equal bytes mean equal pixels only under it."""
        if self._filters is None:
            plist = self.id.get_create_plist()
            self._filters = tuple(plist.get_filter(i)[:3] for i in range(plist.get_nfilters()))
        return self._filters

    def check_index(self, index: int) -> None:
        if not 0 <= index < self.shape[0]:
            raise IndexError(f"frame {index + 1} of {self.shape[0]}")

    def frame(self, index: int) -> np.ndarray:
        """The decoded frame (this decompresses it)."""
        ny, nx = self.shape[1], self.shape[2]
        self.check_index(index)
        fspace = self.id.get_space()
        fspace.select_hyperslab((index, 0, 0), (1, ny, nx))
        out = np.empty((1, ny, nx), dtype=self.dtype)
        self.id.read(h5py.h5s.create_simple(out.shape), fspace, out)
        return out[0]

    def row(self, index: int) -> np.ndarray:
        """The first pixel row of the frame (HDF5 decodes the frame's chunk, but copies out one row)."""
        nx = self.shape[2]
        self.check_index(index)
        fspace = self.id.get_space()
        fspace.select_hyperslab((index, 0, 0), (1, 1, nx))
        out = np.empty((1, 1, nx), dtype=self.dtype)
        self.id.read(h5py.h5s.create_simple(out.shape), fspace, out)
        return out[0, 0]

    def raw(self, index: int) -> tuple[int, bytes]:
        """(filter mask, stored bytes) of the frame's chunk, not decompressed."""
        self.check_index(index)
        mask, data = self.id.read_direct_chunk((index, 0, 0))
        return int(mask), bytes(data)


def same_frame(via: _Stack, k: int, direct: _Stack, idx: int) -> bool:
    """Frame ``k`` of ``via`` holds the pixels of frame ``idx`` of ``direct``, decompressing
    nothing when the answer follows without: the same dataset object of the same open file
    at the same index is the same frame; identical raw chunks (filter mask and bytes) are
    identical pixels. Only chunks that differ in their bytes (other compression) are decoded."""
    via.check_index(k)
    direct.check_index(idx)
    if via.id == direct.id:  # h5py compares file number and object address
        if k == idx:
            return True
    if (via.frame_chunks and direct.frame_chunks and via.dtype == direct.dtype
            and via.filters == direct.filters):
        try:
            if via.raw(k) == direct.raw(idx):
                return True
        except (OSError, ValueError, KeyError):
            pass  # an unallocated chunk: the decoded read below gives the fill value
    return bool(np.array_equal(via.frame(k), direct.frame(idx)))


class _Direct:
    """Data files opened directly for the frame check: the run's open files when a run is in
    progress (no second open), else opened here and closed by ``close``."""

    def __init__(self) -> None:
        from .datafiles import current

        self.run = current()
        self.own: dict[tuple[Path, str], tuple[object, _Stack]] = {}
        self.stacks: dict[tuple[Path, str], _Stack] = {}

    def get(self, path: Path, dataset: str, via: _Stack | None = None) -> _Stack:
        """``via``: a dataset opened through a sweep master's link; when HDF5 resolved that link
        to this very file (the name it opened, no HDF5_EXT_PREFIX redirecting links), it is the
        file's own dataset and is used as it is, instead of opening the file a second time."""
        key = (path, dataset)
        st = self.stacks.get(key)
        if st is not None:
            return st
        dsid = self.run.dataset(path, dataset) if self.run is not None else None
        if dsid is None and via is not None and not os.environ.get("HDF5_EXT_PREFIX"):
            name = os.path.normpath(os.fsdecode(h5py.h5f.get_name(via.id)))
            if name == os.path.normpath(path) and h5py.h5i.get_name(via.id) == dataset.encode():
                return via  # not kept: the caller's link open closes it
        if dsid is None:
            fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY)
            try:
                dsid = h5py.h5d.open(fid, dataset.encode())
            except BaseException:
                fid.close()
                raise
            self.own[key] = (fid, None)  # type: ignore[assignment]
        st = self.stacks[key] = _Stack(dsid)
        if key in self.own:
            self.own[key] = (self.own[key][0], st)
        return st

    def close(self) -> None:
        for fid, st in self.own.values():
            if st is not None:
                st.id.close()
            fid.close()
        self.own.clear()
        self.stacks.clear()


class _FrameCheck:
    """First and last frame of every wedge (§6 output 1): the frame a reader gets through the
    sweep master at the index dxtbx's EigerFilewriter lookup gives (blocks in order, by their
    actual shape[0]) must be the frame of the data file at the expected index. Failures are
    kept until the frame counts are known: a wrong count explains a wrong frame better than
    the frame does."""

    def __init__(self, sweep: Sweep, shown: Path) -> None:
        self.shown = shown
        self.wanted: list[tuple[int, Segment, int, object]] = []  # (master frame, segment, index in file, wedge)
        for w in sweep.wedges:
            k0 = w.sweep_first_frame - 1
            first, last = w.segments[0], w.segments[-1]
            self.wanted.append((k0, first, first.start, w))
            if w.n > 1:
                self.wanted.append((k0 + w.n - 1, last, last.start + last.count - 1, w))
        self.wanted.sort(key=lambda x: x[0])
        self.keys = [x[0] for x in self.wanted]
        self.failure: str | None = None
        self.direct = _Direct()

    def close(self) -> None:
        self.direct.close()

    def fail(self, message: str) -> None:
        if self.failure is None:
            self.failure = message

    def _unreadable(self, k: int, w: Any, path: Path, idx: int, why: object) -> str:
        return (f"{self.shown}: frame {k + 1} ({w.label}) cannot be read through the sweep master "
                f"or from {path.name} (frame {idx + 1}): {why}")

    def _differs(self, k: int, w: Any, path: Path, idx: int) -> str:
        return (f"{self.shown}: frame {k + 1} ({w.label}) read through the sweep master differs "
                f"from frame {idx + 1} of {path.name}")

    def check_block(self, via: _Stack, start: int, n: int) -> None:
        """Layout L: the wanted frames that fall into the block [start, start+n) of ``via``."""
        lo, hi = bisect.bisect_left(self.keys, start), bisect.bisect_left(self.keys, start + n)
        for k, seg, idx, w in self.wanted[lo:hi]:
            if self.failure:
                return
            path = seg.file.path
            try:
                same = same_frame(via, k - start, self.direct.get(path, seg.file.dataset, via), idx)
            except (KeyError, OSError, IndexError, ValueError) as exc:
                self.fail(self._unreadable(k, w, path, idx, exc))
                continue
            if not same:
                self.fail(self._differs(k, w, path, idx))
        if self.direct.run is None:
            self.direct.close()  # outside a run: no more files open at once than one block needs

    def check_virtual(self, via: _Stack, runs: list[tuple[int, int, str, str, int]], sweep: Sweep,
                      lengths: dict[tuple[str, str], int], plist: Any = None) -> None:
        """Layout V, from the virtual layout itself: every wanted frame maps to its file, dataset
        and index; the whole mapping equals the sweep's (every frame, not only the wanted ones);
        every source holds the frames mapped from it; then one frame is decoded through the
        virtual dataset per storage (dtype, filter pipeline, chunks) among the sources: HDF5
        resolves a relative source against the master's directory and its filter decodes it (a
        source it cannot open reads as fill). Every other source is the file the run opened at
        that very path (the mapping equals the sweep's), so it resolves the same way; only when
        ``HDF5_VDS_PREFIX`` redirects sources is one frame per source file decoded and compared."""
        starts = [r[0] for r in runs]
        for k, seg, idx, w in self.wanted:
            n = lengths.get((os.fspath(seg.file.path), seg.file.dataset))
            if n is not None and idx >= n:
                self.fail(self._unreadable(k, w, seg.file.path, idx, f"frame {idx + 1} of {n}"))
                return
            i = bisect.bisect_right(starts, k) - 1
            got = None if i < 0 or k >= runs[i][0] + runs[i][1] else (runs[i][2], runs[i][3], runs[i][4] + k - runs[i][0])
            if got != (os.fspath(seg.file.path), seg.file.dataset, idx):
                self.fail(self._differs(k, w, seg.file.path, idx))
                return
        expected = _runs([(s.file, s.start, s.count) for s in sweep.segments()])
        if _merge(runs) != expected:
            for a, b in zip(_merge(runs) + [None], expected + [None]):  # type: ignore[operator]
                if a != b:
                    break
            what = "nothing" if a is None else f"frames {a[0] + 1}..{a[0] + a[1]} to {Path(a[2]).name} {a[4] + 1}.."
            want = "nothing" if b is None else f"frames {b[0] + 1}..{b[0] + b[1]} from {Path(b[2]).name} {b[4] + 1}.."
            self.fail(f"{self.shown}: data_000001 maps {what}; sweep {sweep.id} has {want}")
            return
        for _k, count, path, dataset, start in runs:
            n = lengths[(path, dataset)]
            if start + count > n:
                self.fail(f"{self.shown}: data_000001 maps frames {start + 1}..{start + count} of {Path(path).name}, "
                          f"which holds {n} (the rest would read as fill values)")
                return
        from .series import data_storage

        decoded: set[object] = set()
        prefix = bool(os.environ.get("HDF5_VDS_PREFIX"))
        fill = np.zeros((), dtype=via.dtype)
        # once (``plist``: the caller's copy of via's creation list): a VDS's plist copies every mapping
        (via.id.get_create_plist() if plist is None else plist).get_fill_value(fill)
        for k, seg, idx, w in self.wanted:
            # per source file under a prefix (it may redirect each), else per storage
            key = os.fspath(seg.file.path) if prefix else data_storage(seg.file.path, seg.file.dataset)
            if key in decoded:
                continue
            decoded.add(key)
            try:
                # a pixel that is not the fill value proves HDF5 opened and decoded the source (an
                # unopened source reads as fill everywhere): the first row tells without copying out
                # the frame; only a row of fill values reads the whole frame, as before
                if prefix or not np.any(via.row(k) != fill[()]):
                    got_frame = via.frame(k)
                    suspicious = prefix or bool(np.all(got_frame == fill[()]))
                else:
                    suspicious = False
                if suspicious:  # a redirected or unread source: compare with the data file itself
                    same = np.array_equal(got_frame, self.direct.get(seg.file.path, seg.file.dataset).frame(idx))
                else:
                    same = True
            except (KeyError, OSError, IndexError, ValueError) as exc:
                self.fail(self._unreadable(k, w, seg.file.path, idx, exc))
                return
            if not same:
                self.fail(self._differs(k, w, seg.file.path, idx))
                return


def _runs(items) -> list[tuple[int, int, str, str, int]]:
    """(first frame in the master, count, file, dataset, first index in the file), merged."""
    out: list[tuple[int, int, str, str, int]] = []
    k = 0
    for f, start, count in items:
        out.append((k, count, os.fspath(f.path), f.dataset, start))
        k += count
    return _merge(out)


def _merge(runs: list[tuple[int, int, str, str, int]]) -> list[tuple[int, int, str, str, int]]:
    out: list[tuple[int, int, str, str, int]] = []
    for r in sorted(runs):
        if out:
            p = out[-1]
            if p[2:4] == r[2:4] and p[0] + p[1] == r[0] and p[4] + p[1] == r[4]:
                out[-1] = (p[0], p[1] + r[1], p[2], p[3], p[4])
                continue
        out.append(r)
    return out


def _source_lengths(runs: list[tuple[int, int, str, str, int]], sweep: Sweep) -> dict[tuple[str, str], int]:
    """Frames each source holds now (its header, read once per run)."""
    from .series import open_data_file

    out: dict[tuple[str, str], int] = {}
    for _k, _count, path, dataset, _start in runs:
        if (path, dataset) not in out:
            out[(path, dataset)] = open_data_file(Path(path), dataset, what=f"sweep {sweep.id}")[0]
    return out


def _box(space, frame: tuple[int, int]) -> tuple[int, int] | None:
    """(first frame, count) if the selection of ``space`` is whole frames first..first+count-1."""
    if space.get_select_type() == h5py.h5s.SEL_NONE:
        return None
    lo, hi = space.get_select_bounds()
    if tuple(lo[1:]) != (0, 0) or tuple(hi[1:]) != (frame[0] - 1, frame[1] - 1):
        return None
    count = hi[0] - lo[0] + 1
    if space.get_select_npoints() != count * frame[0] * frame[1]:
        return None
    return int(lo[0]), int(count)


def _blocks(f: h5py.File, sweep: Sweep, shown: Path, read_frames: bool, frames: _FrameCheck) -> int:
    """§6 outputs 1–3 on /entry/data; returns the frames a reader finds there (layout L: the sum
    of every linked dataset's shape[0], opened through its link as dxtbx does; layout V: the
    virtual dataset's length). Before the data exist, links cannot be opened: their planned
    counts stand in."""
    data = f.get("/entry/data")
    if not isinstance(data, h5py.Group):
        raise RepackageError(f"{shown}: no /entry/data group")
    keys = sorted(data)
    if not keys or any(not DATA_NAME.fullmatch(k) for k in keys if k.startswith("data")):
        raise RepackageError(f"{shown}: /entry/data holds {keys}; only data_NNNNNN names are allowed")
    keys = [k for k in keys if DATA_NAME.fullmatch(k)]
    if keys != [f"data_{i + 1:06d}" for i in range(len(keys))]:
        raise RepackageError(f"{shown}: /entry/data holds {keys}; Neggia and durin need data_000001.. without gaps")
    base = os.path.dirname(os.path.abspath(f.filename))
    segs = sweep.segments()
    links = data.id.links
    kinds = {links.get_info(k.encode()).type for k in keys}
    if kinds == {h5py.h5l.TYPE_EXTERNAL}:  # layout L
        if len(keys) != len(segs):
            raise RepackageError(f"{shown}: {len(keys)} links for {len(segs)} data files of sweep {sweep.id}")
        total = 0
        for k, seg in zip(keys, segs):
            filename, dset = (x.decode() for x in links.get_val(k.encode()))
            if os.path.isabs(filename) or filename in ("", "."):
                raise RepackageError(f"{shown}: source path {filename!r} of {k} is not a relative file name")
            path = os.path.normpath(os.path.join(base, filename))
            if path != os.path.normpath(seg.file.path) or dset != seg.file.dataset:
                raise RepackageError(f"{shown}: {k} points to {filename}:{dset}, expected "
                                     f"{seg.file.path.name}:{seg.file.dataset}")
            if not read_frames:
                total += seg.count
                continue
            try:
                dsid = h5py.h5o.open(data.id, k.encode())  # through the link, as every reader does
            except (KeyError, OSError, ValueError) as exc:
                if not os.path.exists(path):
                    raise RepackageError(f"{shown}: {k} points to {filename}, which does not exist") from None
                raise RepackageError(f"{shown}: {k} cannot be opened through its link to {filename}: {exc}") from exc
            try:
                if not isinstance(dsid, h5py.h5d.DatasetID):
                    raise RepackageError(f"{shown}: {k} ({filename}:{dset}) is not a dataset")
                stack = _Stack(dsid)
                if len(stack.shape) != 3:
                    raise RepackageError(f"{shown}: {k} ({filename}:{dset}) is not a 3-D image stack")
                if stack.shape[1:] != tuple(sweep.frame_shape) or stack.dtype != sweep.dtype:
                    raise RepackageError(f"{shown}: {k} ({filename}) holds {stack.dtype} frames of "
                                         f"{stack.shape[1:]}, sweep {sweep.id} {sweep.dtype} frames of "
                                         f"{tuple(sweep.frame_shape)}")
                n = int(stack.shape[0])
                frames.check_block(stack, total, n)
            finally:
                dsid.close()
            total += n
        return total
    if kinds == {h5py.h5l.TYPE_HARD} and keys == ["data_000001"]:  # layout V
        ds = data["data_000001"]
        # one copy of the creation list (a VDS's copies every mapping: ~1 ms at 144 sources), shared
        # by the layout test, the mapping walk and the fill value; low-level: h5py's
        # virtual_sources() costs ~0.2 ms per source
        dcpl = ds.id.get_create_plist()
        if dcpl.get_layout() != h5py.h5d.VIRTUAL:
            raise RepackageError(f"{shown}: /entry/data/data_000001 holds pixel data; a sweep master only points to "
                                 "the data files")
        mapped = 0
        shape, dtype = ds.shape, ds.dtype
        ny, nx = shape[1:]
        runs: list[tuple[int, int, str, str, int]] = []
        exact = True
        for i in range(dcpl.get_virtual_count()):
            file_name = dcpl.get_virtual_filename(i)
            if os.path.isabs(file_name) or file_name in ("", "."):
                raise RepackageError(f"{shown}: source path {file_name!r} is not a relative file name")
            full = os.path.join(base, file_name)
            if read_frames and not os.path.exists(full):
                raise RepackageError(f"{shown}: data_000001 maps frames from {file_name}, which does not exist "
                                     "(a virtual dataset would return fill values)")
            vspace = dcpl.get_virtual_vspace(i)
            points = vspace.get_select_npoints()
            if points == 0:
                continue  # an empty mapping maps no frame (and HDF5 has no bounds for it): the count below tells
            mapped += points // (ny * nx)
            v, src = _box(vspace, (ny, nx)), _box(dcpl.get_virtual_srcspace(i), (ny, nx))
            if v is None or src is None or v[1] != src[1]:
                exact = False  # not whole frames onto whole frames: no reader-visible frame mapping
                continue
            runs.append((v[0], v[1], os.path.normpath(full), dcpl.get_virtual_dsetname(i), src[0]))
        if mapped != shape[0]:
            raise RepackageError(f"{shown}: data_000001 maps {mapped} of its {shape[0]} frames; the others would "
                                 "read as fill values")
        if tuple(shape[1:]) != tuple(sweep.frame_shape) or dtype != sweep.dtype:
            raise RepackageError(f"{shown}: data_000001 holds {dtype} frames of {tuple(shape[1:])}, sweep "
                                 f"{sweep.id} {sweep.dtype} frames of {tuple(sweep.frame_shape)}")
        if not exact:
            frames.fail(f"{shown}: data_000001 maps parts of frames, not whole frames of its data files")
        elif read_frames:
            frames.check_virtual(_Stack(ds.id), runs, sweep, _source_lengths(runs, sweep), plist=dcpl)
        return int(shape[0])
    raise RepackageError(f"{shown}: /entry/data must be external links only (layout L) or one virtual dataset "
                         f"data_000001 (layout V), has {keys}")


def _axis(f: h5py.File, name: str) -> tuple[np.ndarray | None, str | None]:
    from .series import _float_array

    return _float_array(f, f"/entry/sample/transformations/{name}", f"/entry/sample/goniometer/{name}")


def validate_master(path: Path, sweep: Sweep, *, read_frames: bool = True, use_nxmx: bool = True,
                    target: Path | None = None) -> None:
    """§6 outputs, on a written (possibly still temporary) master file, opened once.

    ``target``: the name the file will have (default ``path``); it must end in ``_master.h5`` and
    names the file in messages. ``read_frames=False`` (masters written before the data exist):
    sources may be missing, links are not opened and no frame is compared; everything else is
    checked. ``use_nxmx``: also parse the file with nxmx, if installed (§6 output 6).
    """
    from .pixel_mask import mask_problem
    from .series import first_irregular, omega_spans, omega_steps, omega_tolerance

    final = Path(target) if target is not None else path
    shown = final if final == path else Path(f"{final} (not written)")
    if not final.name.endswith("_master.h5"):
        raise RepackageError(f"{final}: a sweep master's name must end in _master.h5 (XDS plugins find the master "
                             "by replacing ??????.h5 with master.h5)")
    if not sweep.wedges:
        raise RepackageError(f"{shown}: sweep {sweep.id} has no wedges")
    nP = sweep.n_frames
    inc = sweep.omega_increment
    frames = _FrameCheck(sweep, shown)
    with contextlib.closing(frames), h5py.File(path, "r") as f:
        total = _blocks(f, sweep, shown, read_frames, frames)
        omega, omega_path = _axis(f, "omega")
        if omega is None:
            raise RepackageError(f"{shown}: no omega angles (/entry/sample/transformations/omega)")
        ds = "/entry/instrument/detector/detectorSpecific"
        try:
            nimages = int(f[f"{ds}/nimages"][()]) * int(f[f"{ds}/ntrigger"][()])
        except KeyError as exc:
            raise RepackageError(f"{shown}: no {ds}/nimages and ntrigger (Neggia counts frames with them)") from exc
        if not (len(omega) == nP == total == nimages):
            raise RepackageError(f"{shown}: frame counts disagree: omega {len(omega)}, data {total}, "
                                 f"nimages*ntrigger {nimages}, sweep {nP}")
        if frames.failure:
            raise RepackageError(frames.failure)
        mask = mask_problem(f, sweep.frame_shape)
        if mask is not None:
            raise RepackageError(f"{shown}: {mask}")
        omega_end, _ = _axis(f, "omega_end")
        tol = omega_tolerance(inc, omega, omega_end)
        if abs(float(omega[0]) - sweep.omega_start) > tol:
            raise RepackageError(f"{shown}: omega starts at {float(omega[0])}°, sweep {sweep.id} at {sweep.omega_start}°")
        bad = first_irregular(omega_steps(omega), inc, tol)
        if bad is not None:
            k, step = bad
            raise RepackageError(f"{shown}: omega steps {step}° between frames {k + 1} and {k + 2}, expected {inc}°")
        if omega_end is not None:
            if omega_end.shape != omega.shape or first_irregular(omega_spans(omega, omega_end), inc, tol) is not None:
                raise RepackageError(f"{shown}: {omega_path}_end is not omega + {inc}° for every frame")
        wl = f.get("/entry/instrument/beam/incident_wavelength")
        wl = None if wl is None else np.atleast_1d(wl[()]).astype(np.float64)
        if wl is None or np.any(np.abs(wl - sweep.wavelength_A) > 1e-5 * sweep.wavelength_A):
            raise RepackageError(f"{shown}: incident_wavelength is {wl}, sweep {sweep.id} is at {sweep.wavelength_A} Å")
        nxdata, nxdet = _walk_tree(f, shown)
        if len(nxdata) != 1 or len(nxdet) != 1:
            raise RepackageError(f"{shown}: needs exactly one NXdata and one NXdetector, has {nxdata} and {nxdet}")
        if use_nxmx:
            _check_nxmx(f, shown, sweep, total)


def nxmx_available() -> bool:
    """Whether nxmx is installed, without importing it (nxmx and scipy cost ~0.3 s): it is
    imported by the check itself."""
    import importlib.util

    return importlib.util.find_spec("nxmx") is not None


def _check_nxmx(f: h5py.File, shown: Path, sweep: Sweep, n_frames: int) -> None:
    """§6 output 6, as dxtbx's nxmx reader sees the file (dxtbx/nexus/__init__.py: get_dxtbx_scan,
    get_raw_data): the scan axis omega, its start, its step (median of omega_end - omega, else of
    the differences), len(omega) == frames, the wavelength, and for a virtual dataset (the only
    layout with a signal) the signal's length. An "nearly NeXus" master without definition gives
    no entry: nothing to check."""
    try:
        import nxmx
    except ImportError:  # pragma: no cover - nxmx is a test dependency; write_collection warns
        return
    try:
        entries = nxmx.NXmx(f).entries
        if not entries:
            if "definition" in f["/entry"]:
                raise RepackageError(f"{shown}: nxmx finds no NXmx entry")
            return
        e = entries[0]
        wl = e.instruments[0].beams[0].incident_wavelength
        wl = np.atleast_1d(wl.to("angstrom").magnitude if hasattr(wl, "to") else wl).astype(np.float64)
        chain = nxmx.get_dependency_chain(e.samples[0].depends_on)
        axes = {t.path.rsplit("/", 1)[-1]: t for t in chain}
        rot = nxmx.get_rotation_axes(chain)
        scan_names = [str(n) for n in rot.names[rot.is_scan_axis]]
        omega_axis = axes.get("omega")
        if omega_axis is None:
            raise RepackageError(f"{shown}: nxmx finds no omega in the sample's depends_on chain "
                                 f"({', '.join(axes)})")
        omega = omega_axis[()].to("degree").magnitude
        end = omega_axis.end
        end = None if end is None else np.atleast_1d(end[()].to("degree").magnitude)
        signal = e.data[0].signal if e.data else None
        signal_len = int(e.data[0][signal].shape[0]) if signal else None
    except RepackageError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure is a refusal
        raise RepackageError(f"{shown}: the nxmx reader cannot parse it: {exc}") from exc
    inc = sweep.omega_increment
    if np.any(np.abs(wl - sweep.wavelength_A) > 1e-5 * sweep.wavelength_A):
        raise RepackageError(f"{shown}: nxmx reads wavelength {wl} Å, expected {sweep.wavelength_A}")
    if len(omega) != n_frames:
        raise RepackageError(f"{shown}: nxmx reads {len(omega)} omega angles (dxtbx's scan length) for {n_frames} "
                             "frames")
    if n_frames > 1 and scan_names != ["omega"]:
        raise RepackageError(f"{shown}: nxmx finds the scan axes {scan_names}, expected omega alone")
    from .series import omega_tolerance

    tol = omega_tolerance(inc, omega)
    if abs(float(omega[0]) - sweep.omega_start) > tol:
        raise RepackageError(f"{shown}: nxmx reads scan start {float(omega[0])}°, expected {sweep.omega_start}°")
    if end is not None and end.shape == omega.shape:
        step = float(np.median(end - omega))
    elif len(omega) > 1:
        step = float(np.median(np.diff(omega)))
    else:
        step = inc
    if abs(step - inc) > tol:
        raise RepackageError(f"{shown}: nxmx reads an omega step of {step}°, expected {inc}°")
    if signal_len is not None and signal_len != n_frames:
        raise RepackageError(f"{shown}: nxmx's signal {signal} holds {signal_len} frames, expected {n_frames}")
