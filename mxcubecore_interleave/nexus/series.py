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

    @property
    def n(self) -> int:
        return sum(f.n for f in self.data_files)

    @property
    def name(self) -> str:
        return self.master.name[: -len("_master.h5")] if self.master.name.endswith("_master.h5") else self.master.stem


def _scalar(f: h5py.File, path: str) -> float | None:
    obj = f.get(path)
    if not isinstance(obj, h5py.Dataset):
        return None
    arr = np.asarray(obj[()]).ravel()
    return float(arr[0]) if arr.size else None


def _string(f: h5py.File, path: str) -> str | None:
    obj = f.get(path)
    return read_str(obj[()]) if isinstance(obj, h5py.Dataset) else None


def dataset_filters(ds: h5py.Dataset) -> set[int]:
    plist = ds.id.get_create_plist()
    return {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}


def open_data_file(path: Path, dataset: str = DEFAULT_DATASET, *, expect_first: int | None = None,
                   what: str = "") -> tuple[int, tuple[int, int], np.dtype, set[int]]:
    """(frames, frame shape, dtype, filters) of one data file, or a RepackageError naming it."""
    ctx = f" ({what})" if what else ""
    if not path.exists():
        raise RepackageError(f"data file {path} is missing{ctx}; nothing was written")
    try:
        with h5py.File(path, "r") as f:
            ds = f.get(dataset)
            if not isinstance(ds, h5py.Dataset):
                raise RepackageError(f"{path}{ctx} has no dataset {dataset}: not a DECTRIS data file")
            if ds.ndim != 3:
                raise RepackageError(f"{path}{ctx}: {dataset} has shape {ds.shape}; only 3-D image stacks "
                                     "(one threshold) are supported")
            low = ds.attrs.get("image_nr_low")
            if expect_first is not None and low is not None and int(np.asarray(low).ravel()[0]) != expect_first:
                raise RepackageError(
                    f"{path}{ctx} starts at image {int(np.asarray(low).ravel()[0])} but the series expects "
                    f"image {expect_first} there: the file belongs to another series"
                )
            return int(ds.shape[0]), (int(ds.shape[1]), int(ds.shape[2])), ds.dtype, dataset_filters(ds)
    except RepackageError:
        raise
    except OSError as exc:
        raise RepackageError(f"cannot read data file {path}{ctx}: {exc} (truncated or not HDF5?)") from exc


def read_series(master: str | os.PathLike[str]) -> SeriesInfo:
    """Everything the repackager needs from one detector series, checked file by file."""
    master = Path(master)
    if not master.exists():
        raise RepackageError(f"detector master {master} is missing")
    try:
        f = h5py.File(master, "r")
    except OSError as exc:
        raise RepackageError(f"cannot read detector master {master}: {exc}") from exc
    with f:
        data = f.get("/entry/data")
        if not isinstance(data, h5py.Group):
            raise RepackageError(f"{master} has no /entry/data group: not a DECTRIS master")
        names = sorted(k for k in data if k.startswith("data_"))
        if not names:
            raise RepackageError(f"{master} links no data_NNNNNN files")
        files: list[DataFile] = []
        shape = dtype = None
        det = "/entry/instrument/detector/detectorSpecific"
        nx, ny = _scalar(f, f"{det}/x_pixels_in_detector"), _scalar(f, f"{det}/y_pixels_in_detector")
        header_shape = (int(ny), int(nx)) if nx and ny else None
        filters: set[int] = set()
        expect = 1
        for k in names:
            link = data.get(k, getlink=True)
            if not isinstance(link, h5py.ExternalLink):
                raise RepackageError(f"{master}: /entry/data/{k} is not an external link to a data file")
            if os.path.isabs(link.filename):
                raise RepackageError(f"{master}: /entry/data/{k} points to the absolute path {link.filename}; "
                                     "the repackager only follows relative links")
            path = master.parent / link.filename
            n, fshape, fdtype, flt = open_data_file(path, link.path, expect_first=expect, what=f"{master.name}:{k}")
            if header_shape and fshape != header_shape:
                raise RepackageError(f"{path} holds {fdtype} frames of {fshape}, but {master.name} describes a "
                                     f"{header_shape} detector: the file belongs to another detector or series")
            if shape is None:
                shape, dtype = fshape, fdtype
            elif (fshape, fdtype) != (shape, dtype):
                raise RepackageError(f"{path} holds {fdtype} frames of {fshape}, the rest of {master.name} "
                                     f"{dtype} frames of {shape}")
            filters |= flt
            files.append(DataFile(path, n, link.path))
            expect += n
        omega = None
        for p in ("/entry/sample/transformations/omega", "/entry/sample/goniometer/omega"):
            if isinstance(f.get(p), h5py.Dataset):
                omega = np.atleast_1d(np.asarray(f[p][()], dtype=np.float64))
                break
        if omega is None:
            raise RepackageError(f"{master} has no omega angles (/entry/sample/transformations/omega)")
        inc = _scalar(f, "/entry/sample/transformations/omega_increment_set")
        if inc is None:
            inc = _scalar(f, "/entry/sample/goniometer/omega_range_average")
        if inc is None and omega.size > 1:
            inc = float(np.median(np.diff(omega)))
        if inc is None:
            raise RepackageError(f"{master}: cannot tell the omega increment")
        nimages = _scalar(f, f"{det}/nimages") or 0
        ntrigger = _scalar(f, f"{det}/ntrigger") or 1
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
            wavelength_A=_scalar(f, "/entry/instrument/beam/incident_wavelength"),
            kappa=_scalar(f, "/entry/sample/transformations/kappa") if "kappa" in f.get("/entry/sample/transformations", {}) else _scalar(f, "/entry/sample/goniometer/kappa"),
            phi=_scalar(f, "/entry/sample/transformations/phi") if "phi" in f.get("/entry/sample/transformations", {}) else _scalar(f, "/entry/sample/goniometer/phi"),
            start_time=_string(f, "/entry/start_time"),
            end_time=_string(f, "/entry/end_time") or _string(f, "/entry/end_time_estimated"),
            nimages_total=int(nimages * ntrigger),
        )
