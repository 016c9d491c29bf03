"""validate.py pinned: layout V's decode through the virtual dataset reads one pixel row first.

A pixel that is not the fill value proves HDF5 opened and decoded the source; only a row of fill
values reads the whole frame, and only a whole frame of fill values is compared with the data
file's own frame. Each case is a virtual dataset made for it, checked with ``check_virtual``.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest

from mxcubecore_interleave.nexus import validate as validate_mod
from mxcubecore_interleave.nexus.model import DataFile, Segment, Sweep, Wedge

SHAPE = (4, 6)
FILL = np.iinfo(np.uint16).max


def _data_file(path: Path, frames: np.ndarray) -> DataFile:
    with h5py.File(path, "w") as f:
        f.create_dataset("/entry/data/data", data=frames, chunks=(1, *SHAPE), **hdf5plugin.Bitshuffle())
    return DataFile(path, frames.shape[0])


def _sweep(file: DataFile) -> Sweep:
    w = Wedge(order=0, sweep="A", first_global=1, n=file.n, omega_start=0.0, omega_increment=1.0, wavelength_A=1.0,
              segments=[Segment(file, 0, file.n)], name="A0")
    s = Sweep(id="A", index=0, wedges=[w], wavelength_A=1.0, frame_shape=SHAPE, dtype=np.dtype(np.uint16))
    s.number()
    return s


def _vds(master: Path, source_name: str, n: int) -> None:
    layout = h5py.VirtualLayout(shape=(n, *SHAPE), dtype=np.uint16)
    layout[:] = h5py.VirtualSource(source_name, "/entry/data/data", shape=(n, *SHAPE))
    with h5py.File(master, "w") as f:
        f.create_virtual_dataset("/entry/data/data_000001", layout, fillvalue=FILL)


def _check(master: Path, sweep: Sweep) -> validate_mod._FrameCheck:
    """check_virtual on the master's virtual dataset, told that it maps the sweep's file exactly
    (what _blocks proves from the layout before), with the file's true length."""
    seg = sweep.segments()[0]
    runs = [(0, seg.count, str(seg.file.path), seg.file.dataset, 0)]
    frames = validate_mod._FrameCheck(sweep, master)
    with h5py.File(master, "r") as f:
        frames.check_virtual(validate_mod._Stack(f["/entry/data/data_000001"].id), runs, sweep,
                             {(str(seg.file.path), seg.file.dataset): seg.file.n})
    frames.close()
    return frames


@pytest.fixture
def reads(monkeypatch):
    """Which reads the check makes: ("row" | "frame", file name, index)."""
    seen: list[tuple[str, str, int]] = []

    def counting(name, real):
        def read(self, index):
            seen.append((name, Path(h5py.h5f.get_name(self.id).decode()).name, index))
            return real(self, index)
        return read

    for name in ("row", "frame"):
        monkeypatch.setattr(validate_mod._Stack, name, counting(name, getattr(validate_mod._Stack, name)))
    return seen


def test_row_is_the_frames_first_row(tmp_path):
    frames = np.arange(2 * 24, dtype=np.uint16).reshape(2, *SHAPE)
    f = _data_file(tmp_path / "d.h5", frames)
    with h5py.File(f.path, "r") as h:
        st = validate_mod._Stack(h["/entry/data/data"].id)
        assert st.row(1).tolist() == frames[1, 0].tolist()
        with pytest.raises(IndexError):
            st.row(2)


def test_a_row_that_is_not_fill_is_enough(tmp_path, reads):
    frames = np.arange(2 * 24, dtype=np.uint16).reshape(2, *SHAPE)
    frames[0, 0, :-1] = FILL  # one pixel of the row is not the fill value: that is enough
    sweep = _sweep(_data_file(tmp_path / "d.h5", frames))
    _vds(tmp_path / "m_master.h5", "d.h5", 2)
    assert _check(tmp_path / "m_master.h5", sweep).failure is None
    assert reads == [("row", "m_master.h5", 0)]  # one row through the VDS, no frame, nothing direct


def test_a_row_of_fill_reads_the_whole_frame(tmp_path, reads):
    frames = np.arange(2 * 24, dtype=np.uint16).reshape(2, *SHAPE)
    frames[0, 0] = FILL  # the first row is the fill value, the rest of the frame is not
    sweep = _sweep(_data_file(tmp_path / "d.h5", frames))
    _vds(tmp_path / "m_master.h5", "d.h5", 2)
    assert _check(tmp_path / "m_master.h5", sweep).failure is None
    assert reads == [("row", "m_master.h5", 0), ("frame", "m_master.h5", 0)]  # not compared with d.h5


def test_a_frame_of_fill_is_compared_with_the_data_file(tmp_path, reads):
    frames = np.full((2, *SHAPE), FILL, dtype=np.uint16)  # the detector stored fill values: they agree
    sweep = _sweep(_data_file(tmp_path / "d.h5", frames))
    _vds(tmp_path / "m_master.h5", "d.h5", 2)
    assert _check(tmp_path / "m_master.h5", sweep).failure is None
    assert reads == [("row", "m_master.h5", 0), ("frame", "m_master.h5", 0), ("frame", "d.h5", 0)]


def test_a_source_hdf5_cannot_open_fails(tmp_path, reads):
    frames = np.arange(2 * 24, dtype=np.uint16).reshape(2, *SHAPE)
    sweep = _sweep(_data_file(tmp_path / "d.h5", frames))
    _vds(tmp_path / "m_master.h5", "gone.h5", 2)  # reads as fill everywhere
    failure = _check(tmp_path / "m_master.h5", sweep).failure
    assert failure is not None and "frame 1 (A0) read through the sweep master differs from frame 1 of d.h5" in failure
    assert reads == [("row", "m_master.h5", 0), ("frame", "m_master.h5", 0), ("frame", "d.h5", 0)]


def test_under_a_vds_prefix_every_source_is_compared_whole(tmp_path, reads, monkeypatch):
    frames = np.arange(2 * 24, dtype=np.uint16).reshape(2, *SHAPE)
    sweep = _sweep(_data_file(tmp_path / "d.h5", frames))
    _vds(tmp_path / "m_master.h5", "d.h5", 2)
    monkeypatch.setenv("HDF5_VDS_PREFIX", str(tmp_path))
    assert _check(tmp_path / "m_master.h5", sweep).failure is None
    assert reads == [("frame", "m_master.h5", 0), ("frame", "d.h5", 0)]  # no row: the frame is compared
    other = tmp_path / "elsewhere"
    other.mkdir()
    _data_file(other / "d.h5", frames[::-1].copy())  # the prefix sends the source to other pixels
    monkeypatch.setenv("HDF5_VDS_PREFIX", str(other))
    failure = _check(tmp_path / "m_master.h5", sweep).failure
    assert failure is not None and "differs from frame 1 of d.h5" in failure
