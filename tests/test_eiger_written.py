"""What a series on disk holds (eiger/written.py): naming rule, closed or not, waiting for the filewriter."""

from pathlib import Path

import pytest

from mxcubecore_interleave.eiger import SeriesSpec, SeriesWriter, synthetic_frame, write_series
from mxcubecore_interleave.eiger.series import DetectorGeometry
from mxcubecore_interleave.eiger.written import SeriesNotReady, master_location, read_written, wait_written
from mxcubecore_interleave.errors import DetectorError

GEO = DetectorGeometry(nx=8, ny=6)


def spec(directory: Path, n: int = 5, ipf: int = 2, series: str = "p_w001_1") -> SeriesSpec:
    return SeriesSpec(directory=directory, series=series, n_images=n, images_per_file=ipf, omega_start=0.0,
                      omega_increment=0.1, wavelength_A=1.0, exposure_time=0.01, detector=GEO)


def test_master_location_rules(tmp_path):
    assert master_location(tmp_path, "p_w001", 3) == tmp_path / "p_w001_3_master.h5"
    assert master_location(tmp_path, "p_w001", 3, detector_name="p_w001_3_%04d.h5") == tmp_path / "p_w001_3_master.h5"
    assert master_location(tmp_path, "p", 3, detector_name="p_3_%1d_master.h5") == tmp_path / "p_3_1_master.h5"
    p11 = "{prefix}/rotational_{run:03d}/{prefix}_{run}_master.h5"
    assert master_location(tmp_path, "p", 3, template=p11) == tmp_path / "p" / "rotational_003" / "p_3_master.h5"
    for bad in ("../{prefix}_{run}_master.h5", "/abs/{prefix}.h5", "{nope}_master.h5"):
        with pytest.raises(DetectorError):
            master_location(tmp_path, "p", 3, template=bad)


def test_read_written_gives_the_detectors_split(tmp_path):
    result = write_series(spec(tmp_path, n=5, ipf=2))
    got = read_written(result.master)
    assert got.frames_per_file == (2, 2, 1) and got.n_frames == 5
    assert [p.name for p in got.data_files] == [p.name for p in result.data_files]


def test_not_ready_until_closed(tmp_path):
    with pytest.raises(SeriesNotReady, match="no master file p_w001_1_master.h5"):
        read_written(tmp_path / "p_w001_1_master.h5")
    writer = SeriesWriter(spec(tmp_path, n=3, ipf=3))
    writer.write(synthetic_frame(1, 0.0, GEO.shape, dtype=GEO.dtype))
    with pytest.raises(SeriesNotReady):  # data being written, no master yet
        read_written(tmp_path / "p_w001_1_master.h5")
    result = writer.close(aborted=True)
    (tmp_path / result.data_files[0].name).unlink()  # a link that dangles
    with pytest.raises(SeriesNotReady, match="data file"):
        read_written(result.master)
    assert read_written(result.master, complete=False).n_frames == 0


def test_wait_returns_a_complete_series_at_once_and_times_out_on_none(tmp_path):
    result = write_series(spec(tmp_path, n=4, ipf=4))
    slept = []
    assert wait_written(result.master, 4, timeout=5, sleep=slept.append).n_frames == 4 and not slept
    missing = tmp_path / "other_1_master.h5"
    with pytest.raises(DetectorError, match=f"other_1_master.h5 did not appear in {tmp_path} within 0.2 s"):
        wait_written(missing, 4, timeout=0.2, poll=0.01)
    with pytest.raises(DetectorError, match="after the collection stopped"):  # stopped: no full timeout
        wait_written(missing, 4, timeout=60, settle=0.05, poll=0.01, stopped=lambda: True)


def test_wait_accepts_a_series_cut_short_once_it_settles(tmp_path):
    writer = SeriesWriter(spec(tmp_path, n=6, ipf=2))
    for i in range(3):
        writer.write(synthetic_frame(i + 1, 0.1 * i, GEO.shape, dtype=GEO.dtype))
    result = writer.close(aborted=True)
    got = wait_written(result.master, 6, timeout=60, settle=0.05, poll=0.01, stopped=lambda: True)
    assert got.frames_per_file == (2, 1)
