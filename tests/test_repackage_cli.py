"""``mxcube-interleave repackage`` on separately collected runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py

from mxcubecore_interleave.cli import main
from mxcubecore_interleave.eiger import SeriesSpec, frame_tag, write_series
from mxcubecore_interleave.record import AcquisitionRecord
from tests.repackage_helpers import SMALL, TWO_SWEEPS, interleaved_record

BIN = Path(sys.executable).parent


def runs(directory: Path) -> None:
    """Six separate runs as a site collects them: λ1 0–2°, λ2 0–2°, λ1 2–4°, λ2 2–4°,
    then λ1 again from 10° (a gap: a new sweep) and λ1 at kappa 30 (another sweep)."""
    plan = [(0.9793, 0.0, 0.0), (0.9537, 0.0, 0.0), (0.9793, 2.0, 0.0), (0.9537, 2.0, 0.0),
            (0.9793, 10.0, 0.0), (0.9793, 0.0, 30.0)]
    for run, (wl, om, kappa) in enumerate(plan, start=1):
        write_series(SeriesSpec(directory=directory, series=f"xtal_{run}", n_images=4, images_per_file=4,
                                omega_start=om, omega_increment=0.5, wavelength_A=wl, exposure_time=0.01,
                                detector=SMALL, kappa=kappa, first_image_number=100 * run))


def test_dry_run_prints_the_grouping_and_writes_nothing(tmp_path, capsys):
    runs(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["repackage", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "sweep A: 8 frames" in out and "sweep B: 8 frames" in out
    assert out.count("sweep ") == 4  # A (λ1 0–4°), B (λ2), C (λ1 from 10°), D (kappa 30)
    assert out.index("xtal_1_master.h5") < out.index("xtal_3_master.h5") < out.index("sweep B")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_writes_one_master_per_sweep(tmp_path, capsys):
    runs(tmp_path)
    assert main(["repackage", str(tmp_path), "--output", str(tmp_path / "proc"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    masters = sorted((tmp_path / "proc").glob("*_master.h5"))
    assert [m.name for m in masters] == [f"xtal_{s}_master.h5" for s in "ABCD"]
    with h5py.File(tmp_path / "proc" / "xtal_A_master.h5", "r") as f:
        data = f["/entry/data"]
        tags = [frame_tag(data[k][i]) for k in sorted(data) for i in range(data[k].shape[0])]
        assert data.get("data_000001", getlink=True).filename == "../xtal_1_data_000001.h5"
    assert tags == [100, 101, 102, 103, 300, 301, 302, 303]
    rec = AcquisitionRecord.load(tmp_path / "proc" / "xtal_acquisition.json")
    assert [w.sweep for w in rec.wedges] == ["A", "B", "A", "B", "C", "D"]
    from mxcubecore_interleave.nexus import locate_global
    import datetime as dt

    loc = locate_global(tmp_path / "proc" / "xtal_A_master.h5", 11)  # run 3, 3rd frame
    assert (loc.sweep, loc.frame, loc.data_file) == ("A", 7, "../xtal_3_data_000001.h5")
    t0 = dt.datetime.fromisoformat(rec.wedges[2].start_time)
    assert dt.datetime.fromisoformat(loc.time) - t0 == dt.timedelta(seconds=0.02)  # 2 frames of 0.01 s
    assert "layout L" in out
    # a second run changes nothing
    assert main(["repackage", str(tmp_path), "--output", str(tmp_path / "proc"), "--no-progress"]) == 0
    assert capsys.readouterr().out.count("unchanged:") == 4


def test_explicit_grouping_and_refusal(tmp_path, capsys):
    runs(tmp_path)
    # putting both wavelengths into one sweep is refused with exit status 1
    code = main(["repackage", str(tmp_path), "--sweep", f"X={tmp_path}/xtal_1_master.h5,{tmp_path}/xtal_2_master.h5",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "refused:" in err
    assert "xtal_2_master.h5 was collected at 0.95370 Å, sweep X is at 0.97930 Å: one wavelength per sweep" in err
    assert not list(tmp_path.glob("xtal_X_master.h5"))
    # a legal override: run 5 (10°) as its own named sweep
    assert main(["repackage", str(tmp_path), "--sweep", f"late={tmp_path}/xtal_5_master.h5", "--dry-run"]) == 0
    assert "sweep late: 4 frames" in capsys.readouterr().out


def test_overlapping_runs_are_separate_sweeps_and_refused_together(tmp_path, capsys):
    runs(tmp_path)
    write_series(SeriesSpec(directory=tmp_path, series="xtal_7", n_images=4, images_per_file=4, omega_start=1.0,
                            omega_increment=0.5, wavelength_A=0.9793, exposure_time=0.01, detector=SMALL))
    assert main(["repackage", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("sweep ") == 5 and "xtal_7_master.h5" in out  # its own sweep: it overlaps A
    code = main(["repackage", str(tmp_path), "--no-progress", "--sweep",
                 f"X={tmp_path}/xtal_1_master.h5,{tmp_path}/xtal_7_master.h5"])
    assert code == 1
    assert "sweep X: omega overlap between frame 4 (xtal_1, ends at 2°) and frame 5 (xtal_7, starts at 1°)" in \
        capsys.readouterr().err


def test_missing_data_file_exit_status_and_message(tmp_path):
    runs(tmp_path)
    (tmp_path / "xtal_3_data_000001.h5").unlink()
    out = subprocess.run([BIN / "mxcube-interleave", "repackage", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "xtal_3_data_000001.h5 is missing" in out.stderr
    assert not list(tmp_path.glob("xtal_[A-D]_master.h5"))


def test_record_mode_with_progress_bar(tmp_path):
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=3)
    out = subprocess.run([BIN / "mxcube-interleave", "repackage", "--record", str(rp), "--output-subdir", "proc"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "sweep masters" in out.stderr and "2/2" in out.stderr  # tqdm's bar
    assert "layout V" in out.stdout and "warning:" in out.stderr and "Neggia" in out.stderr
    assert (tmp_path / "d" / "proc" / "ilv_B_master.h5").exists()


def test_progress_bars_for_reading_and_writing(tmp_path):
    runs(tmp_path)
    out = subprocess.run([BIN / "mxcube-interleave", "repackage", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "reading series" in out.stderr and "6/6" in out.stderr
    assert "sweep masters" in out.stderr and "4/4" in out.stderr


def test_bad_arguments(tmp_path, capsys):
    assert main(["repackage"]) == 2
    assert main(["repackage", str(tmp_path), "--sweep", "nonsense"]) == 2
    assert main(["repackage", str(tmp_path / "nowhere")]) == 1
    assert "does not exist" in capsys.readouterr().err
