"""What the repackager reads: no pixel decoded for layout L, one frame per storage (dtype, filters,
chunks) of a sweep for layout V, every data file opened by the repackager itself once per run (the
master's checks may open it again through the master's link or virtual dataset, as a reader does),
and nothing heavy imported to print --help.

Counts, not times: which HDF5 calls happen is what makes the cost independent of the pixels.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import h5py
import numpy as np
import pytest

from mxcubecore_interleave.nexus import repackage_record
from mxcubecore_interleave.nexus import validate as validate_mod
from tests.repackage_helpers import TWO_SWEEPS, interleaved_record


@pytest.fixture
def decodes(monkeypatch):
    """Every frame the validator decodes, as (file, dataset, index): a whole frame read, or its
    first row (HDF5 decodes the frame's chunk for either; a row then a frame of it count once)."""
    seen: list[tuple[bytes, bytes, int]] = []

    def counting(real):
        def read(self, index):
            key = (h5py.h5f.get_name(self.id), h5py.h5i.get_name(self.id), index)
            if not seen or seen[-1] != key:
                seen.append(key)
            return real(self, index)
        return read

    for name in ("frame", "row"):
        monkeypatch.setattr(validate_mod._Stack, name, counting(getattr(validate_mod._Stack, name)))
    return seen


def test_layout_l_decodes_no_frame(tmp_path, decodes):
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=4)
    res = repackage_record(rp, "after")
    assert {m.layout for m in res.masters} == {"L"}
    assert decodes == []


def test_layout_v_decodes_one_frame_per_storage_of_a_sweep(tmp_path, decodes):
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=3)
    res = repackage_record(rp, "after")
    assert {m.layout for m in res.masters} == {"V"}
    sources = set()
    for m in res.masters:
        with h5py.File(m.master, "r") as f:
            sources |= {(m.master, vs.file_name) for vs in f["/entry/data/data_000001"].virtual_sources()}
    assert 0 < len(decodes) <= len(sources)
    assert len(set(decodes)) == len(decodes)  # none decoded twice
    assert len(decodes) == len(res.masters)  # every source of a sweep stored alike: one frame each


def test_every_data_file_is_opened_once_per_run(tmp_path, monkeypatch):
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=4)
    opened: Counter[str] = Counter()
    real = h5py.h5f.open

    def counting(name, *a, **k):
        opened[name.decode() if isinstance(name, bytes) else str(name)] += 1
        return real(name, *a, **k)

    monkeypatch.setattr(h5py.h5f, "open", counting)
    repackage_record(rp, "after")
    data = {k: v for k, v in opened.items() if "_data_0" in k.rsplit("/", 1)[-1]}
    assert data and set(data.values()) == {1}, data
    # detector masters too, the sweeps' templates included (read, then copied from the same open)
    masters = {k: v for k, v in opened.items() if k.endswith("_master.h5") and ".tmp" not in k
               and not any(f"_{s}_master" in k for s in "AB")}
    assert masters and set(masters.values()) == {1}, masters


def test_same_bytes_elsewhere_pass_and_other_bytes_fail(tmp_path):
    """same_frame: the same dataset and index needs no read; equal raw chunks in another file
    are the same pixels; other bytes of equal pixels (other compression) are decoded."""
    import hdf5plugin

    frames = np.arange(2 * 4 * 6, dtype=np.uint16).reshape(2, 4, 6)
    paths = []
    for name, comp in (("a", hdf5plugin.Bitshuffle()), ("b", hdf5plugin.Bitshuffle()), ("c", hdf5plugin.LZ4())):
        p = tmp_path / f"{name}.h5"
        with h5py.File(p, "w") as f:
            f.create_dataset("d", data=frames, chunks=(1, 4, 6), **comp)
        paths.append(p)
    files = [h5py.File(p, "r") for p in paths]
    try:
        a, b, c = (validate_mod._Stack(f["d"].id) for f in files)
        assert validate_mod.same_frame(a, 1, a, 1)
        assert not validate_mod.same_frame(a, 0, a, 1)
        assert validate_mod.same_frame(a, 1, b, 1) and not validate_mod.same_frame(a, 0, b, 1)
        assert a.raw(1) != c.raw(1) and validate_mod.same_frame(a, 1, c, 1)
        assert not validate_mod.same_frame(a, 0, c, 1)
    finally:
        for f in files:
            f.close()


def test_help_imports_nothing_heavy():
    code = ("import sys\nfrom mxcubecore_interleave import cli\ncli.build_parser().format_help()\n"
            "print([m for m in ('numpy', 'h5py', 'nxmx', 'scipy', 'pydantic', 'zmq', 'gevent', 'mxcubecore') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().replace("'", '"')) == []


def test_the_headers_are_fetched_ahead_once_per_file(tmp_path, monkeypatch):
    """Before the series are read, the kernel is asked (once per file) for the start of every data
    file and the start and end of every detector master of the record; a missing file is skipped."""
    import os

    from mxcubecore_interleave.nexus import datafiles

    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=3)
    asked: list[tuple[str, int, int]] = []
    real = os.posix_fadvise

    def advise(fd, offset, length, advice):
        assert advice == os.POSIX_FADV_WILLNEED
        asked.append((os.path.basename(os.readlink(f"/proc/self/fd/{fd}")), offset, length))
        return real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", advise)
    repackage_record(rp, "after")
    data = [a for a in asked if "_data_0" in a[0]]
    names = sorted({p.name for p in (tmp_path / "d").glob("*_data_*.h5")})
    assert names and sorted(a[0] for a in data) == names  # each once, at its start
    assert {a[1:] for a in data} == {(0, 16 << 10)}
    masters = [a for a in asked if a[0].endswith("_master.h5")]
    detector = sorted(p.name for p in (tmp_path / "d").glob("ilv_*_master.h5") if p.name[4].isdigit())
    assert detector and sorted({a[0] for a in masters}) == detector
    for name in detector:
        size = (tmp_path / "d" / name).stat().st_size
        want = [(0, 64 << 10)] + ([(max(64 << 10, size - (64 << 10)), 64 << 10)] if size > 64 << 10 else [])
        assert [a[1:] for a in masters if a[0] == name] == want
    asked.clear()
    assert datafiles.prefetch([tmp_path / "gone.h5", tmp_path / "d" / names[0]], 4096) == 1
    assert asked == [(names[0], 0, 4096)]
