"""Every data file opened once per repackaging run.

The header read (frame count, shape, filters), the link check and the frame check of the written
sweep master all need the same data files. Opening one costs more than everything else done with
it (superblock, root group, object header), so a run keeps each file open from its header read to
the end: a link that a sweep master traverses then resolves to the file HDF5 already has open
(HDF5 shares one open file per inode), and the frame check compares datasets that are the very
same object instead of reading pixels twice.

The number of files kept open is bounded (a quarter of the process's file-descriptor limit, at
most 512: an open HDF5 file holds ~0.6 MB); beyond that, files are opened and closed per use as
without a run.
"""

from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar
from typing import Iterator

import h5py


def _limit() -> int:
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY:  # pragma: no cover
            soft = 16384
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        soft = 1024
    return max(0, min(512, soft // 4))  # an open HDF5 file holds ~0.6 MB (measured at 1 000 wedges)


class OpenDataFiles:
    """Data-file datasets opened once and kept until ``close``."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = _limit() if limit is None else limit
        self._files: dict[str, h5py.h5f.FileID] = {}
        self._datasets: dict[tuple[str, str], h5py.h5d.DatasetID] = {}
        self._masters: dict[str, h5py.h5f.FileID] = {}  # template masters, read once and copied from

    def keep_master(self, path: os.PathLike[str] | str, fid: h5py.h5f.FileID) -> None:
        """Keep a detector master open (a sweep's template): its copy reuses this open."""
        old = self._masters.pop(os.fspath(path), None)
        if old is not None:
            old.close()
        self._masters[os.fspath(path)] = fid

    def master(self, path: os.PathLike[str] | str) -> h5py.h5f.FileID | None:
        """The open detector master kept by ``keep_master``, or None."""
        return self._masters.get(os.fspath(path))

    def __len__(self) -> int:
        return len(self._files)

    def dataset(self, path: os.PathLike[str] | str, dataset: str) -> h5py.h5d.DatasetID | None:
        """The dataset if this run has it open, else None."""
        return self._datasets.get((os.fspath(path), dataset))

    def open(self, path: os.PathLike[str] | str, dataset: str) -> tuple[h5py.h5d.DatasetID, bool]:
        """(dataset, kept): open ``path:dataset`` once; ``kept`` False means the caller closes it
        (the bound is reached). OSError: not an HDF5 file; KeyError/ValueError: no such dataset."""
        key = (os.fspath(path), dataset)
        ds = self._datasets.get(key)
        if ds is not None:
            return ds, True
        fid = self._files.get(key[0])
        kept = fid is not None or len(self._files) < self.limit
        if fid is None:
            fid = h5py.h5f.open(os.fsencode(key[0]), h5py.h5f.ACC_RDONLY)
        try:
            ds = h5py.h5d.open(fid, dataset.encode())
        except BaseException:
            if key[0] not in self._files:
                fid.close()
            raise
        if kept:
            self._files.setdefault(key[0], fid)
            self._datasets[key] = ds
        else:
            del fid  # the dataset keeps the file open until the caller closes it (see ``close``)
        return ds, kept

    def close(self) -> None:
        """Close every dataset, then release every file by dropping its last reference.

        ``FileID.close()`` also scans every live h5py object (h5py's ``nonlocal_close``), so
        closing n files that way costs O(n x objects): 0.07 s of a 0.9 s run at 144 wedges. The
        files are opened with HDF5's default (weak) close degree, under which ``H5Fclose`` and the
        last reference's release do the same thing; no object of these files is left open here.
        """
        for ds in self._datasets.values():
            with contextlib.suppress(Exception):
                ds.close()
        self._datasets.clear()
        self._files.clear()  # the last references: each file is closed here
        self._masters.clear()


_CURRENT: ContextVar[OpenDataFiles | None] = ContextVar("mxcubecore_interleave_open_data_files", default=None)


def current() -> OpenDataFiles | None:
    """The data files of the run in progress, or None outside a run."""
    return _CURRENT.get()


@contextlib.contextmanager
def one_open_per_file() -> Iterator[OpenDataFiles]:
    """A repackaging run: data files opened inside stay open until the outermost run ends."""
    cur = _CURRENT.get()
    if cur is not None:
        yield cur
        return
    files = OpenDataFiles()
    token = _CURRENT.set(files)
    try:
        yield files
    finally:
        _CURRENT.reset(token)
        files.close()
