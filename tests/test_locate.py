"""Where is image N: global acquisition index <-> sweep, frame, omega, data file, both ways."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401
import pytest

from mxcubecore_interleave.cli import main
from mxcubecore_interleave.eiger import frame_tag
from mxcubecore_interleave.errors import RepackageError
from mxcubecore_interleave.nexus import Lookup, global_numbers, locate_frame, locate_global, repackage_record
from tests.repackage_helpers import TWO_SWEEPS, interleaved_record


@pytest.fixture
def packed(tmp_path):
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=3)
    res = repackage_record(rp, "after", output_subdir="processing")
    return rp, res


def test_every_global_image_round_trips_and_is_the_right_frame(packed):
    rp, res = packed
    lk = Lookup.load(rp)
    for g in range(1, 17):
        loc = lk.by_global(g)
        assert lk.by_frame(loc.sweep, loc.frame).global_index == g
        assert lk.by_omega(loc.sweep, loc.omega + 0.25).global_index == g
        with h5py.File(rp.parent / loc.data_file, "r") as f:  # the stated file and index hold image g
            assert frame_tag(f["/entry/data/data"][loc.index_in_file]) == g
        master = rp.parent / "processing" / f"ilv_{loc.sweep}_master.h5"
        assert global_numbers(master)[loc.frame - 1] == g
        assert loc.collected


def test_from_a_sweep_master_after_moving_it(packed, tmp_path):
    import shutil

    rp, res = packed
    moved = tmp_path / "moved"
    shutil.move(str(rp.parent), moved)
    master_b = moved / "processing" / "ilv_B_master.h5"
    loc = locate_global(master_b, 13)
    with h5py.File(moved / loc.data_file, "r") as f:
        assert frame_tag(f["/entry/data/data"][loc.index_in_file]) == 13
    assert (loc.sweep, loc.frame, loc.omega, loc.wedge) == ("B", 5, 2.0, 3)
    assert (loc.data_file, loc.index_in_file) == ("ilv_4_data_000001.h5", 0)
    assert loc.time is not None
    master_a = moved / "processing" / "ilv_A_master.h5"
    assert locate_frame(master_a, "A", omega=3.9).global_index == 12
    assert locate_frame(master_a, "A", frame=5).global_index == 9


def test_out_of_range_is_a_clear_error(packed):
    rp, _res = packed
    with pytest.raises(RepackageError, match=r"global image 17 is outside this acquisition \(1..16\)"):
        locate_global(rp, 17)
    with pytest.raises(RepackageError, match=r"omega 4.0° is outside sweep A"):
        locate_frame(rp, "A", omega=4.0)
    with pytest.raises(RepackageError, match="frame 9 does not exist"):
        locate_frame(rp, "B", frame=9)


def test_planned_frames_are_located_before_collection(tmp_path):
    from mxcubecore_interleave.eiger import SeriesSpec, write_series
    from tests.repackage_helpers import SMALL

    tpl = write_series(SeriesSpec(directory=tmp_path / "tpl", series="probe", n_images=1, images_per_file=1,
                                  omega_start=0, omega_increment=0.5, wavelength_A=1.0, exposure_time=0.01,
                                  detector=SMALL)).master
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=3, write=False)
    res = repackage_record(rp, "before", template=tpl, images_per_file=3)
    loc = locate_global(res.masters[1].master, 8)  # B's 4th frame: 2nd file of wedge 1, index 0
    assert (loc.sweep, loc.frame, loc.data_file, loc.index_in_file, loc.collected) == (
        "B", 4, "ilv_2_data_000002.h5", 0, False)


def test_cli_both_ways(packed, capsys):
    rp, res = packed
    assert main(["locate", str(res.masters[0].master), "--global", "10", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["sweep"], d["frame"], d["data_file"], d["index_in_file"]) == ("A", 6, "ilv_3_data_000001.h5", 1)
    assert main(["locate", str(res.masters[1].master), "--frame", "8"]) == 0
    assert "global image 16 = sweep B frame 8" in capsys.readouterr().out
    assert main(["locate", str(rp), "--omega", "1.0"]) == 2  # a record needs --sweep
    assert main(["locate", str(rp), "--sweep", "B", "--omega", "1.0"]) == 0
    assert "global image 7 = sweep B frame 3" in capsys.readouterr().out
    assert main(["locate", str(rp), "--global", "99"]) == 1


def test_demo_step(tmp_path, capsys):
    from mxcubecore_interleave.nexus.demo import run_repackage_demo

    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=3)
    summary = run_repackage_demo(rp, output_subdir="processing")
    assert [(s["sweep"], s["frames"], s["frames_read_by_fabio"]) for s in summary["sweeps"]] == [("A", 8, 8), ("B", 8, 8)]
    assert summary["last_image"]["global_index"] == 16 and summary["last_image"]["sweep"] == "B"
    assert Path(summary["figure"]).stat().st_size > 1000
    assert "last image 16: sweep B frame 8" in capsys.readouterr().out


def test_by_omega_finds_frames_around_a_hole(tmp_path):
    # wedge A1 stopped after 2 of 4 frames (omega 0..1°), A2 collected from 2.0°: a hole at 1..2°
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=4, partial={0: 2})
    lk = Lookup.load(rp)
    loc = lk.by_omega("A", 2.1)
    assert (loc.frame, loc.omega, loc.global_index) == (3, 2.0, 7)  # A1 1..2, B1 3..6, A2 from 7
    assert lk.by_omega("A", 0.6).global_index == 2
    with pytest.raises(RepackageError, match=r"omega 1.2° falls in a gap of sweep A: no frame was collected"):
        lk.by_omega("A", 1.2)
    with pytest.raises(RepackageError, match=r"omega 4.0° is outside sweep A"):
        lk.by_omega("A", 4.0)


def test_data_file_read_at_the_dataset_its_master_links(tmp_path):
    """A data file the record does not list is read at the dataset its detector master links to."""
    from mxcubecore_interleave.record import AcquisitionRecord

    d = tmp_path / "d"
    rp = interleaved_record(d, TWO_SWEEPS, images_per_file=3)
    assert not AcquisitionRecord.load(rp).data_files  # nothing repackaged yet: counts come from the files
    f1, m1 = d / "ilv_1_data_000001.h5", d / "ilv_1_master.h5"
    for p in (f1, m1):
        p.chmod(0o644)
    with h5py.File(f1, "r+") as f:
        f.move("/entry/data/data", "/entry/data/frames")
    with h5py.File(m1, "r+") as f:
        del f["/entry/data/data_000001"]
        f["/entry/data/data_000001"] = h5py.ExternalLink(f1.name, "/entry/data/frames")
    lk = Lookup.load(rp)
    loc = lk.by_global(2)
    assert (loc.data_file, loc.dataset, loc.index_in_file) == ("ilv_1_data_000001.h5", "/entry/data/frames", 1)
    with h5py.File(d / loc.data_file, "r") as f:
        assert frame_tag(f[loc.dataset][loc.index_in_file]) == 2
    loc = lk.by_global(4)  # 3 + 1 frames per wedge: the second file, DECTRIS dataset
    assert (loc.data_file, loc.dataset, loc.index_in_file) == ("ilv_1_data_000002.h5", "/entry/data/data", 0)
