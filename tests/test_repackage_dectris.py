"""Real DECTRIS data files (Eiger2, bslz4) packaged under metadata we supply, then repackaged."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
import pytest

from mxcubecore_interleave.eiger import DetectorGeometry, SeriesSpec, write_series
from mxcubecore_interleave.errors import RepackageError
from mxcubecore_interleave.nexus import read_series, repackage_record, repackage_series
from mxcubecore_interleave.nexus.series import dataset_filters
from tests.conftest import DECTRIS_DIR

REAL = [DECTRIS_DIR / f"eiger2_simread7_2datafiles_4images_bslz4_data_00000{i}.h5" for i in (1, 2)]
# CI has ../shared beside the clone: there a missing file is a failure, not a skip
pytestmark = pytest.mark.skipif(not all(p.exists() for p in REAL) and not os.environ.get("CI"),
                                reason="DECTRIS test files not present")


def real_series(directory: Path, omega_start: float = 0.0, wavelength: float = 0.9793) -> Path:
    """The two real data files as series ``real_1`` (4 frames of 512 x 1028), with a master
    written by the simulated filewriter for the same geometry (the real master is not public)."""
    directory.mkdir(parents=True, exist_ok=True)
    sim = directory / ".sim"
    spec = SeriesSpec(directory=sim, series="real_1", n_images=4, images_per_file=2, omega_start=omega_start,
                      omega_increment=0.1, wavelength_A=wavelength, exposure_time=0.01,
                      detector=DetectorGeometry(nx=1028, ny=512))
    master = write_series(spec).master
    shutil.copyfile(master, directory / "real_1_master.h5")
    for i, src in enumerate(REAL, start=1):
        shutil.copyfile(src, directory / f"real_1_data_00000{i}.h5")
    shutil.rmtree(sim)
    return directory / "real_1_master.h5"


def direct_frames() -> np.ndarray:
    out = []
    for p in REAL:
        with h5py.File(p, "r") as f:
            out.append(f["/entry/data/data"][()])
    return np.concatenate(out)


@pytest.mark.parametrize("layout", ["L", "V"])
def test_real_files_read_identically_through_the_sweep_master(tmp_path, layout):
    master = real_series(tmp_path / "data")
    info = read_series(master)
    assert info.n == 4 and info.frame_shape == (512, 1028) and info.dtype == np.uint16
    assert info.filters == {32008}
    groups, result = repackage_series([tmp_path / "data"], output=tmp_path / "data" / "processing",
                                      prefix="real", layout=layout)
    assert [g.id for g in groups] == ["A"]
    (m,) = result.masters
    assert m.layout == layout
    with h5py.File(m.master, "r") as f:
        data = f["/entry/data"]
        frames = np.concatenate([data[k][()] for k in sorted(data)])
        if layout == "V":
            assert dataset_filters(data["data_000001"]) == set()  # the VDS itself is unfiltered; sources are bslz4
    np.testing.assert_array_equal(frames, direct_frames())


def test_real_file_of_a_different_detector_is_refused(tmp_path):
    """A 512 x 1028 real data file in a 16 x 24 sweep: refused, named, nothing written."""
    from tests.repackage_helpers import TWO_SWEEPS, interleaved_record

    d = tmp_path / "d"
    rp = interleaved_record(d, TWO_SWEEPS, images_per_file=4)
    victim = d / "ilv_3_data_000001.h5"
    victim.chmod(0o644)
    shutil.copyfile(REAL[0], victim)
    with pytest.raises(RepackageError, match=r"ilv_3_data_000001.h5 holds uint16 frames of \(512, 1028\), but ilv_3_master.h5 describes a \(16, 24\) detector"):
        repackage_record(rp, "after")
    assert not list(d.glob("ilv_[AB]_master.h5"))
