"""Data files and template masters opened once per repackaging run.

The header read (frame count, shape, filters), the link check and the frame check of the written
sweep master all need the same data files. A run keeps the first ``KEEP`` data files it opens
open to the end (a small collection's every file: a link that a sweep master traverses then
resolves to the file HDF5 already has open, and the frame check compares datasets that are the
very same object); every other data file is opened for its header read and closed again, and
the master's checks open it through the master, as a reader does.

Why so few: keeping all of them open costs more than opening them again. Measured on the
benchmark's layout V collection (576 data files, 2026-12-02): the run takes ~10-20 % less CPU
with 16 kept than with all kept, layout L (144 files) the same within noise. An open HDF5 file
holds ~0.6 MB of fresh memory (its metadata cache), page-faulted in at each open while the others
stay open, and HDF5 searches its list of open files at each open; a file opened and closed reuses
the memory of the one before. Detector masters kept as templates (one per sweep) are not counted.
"""

from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar
from typing import Iterator

import h5py

KEEP = 16  # data files kept open per run (see the module's docstring)


def _limit() -> int:
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY:  # pragma: no cover
            soft = 16384
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        soft = 1024
    return max(0, min(KEEP, soft // 4))


class OpenDataFiles:
    """Data-file datasets opened once and kept until ``close``."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = _limit() if limit is None else limit
        self._files: dict[str, h5py.h5f.FileID] = {}
        self._datasets: dict[tuple[str, str], h5py.h5d.DatasetID] = {}
        self._masters: dict[str, h5py.h5f.FileID] = {}  # template masters, read once and copied from
        # the header read from each kept dataset (series._data_header): later asks in the run are
        # answered from it without a stat; the file is open, so HDF5 would return the same anyway
        self.headers: dict[tuple[str, str], object] = {}

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
        self.headers.clear()
        self._files.clear()  # the last references: each file is closed here
        self._masters.clear()


def prefetch(paths, head: int, tail: int = 0) -> int:
    """Ask the kernel to read the first ``head`` (and last ``tail``) bytes of each file in the
    background (``POSIX_FADV_WILLNEED``), where HDF5 finds a file's metadata; returns how many
    files were asked for. The header reads that follow one by one then find those pages in the
    page cache instead of each waiting for the disk in turn (576 data files of an Eiger2 4M
    collection whose pages were evicted: 0.85 -> 0.69 s per run here). Nothing is read or checked
    here: a file that cannot be opened is skipped and refused later by the read that needs it.
    Costs ~5 us per file when the pages are cached already."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:  # pragma: no cover - not POSIX
        return 0
    asked = 0
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            advise(fd, 0, head, os.POSIX_FADV_WILLNEED)
            if tail:
                size = os.fstat(fd).st_size
                if size > head:
                    advise(fd, max(head, size - tail), tail, os.POSIX_FADV_WILLNEED)
            asked += 1
        except OSError:  # pragma: no cover - a file system without advice: nothing lost
            pass
        finally:
            os.close(fd)
    return asked


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
