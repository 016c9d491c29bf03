"""Layout L only when every reader reads it right (issue 12, item 2; real-beamline.md §4).

Before: a sweep of a bitshuffle-LZ4 wedge and an LZ4 wedge was written as layout L without a word,
and Durin decodes every linked file with the first file's filter."""

from __future__ import annotations

import h5py
import pytest

from mxcubecore_interleave.cli import main
from mxcubecore_interleave.eiger import SeriesSpec, frame_tag, write_series
from tests.repackage_helpers import SMALL


def two_runs(directory, second: dict) -> None:
    for run, (om, kw) in enumerate([(0.0, {}), (2.0, second)], start=1):
        spec = dict(directory=directory, series=f"mix_{run}", n_images=4, images_per_file=4, omega_start=om,
                    omega_increment=0.5, wavelength_A=0.9793, exposure_time=0.01, detector=SMALL,
                    first_image_number=100 * run)
        write_series(SeriesSpec(**{**spec, **kw}))


@pytest.mark.parametrize("second", [{"compression": "lz4"}, {"compression": "none"}])
def test_mixed_filters_get_layout_v_and_read_right(tmp_path, capsys, second):
    two_runs(tmp_path, second)
    assert main(["repackage", str(tmp_path), "--output", str(tmp_path / "p"), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "layout V" in out and "first-file rule" in err
    with h5py.File(tmp_path / "p" / "mix_A_master.h5", "r") as f:
        data = f["/entry/data/data_000001"]
        assert data.is_virtual
        assert [frame_tag(data[i]) for i in range(8)] == [100, 101, 102, 103, 200, 201, 202, 203]


def test_layout_l_refused_naming_durin(tmp_path, capsys):
    two_runs(tmp_path, {"compression": "lz4"})
    assert main(["repackage", str(tmp_path), "--output", str(tmp_path / "p"), "--layout", "L", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "Durin" in err[0] and "first-file rule" in err[0] and "LZ4" in err[0] and "bitshuffle-LZ4" in err[0]
    assert not (tmp_path / "p" / "mix_A_master.h5").exists()


def test_same_storage_stays_layout_l(tmp_path, capsys):
    two_runs(tmp_path, {})
    assert main(["repackage", str(tmp_path), "--output", str(tmp_path / "p"), "--no-progress"]) == 0
    assert "layout L" in capsys.readouterr().out
