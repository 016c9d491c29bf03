"""Read what one detector series (a DECTRIS ``*_master.h5`` and its data files) holds.

Every data file is opened directly (not through the master's link), so a missing, truncated or
foreign file is named in the error instead of turning into a short or silently filled read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (registers bitshuffle/LZ4 for h5py)
import numpy as np

from ..errors import RepackageError
from ..h5ascii import read_str
from .datafiles import OpenDataFiles
from .datafiles import current as current_files
from .model import DEFAULT_DATASET, DataFile

READABLE_FILTERS = {32008, 32004}  # bitshuffle+LZ4, LZ4: what Neggia and durin decode


@dataclass
class SeriesInfo:
    master: Path
    data_files: list[DataFile]
    frame_shape: tuple[int, int]
    dtype: np.dtype
    filters: set[int]
    omega: np.ndarray  # per-frame start angles as the master states them
    omega_increment: float
    wavelength_A: float | None
    kappa: float | None
    phi: float | None
    start_time: str | None
    end_time: str | None
    nimages_total: int  # nimages * ntrigger from detectorSpecific
    frame_time: float | None = None

    @property
    def n(self) -> int:
        return sum(f.n for f in self.data_files)

    @property
    def name(self) -> str:
        return self.master.name[: -len("_master.h5")] if self.master.name.endswith("_master.h5") else self.master.stem


_SCALAR_SPACE = h5py.h5s.create(h5py.h5s.SCALAR)


class _Reader:
    """Low-level reads from one open file: a master has many small datasets, the high-level API
    costs ~0.2 ms per read (the 144-wedge benchmark reads ~1 200 of them). Datasets are opened
    by full path; groups (only ``/entry/data`` is iterated) once each."""

    def __init__(self, fid) -> None:
        self.fid = fid
        self._groups: dict[str, object] = {}

    def group(self, path: str):
        """The group at ``path`` (opened once), or None if there is none (or it is no group)."""
        if path not in self._groups:
            try:
                self._groups[path] = h5py.h5g.open(self.fid, (path or "/").encode())
            except (KeyError, ValueError, TypeError):
                self._groups[path] = None
        return self._groups[path]

    def close(self) -> None:
        for g in self._groups.values():
            if g is not None:
                g.close()
        self._groups.clear()

    def dataset(self, path: str):
        """The dataset at the full ``path``, or None (no such object, or not a dataset). By full
        path: a master's 8 reads then open no group objects (measured ~10 % cheaper than opening
        the 4 groups and each dataset by name in them)."""
        try:
            return h5py.h5d.open(self.fid, path.encode())
        except (KeyError, ValueError, TypeError):
            return None

    def scalar(self, path: str) -> float | None:
        """First value of a numeric dataset, or None."""
        dsid = self.dataset(path)
        if dsid is None:
            return None
        out = np.empty((), dtype=np.float64)
        try:  # one stored number (a scalar or a 1-element dataset): one read, HDF5 converts it
            dsid.read(_SCALAR_SPACE, h5py.h5s.ALL, out, mtype=h5py.h5t.NATIVE_DOUBLE)
            return float(out)
        except OSError:
            pass  # not numeric, or not one number: below
        dtype = dsid.dtype  # each .dtype/.shape of an id builds a new HDF5 object: ask once
        if dtype.kind not in "iuf":
            return None
        arr = np.empty(dsid.shape, dtype=dtype)
        if arr.size == 0:
            return None
        dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, arr)
        return float(arr.ravel()[0])

    def first(self, *paths: str) -> float | None:
        for p in paths:
            v = self.scalar(p)
            if v is not None:
                return v
        return None

    def floats(self, *paths: str) -> tuple[np.ndarray | None, str | None]:
        """The first of ``paths`` that exists, as a 1-D array in its stored float type (the type
        sets the rounding the omega checks allow)."""
        for p in paths:
            dsid = self.dataset(p)
            if dsid is None:
                continue
            dtype = dsid.dtype
            dtype = dtype if dtype.kind == "f" else np.dtype(np.float64)
            arr = np.empty(dsid.shape, dtype=dtype)
            dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, arr)
            return np.atleast_1d(arr), p
        return None, None

    def string(self, path: str) -> str | None:
        dsid = self.dataset(path)
        if dsid is None:
            return None
        tid = dsid.get_type()
        if isinstance(tid, h5py.h5t.TypeStringID) and not tid.is_variable_str() and dsid.shape == ():
            arr = np.empty((), dtype=dsid.dtype)
            dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, arr)
            return read_str(arr)
        return read_str(h5py.Dataset(dsid)[()])


def _scalar(f: h5py.File, path: str) -> float | None:
    """First value of a numeric dataset of an open file, or None."""
    return _Reader(f.id).scalar(path)


def _float_array(f: h5py.File, *paths: str) -> tuple[np.ndarray | None, str | None]:
    return _Reader(f.id).floats(*paths)


def external_links(gid) -> list[tuple[str, str, str]]:
    """(link, file name, object path) of every external link below a group or file id (low-level:
    h5py's visititems_links builds an object per link, and a sweep master has hundreds)."""
    found: list[bytes] = []
    gid.links.visit(lambda name, info: found.append(name) if info.type == h5py.h5l.TYPE_EXTERNAL else None, info=True)
    out = []
    for name in found:
        filename, path = gid.links.get_val(name)
        out.append((name.decode(), filename.decode(), path.decode()))
    return out


def omega_tolerance(inc: float, *arrays: np.ndarray) -> float:
    """How far a step may be from ``inc``: 1e-6·|inc| (NXmx reference §6), or the rounding of the
    stored float type at the angles stored (float32 angles near 360° carry ~3e-5°)."""
    tol = 1e-6 * abs(inc)
    for a in arrays:
        if a is not None and a.size and a.dtype.kind == "f":
            tol = max(tol, 4 * float(np.finfo(a.dtype).eps) * max(1.0, float(np.max(np.abs(a)))))
    return tol


def first_irregular(values: np.ndarray, inc: float, tol: float) -> tuple[int, float] | None:
    """(k, value) of the first of ``values`` (omega steps, or omega_end - omega spans) that is not
    ``inc`` within ``tol``; None when all are."""
    bad = np.flatnonzero(np.abs(values - inc) > tol)
    return None if not bad.size else (int(bad[0]), float(values[bad[0]]))


def omega_steps(omega: np.ndarray) -> np.ndarray:
    return np.diff(omega.astype(np.float64))


def omega_spans(omega: np.ndarray, omega_end: np.ndarray) -> np.ndarray:
    return omega_end.astype(np.float64) - omega.astype(np.float64)


def check_omega(master: Path, omega: np.ndarray, inc: float, inc_path: str | None,
                omega_end: np.ndarray | None = None, end_path: str | None = None) -> None:
    """Refuse a series whose per-frame omega is not ``omega[0] + k·inc``: the sweep master would
    state a regular scan the detector did not collect. Checks every step (and every frame's
    ``omega_end - omega`` when stored) against the declared increment."""
    declared = f"the series declares {inc:g}°" + (f" ({inc_path})" if inc_path else "")
    tol = omega_tolerance(inc, omega, omega_end)
    bad = first_irregular(omega_steps(omega), inc, tol)
    if bad is not None:
        k, step = bad
        raise RepackageError(f"{master}: omega steps {step:.6g}° between frames {k + 1} and {k + 2} "
                             f"({omega[k]:.6g}° to {omega[k + 1]:.6g}°), but {declared}; a wedge must "
                             "rotate by one constant step")
    if omega_end is not None and omega_end.shape == omega.shape:
        bad = first_irregular(omega_spans(omega, omega_end), inc, tol)
        if bad is not None:
            k, span = bad
            raise RepackageError(f"{master}: frame {k + 1} spans {span:.6g}° ({end_path} - omega), but "
                                 f"{declared}")


def dataset_filters(ds: h5py.Dataset) -> set[int]:
    plist = ds.id.get_create_plist()
    return {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}


@dataclass(frozen=True)
class _Header:
    n: int
    shape: tuple[int, ...]
    dtype: np.dtype
    filters: frozenset[int]
    image_nr_low: int | None
    storage: tuple = ()  # (filter codes in pipeline order, chunk shape): what a reader must decode


_HEADERS: dict[tuple, _Header] = {}


def _first_int(aid) -> int:
    """The first value of an attribute as an int. One number (what DECTRIS writes): one read
    converting to int64, no type object built (32 -> 17 us per data file); else as stored."""
    if aid.shape in ((), (1,)):  # the buffer must hold what HDF5 writes: h5py does not check its size
        buf = np.empty(1, dtype=np.int64)
        try:
            aid.read(buf, mtype=h5py.h5t.NATIVE_INT64)
            return int(buf[0])
        except TypeError:  # not a number (a string): read as stored, below
            pass
    buf = np.empty(aid.shape, dtype=aid.dtype)
    aid.read(buf)
    return int(buf.ravel()[0])


def _data_header(path: Path, dataset: str, ctx: str) -> _Header:
    """The header of a data file, cached by (path, size, mtime, inode). Inside a run
    (``datafiles.one_open_per_file``) the file stays open for the link and frame checks, and its
    header is read once: the series read, the input checks and the master's checks all ask for
    it (4-5 times per data file), and what HDF5 returns from a file it holds open does not change."""
    run = current_files()
    spath = os.fspath(path)
    if run is not None:
        hdr = run.headers.get((spath, dataset))
        if hdr is not None:
            return hdr
    try:
        st = os.stat(spath)
    except FileNotFoundError:
        raise RepackageError(f"data file {path} is missing{ctx}; nothing was written") from None
    key = (spath, dataset, st.st_size, st.st_mtime_ns, st.st_ino)
    hdr = _HEADERS.get(key)
    if hdr is not None:
        if run is not None and run.dataset(spath, dataset) is not None:
            run.headers[(spath, dataset)] = hdr
        return hdr
    if run is None:  # outside a run: open, read, close
        run = OpenDataFiles(limit=0)
    try:  # low-level throughout: this runs once per data file of the collection (1 152 in the benchmark)
        dsid, kept = run.open(path, dataset)
    except OSError as exc:
        raise RepackageError(f"cannot read data file {path}{ctx}: {exc} (truncated or not HDF5?)") from exc
    except (KeyError, ValueError):
        raise RepackageError(f"{path}{ctx} has no dataset {dataset}: not a DECTRIS data file") from None
    try:
        low = None
        try:
            aid = h5py.h5a.open(dsid, b"image_nr_low")
        except KeyError:
            pass
        else:
            low = _first_int(aid)
        plist = dsid.get_create_plist()
        pipeline = tuple(plist.get_filter(i)[0] for i in range(plist.get_nfilters()))  # in order
        filters = frozenset(pipeline)
        chunks = plist.get_chunk() if plist.get_layout() == h5py.h5d.CHUNKED else None
        shape = dsid.shape  # a tuple of ints; each .shape/.dtype builds an HDF5 object: once
        hdr = _Header(shape[0] if shape else 0, shape, dsid.dtype, filters, low, (pipeline, chunks))
    except OSError as exc:
        raise RepackageError(f"cannot read data file {path}{ctx}: {exc} (truncated or not HDF5?)") from exc
    finally:
        if not kept:
            dsid.close()
    if len(_HEADERS) > 100_000:
        _HEADERS.clear()
    _HEADERS[key] = hdr
    if kept:
        run.headers[(spath, dataset)] = hdr
    return hdr


def open_data_file(path: Path, dataset: str = DEFAULT_DATASET, *, expect_first: int | None = None,
                   what: str = "") -> tuple[int, tuple[int, int], np.dtype, set[int]]:
    """(frames, frame shape, dtype, filters) of one data file, or a RepackageError naming it."""
    return data_file_info(path, dataset, expect_first=expect_first, what=what)[:4]


def data_file_info(path: Path, dataset: str = DEFAULT_DATASET, *, expect_first: int | None = None,
                   what: str = "") -> tuple[int, tuple[int, int], np.dtype, set[int], tuple]:
    """``open_data_file``'s answer and ``data_storage``'s, from one look at the header."""
    ctx = f" ({what})" if what else ""
    hdr = _data_header(path, dataset, ctx)
    if len(hdr.shape) != 3:
        raise RepackageError(f"{path}{ctx}: {dataset} has shape {hdr.shape}; only 3-D image stacks "
                             "(one threshold) are supported")
    if expect_first is not None and hdr.image_nr_low is not None and hdr.image_nr_low != expect_first:
        raise RepackageError(f"{path}{ctx} starts at image {hdr.image_nr_low} but the series expects image "
                             f"{expect_first} there: the file belongs to another series")
    return hdr.n, (hdr.shape[1], hdr.shape[2]), hdr.dtype, set(hdr.filters), (np.dtype(hdr.dtype).str, *hdr.storage)


def data_storage(path: Path, dataset: str = DEFAULT_DATASET) -> tuple:
    """(dtype, filter codes in pipeline order, chunk shape) of a data file (cached header)."""
    hdr = _data_header(path, dataset, "")
    return (np.dtype(hdr.dtype).str, *hdr.storage)


def read_series(master: str | os.PathLike[str], *, brief: bool = False, keep: bool = False) -> SeriesInfo:
    """Everything the repackager needs from one detector series, checked file by file.

    ``brief``: skip kappa, phi and times (the acquisition record has them); a 144-wedge collection
    reads 144 masters, and every HDF5 read counts. ``keep``: inside a run, keep the master open
    for the template copy (a sweep's template is one of its wedges' masters: opened once).
    """
    master = Path(master)
    try:  # low-level: h5py.File's open and close cost ~1 ms more per master, and there are 144
        fid = h5py.h5f.open(os.fsencode(master), h5py.h5f.ACC_RDONLY)
    except FileNotFoundError:
        raise RepackageError(f"detector master {master} is missing") from None
    except OSError as exc:
        if not master.exists():
            raise RepackageError(f"detector master {master} is missing") from None
        raise RepackageError(f"cannot read detector master {master}: {exc}") from exc
    r = _Reader(fid)
    run = current_files() if keep else None
    try:
        info = _read_series(master, r, brief)
    except BaseException:
        r.close()
        fid.close()
        raise
    r.close()
    if run is not None:
        run.keep_master(master, fid)
    # else: the last reference goes with this frame and closes the file (weak close degree, no
    # object of it open); ``fid.close()`` would scan every live h5py object (see datafiles.close)
    return info


def _read_series(master: Path, r: _Reader, brief: bool) -> SeriesInfo:
    data = r.group("/entry/data")
    if data is None:
        raise RepackageError(f"{master} has no /entry/data group: not a DECTRIS master")
    names = sorted(k.decode() for k in data if k.startswith(b"data_"))
    if not names:
        raise RepackageError(f"{master} links no data_NNNNNN files")
    files: list[DataFile] = []
    shape = dtype = None
    det = "/entry/instrument/detector/detectorSpecific"
    nx, ny = r.scalar(f"{det}/x_pixels_in_detector"), r.scalar(f"{det}/y_pixels_in_detector")
    header_shape = (int(ny), int(nx)) if nx and ny else None
    filters: set[int] = set()
    expect = 1
    links = data.links
    master_dir = os.fspath(master.parent)
    for k in names:
        if links.get_info(k.encode()).type != h5py.h5l.TYPE_EXTERNAL:
            raise RepackageError(f"{master}: /entry/data/{k} is not an external link to a data file")
        filename, target = (x.decode() for x in links.get_val(k.encode()))
        if os.path.isabs(filename):
            raise RepackageError(f"{master}: /entry/data/{k} points to the absolute path {filename}; "
                                 "the repackager only follows relative links")
        path = Path(os.path.normpath(os.path.join(master_dir, filename)))
        n, fshape, fdtype, flt = open_data_file(path, target, expect_first=expect, what=f"{master.name}:{k}")
        if header_shape and fshape != header_shape:
            raise RepackageError(f"{path} holds {fdtype} frames of {fshape}, but {master.name} describes a "
                                 f"{header_shape} detector: the file belongs to another detector or series")
        if shape is None:
            shape, dtype = fshape, fdtype
        elif (fshape, fdtype) != (shape, dtype):
            raise RepackageError(f"{path} holds {fdtype} frames of {fshape}, the rest of {master.name} "
                                 f"{dtype} frames of {shape}")
        filters |= flt
        files.append(DataFile(path, n, target))
        expect += n
    omega, omega_path = r.floats("/entry/sample/transformations/omega", "/entry/sample/goniometer/omega")
    if omega is None:
        raise RepackageError(f"{master} has no omega angles (/entry/sample/transformations/omega)")
    inc_path = "/entry/sample/transformations/omega_increment_set"
    inc = r.scalar(inc_path)
    if inc is None:
        inc_path = "/entry/sample/goniometer/omega_range_average"
        inc = r.scalar(inc_path)
    if inc is None and omega.size > 1:
        inc_path = None
        inc = float(np.median(np.diff(omega.astype(np.float64))))
    if inc is None:
        raise RepackageError(f"{master}: cannot tell the omega increment")
    end, end_path = r.floats(omega_path + "_end")
    check_omega(master, omega, float(inc), inc_path, end, end_path)
    omega = omega.astype(np.float64)
    nimages = r.scalar(f"{det}/nimages") or 0
    ntrigger = r.scalar(f"{det}/ntrigger") or 1
    total = sum(d.n for d in files)
    if nimages and int(nimages * ntrigger) != total:
        raise RepackageError(f"{master} describes {int(nimages * ntrigger)} frames, its data files hold {total} "
                             "(a truncated, missing or foreign data file?)")
    if omega.size != total:
        raise RepackageError(f"{master} has {omega.size} omega angles for {total} frames")
    return SeriesInfo(
        master=master,
        data_files=files,
        frame_shape=shape,  # type: ignore[arg-type]
        dtype=np.dtype(dtype),
        filters=filters,
        omega=omega,
        omega_increment=float(inc),
        wavelength_A=r.scalar("/entry/instrument/beam/incident_wavelength"),
        kappa=None if brief else r.first("/entry/sample/transformations/kappa", "/entry/sample/goniometer/kappa"),
        phi=None if brief else r.first("/entry/sample/transformations/phi", "/entry/sample/goniometer/phi"),
        start_time=None if brief else r.string("/entry/start_time"),
        end_time=None if brief else (r.string("/entry/end_time") or r.string("/entry/end_time_estimated")),
        nimages_total=int(nimages * ntrigger),
        frame_time=None if brief else r.scalar("/entry/instrument/detector/frame_time"),
    )
