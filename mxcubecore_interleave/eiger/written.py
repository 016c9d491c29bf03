"""What a detector series really holds, learned from disk: its master, the data files it links, frames.

A site's collect returns when its detector has been triggered, not when the filewriter has
closed the series: DECTRIS filewriters (and the simulated one) finish the files a little later.
So the queue entry asks the detector HO for the master's name, then waits here until the master
and every data file it links can be read, and counts the frames in them. Nothing passes
privately between collect and entry: any collect that leaves a DECTRIS-layout series works.
Pure (h5py only); the caller passes its own ``sleep`` (``gevent.sleep`` in the queue entry).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py

from ..errors import DetectorError
from ..h5ascii import read_str
from .naming import master_name, series_name

DATA_GROUP = "/entry/data"


@dataclass(frozen=True)
class WrittenSeries:
    """A closed detector series as read from disk."""

    master: Path
    data_files: tuple[Path, ...]  # in frame order, as the master links them
    frames_per_file: tuple[int, ...]
    start_time: str | None = None

    @property
    def n_frames(self) -> int:
        return sum(self.frames_per_file)


class SeriesNotReady(DetectorError):
    """The series is not (yet) on disk in a readable, closed state."""


def master_location(directory: str | os.PathLike[str], prefix: str, run: int, *,
                    template: str | None = None, detector_name: str | None = None) -> Path:
    """Where a wedge's detector master is: the one place for this naming rule.

    ``template`` (configuration) wins: a format string relative to ``directory`` with ``prefix``
    and ``run``, e.g. DESY P11's ``"{prefix}/rotational_{run:03d}/{prefix}_{run}_master.h5"``.
    Else the detector HO's ``get_image_file_name`` if it names a master (``*master.h5``; a
    ``%d``-style file number in it is the first file, 1, as ``LimaEigerDetector`` writes it).
    Else the DECTRIS default ``<prefix>_<run>_master.h5``.
    """
    directory = Path(directory)
    if template:
        try:
            rel = template.format(prefix=prefix, run=run)
        except (KeyError, IndexError, ValueError) as exc:
            raise DetectorError(f"master_file_template {template!r} is not a valid format "
                                f"(use {{prefix}} and {{run}}): {exc}") from None
        path = Path(rel)
        if path.is_absolute() or ".." in path.parts:
            raise DetectorError(f"master_file_template {template!r} must stay inside the data directory")
        return directory / path
    if detector_name:
        name = os.path.basename(detector_name)
        if name.endswith("master.h5"):
            if "%" in name:
                try:
                    name = name % 1
                except (TypeError, ValueError):
                    name = ""
            if name and "%" not in name:
                return directory / name
    return directory / master_name(series_name(prefix, run))


def read_written(master: str | os.PathLike[str], *, complete: bool = True) -> WrittenSeries:
    """The series of ``master`` if it is closed: master readable, every linked data file there.

    Raises :class:`SeriesNotReady` saying what is missing otherwise. ``complete=False`` (a
    process that died mid-series) keeps the data files up to the first one missing.
    """
    master = Path(master)
    if not master.is_file():
        raise SeriesNotReady(f"no master file {master.name} in {master.parent}")
    try:
        with h5py.File(master, "r") as f:
            group = f.get(DATA_GROUP)
            if not isinstance(group, h5py.Group):
                raise SeriesNotReady(f"{master} has no {DATA_GROUP} group (yet)")
            links = []
            for key in sorted(group):
                if not key.startswith("data"):
                    continue
                link = group.get(key, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    links.append((master.parent / link.filename, link.path))
                elif isinstance(group.get(key), h5py.Dataset):  # frames inside the master
                    links.append((master, f"{DATA_GROUP}/{key}"))
            start = f.get("/entry/start_time")
            start_time = read_str(start[()]) if isinstance(start, h5py.Dataset) else None
    except OSError as exc:  # still being written, or truncated
        raise SeriesNotReady(f"{master} cannot be read (yet): {exc}") from exc
    files, counts = [], []
    for path, dataset in links:
        try:
            counts.append(_frames(path, dataset))
        except SeriesNotReady:
            if complete:
                raise
            break
        files.append(Path(os.path.normpath(path)))
    return WrittenSeries(master=master, data_files=tuple(files), frames_per_file=tuple(counts),
                         start_time=start_time)


def wait_written(master: str | os.PathLike[str], expected: int, *, timeout: float, settle: float = 1.0,
                 stopped: Callable[[], bool] = lambda: False, sleep: Callable[[float], object] = time.sleep,
                 poll: float = 0.05) -> WrittenSeries:
    """Wait for the filewriter to close the series of ``master`` (at most ``timeout`` s).

    Returns as soon as it holds ``expected`` frames. A series cut short (``stopped()`` true, or
    the frame count no longer changing) is returned once it has been readable and unchanged for
    ``settle`` s. Raises :class:`DetectorError` naming the master and its directory when nothing
    readable appeared in time (``settle`` s after ``stopped()``, else ``timeout``).
    """
    deadline = time.monotonic() + max(0.0, timeout)
    last: WrittenSeries | None = None
    since = 0.0
    stopped_at: float | None = None
    reason = ""
    while True:
        try:
            found = read_written(master)
        except SeriesNotReady as exc:
            found, reason = None, str(exc)
        now = time.monotonic()
        if stopped_at is None and stopped():
            stopped_at = now
        if found is None and last is None and stopped_at is not None and now - stopped_at >= settle:
            master = Path(master)  # the collect failed or was stopped, and nothing came
            raise DetectorError(f"the detector's master file {master.name} is not in {master.parent} "
                                f"{settle:g} s after the collection stopped ({reason})")
        if found is not None:
            if found.n_frames >= expected:
                return found
            if last is None or found != last:
                last, since = found, now
            elif now - since >= settle and (stopped() or now >= deadline):
                return found
        if now >= deadline:
            if last is not None:
                return last
            master = Path(master)
            raise DetectorError(
                f"the detector's master file {master.name} did not appear in {master.parent} within "
                f"{timeout:g} s after the collect returned ({reason}); check the detector's filewriter "
                "and the master_file_template setting")
        sleep(poll)


def _frames(path: Path, dataset: str) -> int:
    if not path.is_file():
        raise SeriesNotReady(f"data file {path.name} is not in {path.parent} (yet)")
    try:
        with h5py.File(path, "r") as f:
            ds = f.get(dataset)
            if not isinstance(ds, h5py.Dataset) or ds.ndim < 1:
                raise SeriesNotReady(f"{path} has no dataset {dataset} (yet)")
            return int(ds.shape[0])
    except OSError as exc:
        raise SeriesNotReady(f"{path} cannot be read (yet): {exc}") from exc

