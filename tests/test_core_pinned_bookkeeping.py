"""Pinned behaviour of interleave/bookkeeping.py: the record while a plan runs, stops and resumes.

Pure and fast (tmp_path only, no beamline): exact names, numbers and messages, each refusal
provoked, and a property test that the incremental bookkeeping equals a record rebuilt from
scratch. The mutation run of the module uses this file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from unittest import mock

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mxcubecore_interleave.errors import RecordError
from mxcubecore_interleave.interleave import bookkeeping as bk
from mxcubecore_interleave.interleave import parse_task, plan
from mxcubecore_interleave.interleave.bookkeeping import RecordKeeper, WedgeJob, differences
from mxcubecore_interleave.record import AcquisitionRecord, OrientationChangeRecord, WedgeRecord
from tests.record_checks import assert_every_frame_once_in_order

TASK = {"sweeps": [{"id": "A", "energy_keV": 12.7, "num_images": 8, "osc_range": 0.5},
                   {"id": "B", "energy_keV": 13.0, "num_images": 8, "osc_range": 0.5}],
        "wedge_size": 4, "prefix": "x", "images_per_file": 2}
ORDER = ["A_w001", "B_w001", "B_w002", "A_w002"]  # min_motion's order of TASK (energy changes: 2)


def keeper(tmp_path, task=TASK, run=1, **kw):
    return RecordKeeper.create(plan(parse_task(task)), tmp_path, run, **kw)


def touch(path: Path, data: bytes = b"") -> Path:
    path.write_bytes(data)
    return path


def data_file(path: Path, frames: int) -> Path:
    with h5py.File(path, "w") as f:
        f["/entry/data/data"] = np.zeros((frames, 2, 2), dtype=np.uint16)
    return path


def closed_master(path: Path, data: list[Path]) -> Path:
    """A DECTRIS-like master linking ``data`` (what read_written reads)."""
    with h5py.File(path, "w") as f:
        g = f.create_group("/entry/data")
        for i, d in enumerate(data, start=1):
            g[f"data_{i:06d}"] = h5py.ExternalLink(d.name, "/entry/data/data")
    return path


def series_paths(d: Path, job: WedgeJob, n_files: int) -> tuple[str, list[str]]:
    s = f"{job.prefix}_{job.run}"
    return str(d / f"{s}_master.h5"), [str(d / f"{s}_data_{i:06d}.h5") for i in range(1, n_files + 1)]


def finish(k, d, job, n, n_files=None, **kw):
    master, files = series_paths(d, job, n_files if n_files is not None else -(-n // 2))
    return k.finish(job, master, files, n, **kw)


# -- small helpers ---------------------------------------------------------------------------------
def test_record_prefix():
    assert bk.record_prefix("x", 3) == "x_3"
    assert bk.record_prefix("my_sample", 12) == "my_sample_12"


@pytest.mark.parametrize("a, b, tol, same", [
    (None, None, 1e-6, True),
    (None, 0.0, 1e-6, False),
    (0.0, None, 1e-6, False),
    (1.0, 1.0, 0, True),
    (8, 9, 0, False),
    (1.0, 1.0 + 0.9e-6, 1e-6, True),
    (1.0, 1.0 + 3e-6, 1e-6, False),
    (0.0, 1.5e-6, 1e-6, False),  # below 1 the tolerance is absolute (max with 1.0)
    (0.0, 0.9e-6, 1e-6, True),
    (1000.0, 1000.0005, 1e-6, True),  # above 1 it is relative
    (1000.0, 1000.002, 1e-6, False),
    (-1000.0, -1000.0005, 1e-6, True),  # relative to the magnitude
    (1.0, 1000.0, 1.0, True),  # the larger of the two sets the scale, either way
    (1000.0, 1.0, 1.0, True),
    (1.0, -1000.0, 1.0, False),
])
def test_close(a, b, tol, same):
    assert bk._close(a, b, tol) is same


def test_fmt():
    assert bk._fmt(None, " deg") == "not set"
    assert bk._fmt(2.0, " deg") == "2 deg"
    assert bk._fmt(0.05, " s") == "0.05 s"
    assert bk._fmt(8, "") == "8"


def test_glob_escape_and_series_files(tmp_path):
    assert bk._glob_escape("a*b?c[d]e") == "a[*]b[?]c[[]d]e"
    assert bk._glob_escape("plain_1") == "plain_1"
    odd = "s[1]*_1"
    m = tmp_path / f"{odd}_master.h5"
    assert bk._series_files_on_disk(m) == []
    d2 = touch(tmp_path / f"{odd}_data_000002.h5")
    d1 = touch(tmp_path / f"{odd}_data_000001.h5")
    touch(tmp_path / "s1x_1_data_000001.h5")  # what an unescaped pattern would also match
    touch(tmp_path / f"{odd}_datax.h5")
    assert bk._series_files_on_disk(m) == [d1, d2]
    touch(m)
    assert bk._series_files_on_disk(m) == [m, d1, d2]
    other = tmp_path / "plain.h5"  # not a master name: its stem is the series
    pd = touch(tmp_path / "plain_data_000001.h5")
    assert bk._series_files_on_disk(other) == [pd]
    assert bk._series_files_on_disk(tmp_path / "nowhere" / "y_1_master.h5") == []


def test_index_of_is_by_identity():
    a = WedgeRecord(order=0, sweep="A", sweep_first_frame=1, n=1, first_global=1, omega_start=0.0)
    b = a.model_copy()
    assert a == b
    assert bk._index_of([a, b], b) == 1
    assert bk._index_of([a, b], a) == 0
    with pytest.raises(ValueError, match="not in the list"):
        bk._index_of([a], b)


def test_frames_in(tmp_path):
    assert bk._frames_in(data_file(tmp_path / "d.h5", 3)) == 3
    assert bk._frames_in(touch(tmp_path / "junk.h5", b"not hdf5")) == 0
    with h5py.File(tmp_path / "empty.h5", "w"):
        pass
    assert bk._frames_in(tmp_path / "empty.h5") == 0
    assert bk._frames_in(tmp_path / "missing.h5") == 0


def test_file_time_is_the_mtime_in_local_iso(tmp_path):
    p = touch(tmp_path / "m.h5")
    os.utime(p, (1_700_000_000.25, 1_700_000_000.25))
    want = dt.datetime.fromtimestamp(1_700_000_000.25, dt.timezone.utc).astimezone().isoformat(timespec="milliseconds")
    assert bk._file_time(p) == want
    assert want.endswith(".250" + want[-6:])


def test_set_aside_moves_and_never_replaces(tmp_path):
    a = touch(tmp_path / "a.h5", b"aaa")
    b = touch(tmp_path / "b.h5", b"bb")
    os.utime(a, (1_600_000_000, 1_600_000_000))
    target = tmp_path / "interrupted"
    assert bk._set_aside([], target) == [] and not target.exists()
    out = bk._set_aside([a, b], target)
    assert out == [target / "a.h5", target / "b.h5"]
    assert not a.exists() and not b.exists()
    assert (target / "a.h5").read_bytes() == b"aaa" and (target / "b.h5").read_bytes() == b"bb"
    assert (target / "a.h5").stat().st_mtime == 1_600_000_000
    again = touch(tmp_path / "a.h5", b"new")
    with pytest.raises(FileExistsError):
        bk._set_aside([again], target)
    assert again.read_bytes() == b"new" and (target / "a.h5").read_bytes() == b"aaa"


# -- differences -----------------------------------------------------------------------------------
def _other(**change):
    return plan(parse_task(dict(TASK, sweeps=[dict(TASK["sweeps"][0], **change), TASK["sweeps"][1]])))


def test_differences_none_for_the_same_task(tmp_path):
    k = keeper(tmp_path)
    assert differences(k.record, plan(parse_task(TASK))) == []
    assert differences(k.record, plan(parse_task(dict(TASK, strategy="round_robin")))) == []


@pytest.mark.parametrize("change, messages", [
    ({"energy_keV": 12.8}, ["sweep 'A': energy 12.8000 keV, 0.96863 Å (recorded: 12.7000 keV, 0.97625 Å)"]),
    ({"kappa": 30.0}, ["sweep 'A': kappa 30 deg (recorded: 0 deg)"]),
    ({"phi": 90.0}, ["sweep 'A': phi 90 deg (recorded: 0 deg)"]),
    ({"kappa": 30.0, "phi": -90.0}, ["sweep 'A': kappa 30 deg (recorded: 0 deg)",
                                     "sweep 'A': phi -90 deg (recorded: 0 deg)"]),
    ({"omega_start": 10.0}, ["sweep 'A': omega start 10 deg (recorded: 0 deg)"]),
    ({"osc_range": 0.25}, ["sweep 'A': oscillation per image 0.25 deg (recorded: 0.5 deg)"]),
    ({"num_images": 12}, ["sweep 'A': number of images 12 (recorded: 8)"]),
    ({"num_images": 9}, ["sweep 'A': number of images 9 (recorded: 8)"]),
    ({"exposure_time": 0.05}, ["sweep 'A': exposure time 0.05 s (recorded: 0.01 s)"]),
    ({"transmission": 20.0}, ["sweep 'A': transmission 20 % (recorded: 100 %)"]),
    ({"resolution": 2.0}, ["sweep 'A': resolution 2 Å (recorded: not set)"]),
    ({"detector_distance": 250.0}, ["sweep 'A': detector distance 250 mm (recorded: not set)"]),
    ({"inverse_beam": True}, ["the sweeps are A, A_inv, B (recorded: A, B)"]),
])
def test_differences_name_each_setting(tmp_path, change, messages):
    assert differences(keeper(tmp_path).record, _other(**change)) == messages


def test_differences_tolerances_at_their_edge(tmp_path):
    k = keeper(tmp_path)
    p = plan(parse_task(TASK))
    r = k.record.sweeps[0]
    wl = r.wavelength_A
    r.wavelength_A = wl + 0.9e-6
    assert differences(k.record, p) == []
    r.wavelength_A = wl + 2e-6
    assert [m[:20] for m in differences(k.record, p)] == ["sweep 'A': energy 12"]
    r.wavelength_A = wl
    r.omega_start = 0.9e-9
    assert differences(k.record, p) == []
    r.omega_start = 3e-9
    assert differences(k.record, p) == ["sweep 'A': omega start 0 deg (recorded: 3e-09 deg)"]
    r.omega_start = 0.0
    r.kappa = 0.9e-6
    assert differences(k.record, p) == []
    r.kappa = 3e-6
    assert differences(k.record, p) == ["sweep 'A': kappa 0 deg (recorded: 3e-06 deg)"]
    r.kappa, r.phi = None, 3e-6
    assert differences(k.record, p) == ["sweep 'A': phi 0 deg (recorded: 3e-06 deg)"]
    r.phi = 0.9e-6
    assert differences(k.record, p) == []


def test_differences_an_older_record_without_kappa_phi_is_at_zero(tmp_path):
    k = keeper(tmp_path)
    for s in k.record.sweeps:
        s.kappa = s.phi = None
    assert differences(k.record, plan(parse_task(TASK))) == []
    assert differences(k.record, _other(kappa=30.0, phi=5.0)) == [
        "sweep 'A': kappa 30 deg (recorded: 0 deg)", "sweep 'A': phi 5 deg (recorded: 0 deg)"]
    k.record.sweeps[1].kappa, k.record.sweeps[1].phi = 5.0, 7.0
    assert differences(k.record, plan(parse_task(TASK))) == [
        "sweep 'B': kappa 0 deg (recorded: 5 deg)", "sweep 'B': phi 0 deg (recorded: 7 deg)"]


def test_differences_inverse_partner(tmp_path):
    k = keeper(tmp_path)
    k.record.sweeps[0].inverse_of = "B"
    assert differences(k.record, plan(parse_task(TASK))) == [
        "sweep 'A': inverse-beam partner of None (recorded: B)"]
    k.record.sweeps[0].inverse_of = ""  # empty and None are the same: no partner
    assert differences(k.record, plan(parse_task(TASK))) == []
    inv = dict(TASK, sweeps=[dict(TASK["sweeps"][0], inverse_beam=True), TASK["sweeps"][1]])
    (tmp_path / "i").mkdir()
    k2 = keeper(tmp_path / "i", inv)
    assert differences(k2.record, plan(parse_task(inv))) == []
    k2.record.sweeps[1].inverse_of = "B"
    assert differences(k2.record, plan(parse_task(inv))) == [
        "sweep 'A_inv': inverse-beam partner of A (recorded: B)"]


def test_differences_wedge_size_and_files(tmp_path):
    k = keeper(tmp_path)
    assert differences(k.record, plan(parse_task(dict(TASK, wedge_size=2)))) == [
        "sweep 'A': wedge size 2 images (recorded: 4)", "sweep 'B': wedge size 2 images (recorded: 4)"]
    assert differences(k.record, plan(parse_task(dict(TASK, images_per_file=4)))) == [
        "sweep 'A': 4 images per data file (recorded: 2)", "sweep 'B': 4 images per data file (recorded: 2)"]
    # no images_per_file in the task: a data file per wedge (4)
    assert differences(k.record, plan(parse_task({k_: v for k_, v in TASK.items() if k_ != "images_per_file"}))) == [
        "sweep 'A': 4 images per data file (recorded: 2)", "sweep 'B': 4 images per data file (recorded: 2)"]
    for s in k.record.sweeps:  # an older record: no images_per_file, wedge size from its first wedge
        s.images_per_file = s.wedge_images = None
    assert differences(k.record, plan(parse_task(dict(TASK, images_per_file=4)))) == []
    assert differences(k.record, plan(parse_task(dict(TASK, wedge_size=2)))) == [
        "sweep 'A': wedge size 2 images (recorded: 4)", "sweep 'B': wedge size 2 images (recorded: 4)"]
    k.record.wedges = [w for w in k.record.wedges if not (w.sweep == "A" and w.sweep_first_frame == 1)]
    assert differences(k.record, plan(parse_task(dict(TASK, wedge_size=2)))) == [
        "sweep 'B': wedge size 2 images (recorded: 4)"]  # A's first wedge unknown: nothing to compare
    k.record.sweeps[1].wedge_images = 2  # the recorded value wins over the first wedge
    assert differences(k.record, plan(parse_task(dict(TASK, wedge_size=2)))) == []


def test_differences_other_sweeps_stop_there(tmp_path):
    k = keeper(tmp_path)
    two = dict(TASK, sweeps=[dict(TASK["sweeps"][1], id="B"), dict(TASK["sweeps"][0], id="A", kappa=5.0)])
    assert differences(k.record, plan(parse_task(two))) == ["the sweeps are B, A (recorded: A, B)"]


# -- create, queries ------------------------------------------------------------------------------
FULL = {"sweeps": [{"id": "p", "energy_keV": 12.0, "num_images": 6, "osc_range": 0.2, "kappa": 10.0,
                    "phi": 20.0, "omega_start": 5.0, "exposure_time": 0.02, "transmission": 50.0,
                    "resolution": 2.0, "inverse_beam": True}],
        "wedge_size": 3, "prefix": "s", "orientation_change": "correct"}


def test_create_records_every_setting_and_plans_every_file(tmp_path):
    p = plan(parse_task(FULL))
    k = RecordKeeper.create(p, tmp_path, 2, lims_collection_ids={"p": 11})
    r = k.record
    assert (k.path, k.base, k.task_prefix, k.run) == (tmp_path / "s_2_acquisition.json", tmp_path, "s", 2)
    assert r.prefix == "s_2" and r.status == "planned" and r.orientation_change == "correct"
    assert re.fullmatch(r"s_2-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", r.acquisition_id)
    assert k.images_per_file == {"p": 3, "p_inv": 3}  # no images_per_file: one file per wedge
    assert [s.model_dump() for s in r.sweeps] == [
        {"id": "p", "master": None, "layout": None, "wavelength_A": pytest.approx(p.sweeps[0].wavelength),
         "energy_keV": 12.0, "omega_start": 5.0, "omega_increment": 0.2, "n_frames": 6, "kappa": 10.0,
         "phi": 20.0, "exposure_time": 0.02, "transmission": 50.0, "resolution": 2.0,
         "detector_distance": None, "inverse_of": None, "wedge_images": 3, "images_per_file": 3,
         "lims_collection_id": 11, "lims_error": None},
        {"id": "p_inv", "master": None, "layout": None, "wavelength_A": pytest.approx(p.sweeps[0].wavelength),
         "energy_keV": 12.0, "omega_start": 185.0, "omega_increment": 0.2, "n_frames": 6, "kappa": 10.0,
         "phi": 20.0, "exposure_time": 0.02, "transmission": 50.0, "resolution": 2.0,
         "detector_distance": None, "inverse_of": "p", "wedge_images": 3, "images_per_file": 3,
         "lims_collection_id": None, "lims_error": None}]
    assert r.sweeps[0].wavelength_A == pytest.approx(12.398419843320026 / 12.0)
    assert [(w.order, w.sweep, w.sweep_first_frame, w.n, w.first_global, w.omega_start, w.status,
             w.source_master, w.data_files, w.n_collected) for w in r.wedges] == [
        (i, w.sweep, w.first_frame, w.n, 1 + 3 * i, pytest.approx(w.omega_start), "planned",
         f"s_{w.wedge_part}_2_master.h5", [f"s_{w.wedge_part}_2_data_000001.h5"], 0)
        for i, w in enumerate(p.wedges)]
    assert len(r.wedges) == 4 and r.data_files == [] and r.source_masters == []
    assert not (tmp_path / "s_2_acquisition.json").exists()  # created, not written
    assert k.saves == 0 and k.set_aside == []


def test_create_numbers_and_names_the_planned_wedges(tmp_path):
    k = keeper(tmp_path, run=3)
    assert [(w.order, w.sweep, w.sweep_first_frame, w.n, w.first_global, w.omega_start, w.source_master,
             w.data_files) for w in k.record.wedges] == [
        (0, "A", 1, 4, 1, 0.0, "x_A_w001_3_master.h5", ["x_A_w001_3_data_000001.h5", "x_A_w001_3_data_000002.h5"]),
        (1, "B", 1, 4, 5, 0.0, "x_B_w001_3_master.h5", ["x_B_w001_3_data_000001.h5", "x_B_w001_3_data_000002.h5"]),
        (2, "B", 5, 4, 9, 2.0, "x_B_w002_3_master.h5", ["x_B_w002_3_data_000001.h5", "x_B_w002_3_data_000002.h5"]),
        (3, "A", 5, 4, 13, 2.0, "x_A_w002_3_master.h5", ["x_A_w002_3_data_000001.h5", "x_A_w002_3_data_000002.h5"])]
    assert k.images_per_file == {"A": 2, "B": 2}
    assert k.record.sweeps[0].lims_collection_id is None
    assert k.record.orientation_change == "recentre"
    one = keeper(tmp_path, dict(TASK, images_per_file=1), run=1)
    assert one.record.wedges[0].data_files == [f"x_A_w001_1_data_00000{i}.h5" for i in range(1, 5)]


def test_pending_jobs_say_everything_the_entry_needs(tmp_path):
    k = keeper(tmp_path, run=3)
    assert k.pending() == [
        WedgeJob(0, "A", 1, 4, 0.0, 1, "x_A_w001", "A_w001", 3, 2),
        WedgeJob(1, "B", 1, 4, 0.0, 5, "x_B_w001", "B_w001", 3, 2),
        WedgeJob(2, "B", 5, 4, 2.0, 9, "x_B_w002", "B_w002", 3, 2),
        WedgeJob(3, "A", 5, 4, 2.0, 13, "x_A_w002", "A_w002", 3, 2)]
    assert k.master_path(k.pending()[2]) == tmp_path / "x_B_w002_3_master.h5"
    assert k.collected_frames() == {"A": 0, "B": 0}


def test_a_site_naming_rule_places_the_masters(tmp_path):
    calls = []

    def where(prefix, run):
        calls.append((prefix, run))
        return tmp_path / prefix / f"{prefix}-{run:03d}_master.h5"

    k = keeper(tmp_path, master_of=where)
    job = k.pending()[1]
    assert k.master_path(job) == tmp_path / "x_B_w001" / "x_B_w001-001_master.h5"
    assert calls == [("x_B_w001", 1)]
    assert k.record.wedges[1].source_master == "x_B_w001_1_master.h5"  # the record keeps DECTRIS names
    (tmp_path / "x_B_w001").mkdir()
    m = touch(tmp_path / "x_B_w001" / "x_B_w001-001_master.h5")
    touch(tmp_path / "x_B_w001_1_master.h5")  # where the default rule would look: not a clash here
    assert k.clashes() == [m]


def test_clashes_are_the_files_of_pending_wedges_only(tmp_path):
    k = keeper(tmp_path)
    assert k.clashes() == []
    d = touch(tmp_path / "x_B_w002_1_data_000007.h5")  # any split the detector might use
    m = touch(tmp_path / "x_A_w002_1_master.h5")
    assert k.clashes() == [d, m]  # in the order of the wedges
    jobs = k.pending()
    finish(k, tmp_path, jobs[2], 4)  # B_w002 collected: its files are its own now
    touch(tmp_path / "x_B_w002_1_master.h5")
    assert k.clashes() == [m]


# -- a run ------------------------------------------------------------------------------------------
def test_begin_writes_once_when_the_run_starts(tmp_path):
    k = keeper(tmp_path)
    jobs = k.pending()
    k.begin(jobs[0])
    w = k.record.wedges[0]
    assert w.status == "running" and w.start_time is not None and k.record.status == "running"
    assert k.saves == 1 and AcquisitionRecord.load(k.path).status == "running"
    assert AcquisitionRecord.load(k.path).wedges[0].status == "running"
    k.begin(jobs[1])
    assert k.saves == 1 and k.record.wedges[1].status == "running"
    (tmp_path / "b").mkdir()
    k2 = keeper(tmp_path / "b")
    k2.begin(k2.pending()[0], save=False)
    assert k2.record.status == "running" and k2.saves == 0 and not k2.path.exists()


def test_a_whole_wedge(tmp_path):
    k = keeper(tmp_path)
    job = k.pending()[0]
    k.begin(job)
    started = k.record.wedges[0].start_time
    master, files = series_paths(tmp_path, job, 2)
    rest = k.finish(job, master, files, 4, start_time="ignored", end_time="2026-01-01T00:00:09")
    assert rest is None and k.saves == 2
    w = k.record.wedges[0]
    assert (w.status, w.n_collected, w.start_time, w.end_time) == ("complete", 4, started, "2026-01-01T00:00:09")
    assert (w.source_master, w.data_files, w.frames_per_file) == (
        "x_A_w001_1_master.h5", ["x_A_w001_1_data_000001.h5", "x_A_w001_1_data_000002.h5"], None)
    assert [(d.file, d.first_global, d.n) for d in k.record.data_files] == [
        ("x_A_w001_1_data_000001.h5", 1, 2), ("x_A_w001_1_data_000002.h5", 3, 2)]
    assert k.record.source_masters == ["x_A_w001_1_master.h5"]
    assert [j.wedge_part for j in k.pending()] == ORDER[1:]
    assert k.collected_frames() == {"A": 4, "B": 0}
    assert AcquisitionRecord.load(k.path).to_json_dict() == k.record.to_json_dict()


def test_finish_takes_the_times_it_is_given_and_clamps_the_count(tmp_path):
    k = keeper(tmp_path)
    jobs = k.pending()
    finish(k, tmp_path, jobs[0], 99, n_files=2, start_time="2026-01-01T00:00:01", end_time="2026-01-01T00:00:02")
    w = k.record.wedges[0]
    assert (w.n_collected, w.status, w.start_time, w.end_time) == (4, "complete", "2026-01-01T00:00:01",
                                                                   "2026-01-01T00:00:02")
    finish(k, tmp_path, jobs[1], 4)
    w1 = k._by_master["x_B_w001_1_master.h5"]
    assert w1.start_time is None and re.fullmatch(r"\d{4}-.*T.*\.\d{3}[+-]\d\d:\d\d", w1.end_time)
    assert k.record.wedges[:2] == [w1, w]  # a collected wedge without a start time sorts first
    rest = finish(k, tmp_path, jobs[2], -3, start_time="2026-01-01T00:00:05")
    w2 = k._by_master["x_B_w002_1_master.h5"]
    assert rest is None and (w2.n_collected, w2.status, w2.start_time, w2.end_time) == (0, "planned", None, None)


def test_a_wedge_the_detector_split_its_own_way(tmp_path):
    k = keeper(tmp_path)
    jobs = k.pending()
    master, files = series_paths(tmp_path, jobs[0], 3)
    k.finish(jobs[0], master, files, 4, frames_per_file=[np.int64(1), 1, 2])
    w = k.record.wedges[0]
    assert w.frames_per_file == [1, 1, 2] and all(type(c) is int for c in w.frames_per_file)
    assert [(d.file[-9:], d.first_global, d.n) for d in k.record.data_files] == [
        ("000001.h5", 1, 1), ("000002.h5", 2, 1), ("000003.h5", 3, 2)]
    master, files = series_paths(tmp_path, jobs[1], 2)
    k.finish(jobs[1], None, files, 4)  # no master named: the planned name stays
    assert k.record.wedges[1].source_master == "x_B_w001_1_master.h5"
    assert k.record.source_masters == ["x_A_w001_1_master.h5", "x_B_w001_1_master.h5"]
    assert [d.first_global for d in k.record.data_files] == [1, 2, 3, 5, 7]


def test_paths_are_kept_relative_to_the_record(tmp_path):
    k = keeper(tmp_path)
    job = k.pending()[0]
    sub = tmp_path / "det"
    k.finish(job, str(sub / "m_master.h5"), [str(sub / "m_data_000001.h5"), "rel_data.h5"], 4)
    w = k.record.wedges[0]
    cwd_rel = os.path.relpath(os.path.abspath("rel_data.h5"), tmp_path)
    assert (w.source_master, w.data_files) == ("det/m_master.h5", ["det/m_data_000001.h5", cwd_rel])


def test_a_cut_wedge_plans_the_rest_next_under_a_new_name(tmp_path):
    k = keeper(tmp_path)
    jobs = k.pending()
    finish(k, tmp_path, jobs[0], 4)
    rest = finish(k, tmp_path, jobs[1], 1, end_time="2026-01-01T00:00:03")
    w = k.record.wedges[1]
    assert (w.status, w.n, w.n_collected, w.end_time) == ("partial", 4, 1, "2026-01-01T00:00:03")
    assert w.data_files == ["x_B_w001_1_data_000001.h5"]
    assert rest is k.record.wedges[2]
    assert (rest.sweep, rest.sweep_first_frame, rest.n, rest.omega_start, rest.first_global, rest.status,
            rest.source_master, rest.data_files, rest.order) == (
        "B", 2, 3, 0.5, 6, "planned", "x_B_w001b_1_master.h5",
        ["x_B_w001b_1_data_000001.h5", "x_B_w001b_1_data_000002.h5"], 2)
    assert [(w.order, w.first_global) for w in k.record.wedges] == [(0, 1), (1, 5), (2, 6), (3, 9), (4, 13)]
    assert [j.wedge_part for j in k.pending()] == ["B_w001b", "B_w002", "A_w002"]
    assert [(d.file, d.first_global, d.n) for d in k.record.data_files][-1] == ("x_B_w001_1_data_000001.h5", 5, 1)
    assert AcquisitionRecord.load(k.path).to_json_dict() == k.record.to_json_dict()
    # cut again: the rest of the rest is "c", from the root of the name
    rest2 = finish(k, tmp_path, k.pending()[0], 2)
    assert (rest2.source_master, rest2.sweep_first_frame, rest2.n, rest2.omega_start) == (
        "x_B_w001c_1_master.h5", 4, 1, 1.5)
    assert [j.wedge_part for j in k.pending()] == ["B_w001c", "B_w002", "A_w002"]
    assert k.collected_frames() == {"A": 4, "B": 3}


def test_an_empty_wedge_stays_planned_and_is_renamed_only_if_it_left_files(tmp_path):
    k = keeper(tmp_path)
    jobs = k.pending()
    k.begin(jobs[0])
    assert finish(k, tmp_path, jobs[0], 0, n_files=0) is None
    w = k.record.wedges[0]
    assert (w.status, w.n_collected, w.start_time, w.end_time, w.frames_per_file) == ("planned", 0, None, None, None)
    assert w.source_master == "x_A_w001_1_master.h5"
    assert w.data_files == ["x_A_w001_1_data_000001.h5", "x_A_w001_1_data_000002.h5"]
    assert [j.wedge_part for j in k.pending()] == ORDER
    assert k.record.data_files == [] and k.record.source_masters == []
    touch(tmp_path / "x_A_w001_1_data_000001.h5")  # this time the detector left a file
    job = k.pending()[0]
    k.finish(job, str(tmp_path / "x_A_w001_1_master.h5"), [str(tmp_path / "x_A_w001_1_data_000001.h5")], 0)
    w = k.record.wedges[0]
    assert (w.status, w.source_master, w.data_files) == (
        "planned", "x_A_w001b_1_master.h5", ["x_A_w001b_1_data_000001.h5", "x_A_w001b_1_data_000002.h5"])
    assert [j.wedge_part for j in k.pending()] == ["A_w001b", *ORDER[1:]]
    finish(k, tmp_path, k.pending()[0], 4)  # the new name is found again
    assert k.record.wedges[0].status == "complete" and k.record.wedges[0].source_master == "x_A_w001b_1_master.h5"


def test_a_new_name_skips_names_in_use_and_on_disk(tmp_path):
    k = keeper(tmp_path)
    assert k._next_part("A_w001") == "A_w001b"
    assert k._next_part("A_w001c") == "A_w001b"  # from the root
    touch(tmp_path / "x_A_w001b_1_data_000003.h5")
    assert k._next_part("A_w001") == "A_w001c"
    touch(tmp_path / "x_A_w001c_1_master.h5")
    assert k._next_part("A_w001") == "A_w001d"
    for c in "defghijklmnopqrstuvwxy":
        k._by_master[f"x_A_w001{c}_1_master.h5"] = None
    assert k._next_part("A_w001") == "A_w001z"
    k._by_master["x_A_w001z_1_master.h5"] = None
    with pytest.raises(RecordError, match=r"^wedge A_w001 was restarted too often; start a new run$"):
        k._next_part("A_w001")


def test_wedges_ending_out_of_turn_are_sorted_by_start(tmp_path):
    k = keeper(tmp_path)
    jobs = k.pending()
    finish(k, tmp_path, jobs[1], 4, start_time="2026-01-01T00:00:01")  # B_w001 before A_w001
    assert [w.source_master[2:8] for w in k.record.wedges] == ["B_w001", "A_w001", "B_w002", "A_w002"]
    assert [(w.order, w.first_global) for w in k.record.wedges] == [(0, 1), (1, 5), (2, 9), (3, 13)]
    assert [d.file for d in k.record.data_files] == ["x_B_w001_1_data_000001.h5", "x_B_w001_1_data_000002.h5"]
    # in turn, but it started before the last collected one: sorted by start time
    finish(k, tmp_path, jobs[0], 4, start_time="2026-01-01T00:00:00")
    assert [w.source_master[2:8] for w in k.record.wedges] == ["A_w001", "B_w001", "B_w002", "A_w002"]
    assert [(d.file[2:8], d.first_global) for d in k.record.data_files] == [
        ("A_w001", 1), ("A_w001", 3), ("B_w001", 5), ("B_w001", 7)]
    finish(k, tmp_path, jobs[2], 4, start_time="2026-01-01T00:00:02")
    assert k.record.wedges[2].source_master == "x_B_w002_1_master.h5" and k._n_done == 3
    assert AcquisitionRecord.load(k.path).to_json_dict() == k.record.to_json_dict()


def test_equal_start_times_keep_the_plan_order(tmp_path):
    k = keeper(tmp_path)
    jobs = k.pending()
    same = "2026-01-01T00:00:01"
    with mock.patch.object(k, "_reorder", wraps=k._reorder) as reorder:
        finish(k, tmp_path, jobs[0], 4, start_time=same)
        finish(k, tmp_path, jobs[1], 4, start_time=same)
    assert reorder.call_count == 0  # in turn: not sorted again
    assert [w.source_master[2:8] for w in k.record.wedges] == ORDER
    assert k._n_done == 2
    finish(k, tmp_path, jobs[3], 4, start_time=same)  # out of turn
    assert [w.source_master[2:8] for w in k.record.wedges] == ["A_w001", "B_w001", "A_w002", "B_w002"]
    assert [w.order for w in k.record.wedges] == [0, 1, 2, 3]


def test_a_cut_wedge_out_of_turn(tmp_path):
    k = keeper(tmp_path)
    jobs = k.pending()
    rest = finish(k, tmp_path, jobs[2], 1, start_time="2026-01-01T00:00:01")
    assert [w.source_master[2:9] for w in k.record.wedges] == ["B_w002_", "A_w001_", "B_w001_", "B_w002b", "A_w002_"]
    assert rest.first_global == 10 and rest.sweep_first_frame == 6
    assert [w.first_global for w in k.record.wedges] == [1, 2, 6, 10, 13]


def test_save_touches_and_counts(tmp_path):
    k = keeper(tmp_path)
    k.record.updated = "2000-01-01T00:00:00"
    assert k.save() == k.path and k.saves == 1
    assert AcquisitionRecord.load(k.path).updated != "2000-01-01T00:00:00"
    k.set_status("stopped", save=False)
    assert AcquisitionRecord.load(k.path).status == "planned" and k.saves == 1
    k.set_status("aborted")
    assert AcquisitionRecord.load(k.path).status == "aborted" and k.saves == 2


def test_note_orientation_is_written_at_once(tmp_path):
    k = keeper(tmp_path)
    change = OrientationChangeRecord(wedge="A_w001", sweep="A", kappa_from=0, phi_from=0, kappa=30, phi=0,
                                     method="stored")
    k.note_orientation(change)
    assert k.saves == 1
    assert AcquisitionRecord.load(k.path).orientation_changes == [change]


def test_reload_takes_what_another_writer_added(tmp_path):
    k = keeper(tmp_path)
    jobs = k.pending()
    finish(k, tmp_path, jobs[0], 4)
    other = AcquisitionRecord.load(k.path)
    other.sweeps[0].master = "x_1_A_master.h5"
    other.save(k.path)
    k.reload()
    assert k.record.sweeps[0].master == "x_1_A_master.h5"
    assert [d.file for d in k.record.data_files] == ["x_A_w001_1_data_000001.h5", "x_A_w001_1_data_000002.h5"]
    finish(k, tmp_path, jobs[1], 4)  # the reloaded wedges are the ones updated
    on_disk = AcquisitionRecord.load(k.path)
    assert on_disk.sweeps[0].master == "x_1_A_master.h5"
    assert [w.status for w in on_disk.wedges] == ["complete", "complete", "planned", "planned"]
    assert on_disk.to_json_dict() == k.record.to_json_dict()
    assert [d.first_global for d in on_disk.data_files] == [1, 3, 5, 7]


def test_a_fresh_keeper_counts_the_collected_head(tmp_path):
    k = keeper(tmp_path)
    jobs = k.pending()
    finish(k, tmp_path, jobs[0], 4)
    finish(k, tmp_path, jobs[1], 2)
    k2 = RecordKeeper(k.record, k.path, "x", 1, {"A": 2, "B": 2})
    assert k2._n_done == 2 and k._n_done == 2
    k.record.wedges[0].status = "running"
    assert k2._count_done() == 0


# -- the rule, on any run ---------------------------------------------------------------------------
small_tasks = st.builds(
    lambda sweeps, wedge, ipf: {"sweeps": sweeps, "wedge_size": wedge, "prefix": "t",
                                "images_per_file": ipf if wedge % ipf == 0 else 1},
    st.lists(st.integers(4, 9), min_size=1, max_size=3).map(
        lambda ns: [{"id": f"s{i}", "energy_keV": 12.0 + i, "num_images": n, "osc_range": 0.5}
                    for i, n in enumerate(ns)]),
    st.integers(1, 4), st.integers(1, 2))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), task=small_tasks)
def test_any_run_keeps_every_frame_once_and_equals_a_fresh_record(tmp_path_factory, data, task):
    """Whole, cut and empty wedges, in and out of turn, with resumes: every frame once, numbers
    a running sum, and what the fast path keeps equals the record rebuilt from scratch."""
    d = tmp_path_factory.mktemp("bk")
    p = plan(parse_task(task))
    k = RecordKeeper.create(p, d, 1)
    k.save()
    clock = 0
    with mock.patch("mxcubecore_interleave.atomic.fsync_path"):  # speed only
        for step in range(200):
            jobs = k.pending()
            if not jobs:
                break
            job = jobs[data.draw(st.integers(0, len(jobs) - 1)) if step < 8 else 0]
            clock += 1
            cut = step < 12 and data.draw(st.integers(0, 2)) == 0
            n = data.draw(st.integers(0, job.n)) if cut else job.n
            master, files = series_paths(d, job, -(-n // job.images_per_file))
            k.finish(job, master, files, n, start_time=f"2026-01-01T00:{clock:02d}:00")
            if n < job.n and data.draw(st.booleans()):
                k = RecordKeeper.resume(k.path, p, 1)
            assert AcquisitionRecord.load(k.path).to_json_dict() == k.record.to_json_dict()
            fresh = AcquisitionRecord.model_validate(k.record.to_json_dict())
            assert fresh.renumber() == []  # the numbers kept are those of a fresh count
            rebuilt = RecordKeeper(fresh, k.path, k.task_prefix, 1, k.images_per_file)
            rebuilt._rebuild_data_files()
            assert fresh.data_files == k.record.data_files
            assert fresh.source_masters == k.record.source_masters
            assert rebuilt._n_done == k._n_done
            states = [w.status in ("complete", "partial") for w in k.record.wedges]
            assert states == sorted(states, reverse=True)  # collected first
            starts = [w.start_time for w in k.record.wedges[:k._n_done]]
            assert starts == sorted(starts)
    rec = k.record
    assert not k.pending()
    assert_every_frame_once_in_order(rec, p.sweeps)
    assert [d_.first_global for d_ in rec.data_files] == list(_running_starts(rec.data_files))


def _running_starts(files):
    """1, then the running sum of the frames of the files before."""
    g = 1
    for f in files:
        yield g
        g += f.n


# -- pinned after the first mutation run --------------------------------------------------------------
def test_differences_resolution_and_distance_both_recorded(tmp_path):
    res = dict(TASK, sweeps=[dict(TASK["sweeps"][0], resolution=2.0), dict(TASK["sweeps"][1], detector_distance=250.0)])
    (tmp_path / "r").mkdir()
    k = keeper(tmp_path / "r", res)
    assert differences(k.record, plan(parse_task(res))) == []  # the same values recorded: nothing
    other = dict(res, sweeps=[dict(res["sweeps"][0], resolution=2.5), dict(res["sweeps"][1], detector_distance=300.0)])
    assert differences(k.record, plan(parse_task(other))) == [
        "sweep 'A': resolution 2.5 Å (recorded: 2 Å)", "sweep 'B': detector distance 300 mm (recorded: 250 mm)"]
    assert k.record.sweeps[1].detector_distance == 250.0 and k.record.sweeps[0].resolution == 2.0


def test_a_wedge_size_in_degrees(tmp_path):
    deg = dict(TASK, wedge_size=2.0, wedge_unit="degrees")  # 0.5 deg per image: 4 images
    k = keeper(tmp_path, deg)
    assert [s.wedge_images for s in k.record.sweeps] == [4, 4] and [s.images_per_file for s in k.record.sweeps] == [2, 2]
    assert differences(k.record, plan(parse_task(deg))) == []
    no_split = {k_: v for k_, v in deg.items() if k_ != "images_per_file"}
    (tmp_path / "n").mkdir()
    k2 = keeper(tmp_path / "n", no_split)
    assert k2.images_per_file == {"A": 4, "B": 4}
    k2.save()
    assert RecordKeeper.resume(k2.path, plan(parse_task(no_split)), 1).images_per_file == {"A": 4, "B": 4}


def test_a_longer_prefix_names_the_rest(tmp_path):
    k = keeper(tmp_path, dict(TASK, prefix="sample"))
    rest = finish(k, tmp_path, k.pending()[0], 1)
    assert rest.source_master == "sample_A_w001b_1_master.h5"
    assert k.pending()[0].wedge_part == "A_w001b"


def test_finishing_in_turn_costs_the_same_whatever_the_number_of_wedges(tmp_path):
    """The docstring's promise: a wedge ending in turn is not sorted, renumbers nothing when whole,
    and only its own data files are built again."""
    k = keeper(tmp_path)
    jobs = k.pending()
    with mock.patch.object(k, "_reorder", wraps=k._reorder) as reorder, \
            mock.patch.object(k, "_wedge_files", wraps=k._wedge_files) as files, \
            mock.patch.object(AcquisitionRecord, "renumber", autospec=True,
                              side_effect=AcquisitionRecord.renumber) as renumber:
        finish(k, tmp_path, jobs[0], 4)  # no begin(), no start time: still in turn
        finish(k, tmp_path, jobs[1], 4, start_time="2026-01-01T00:00:01")
        finish(k, tmp_path, jobs[2], 4, start_time="2026-01-01T00:00:01")  # the same start: in turn
        assert (reorder.call_count, files.call_count, renumber.call_count) == (0, 3, 0)
        rest = finish(k, tmp_path, jobs[3], 1, start_time="2026-01-01T00:00:02")
        assert reorder.call_count == 0 and renumber.call_args_list == [mock.call(k.record, 3)]
    assert rest.first_global == 14


def test_every_wedge_without_a_master_is_set_aside(tmp_path):
    p = plan(parse_task(TASK))
    k = RecordKeeper.create(p, tmp_path, 1)
    k.save()  # killed twice before the masters: planned wedges with data files on disk
    a = data_file(tmp_path / "x_A_w001_1_data_000001.h5", 2)
    b = data_file(tmp_path / "x_B_w001_1_data_000001.h5", 2)
    k2 = RecordKeeper.resume(k.path, p, 1)
    assert k2.set_aside == [tmp_path / "interrupted" / a.name, tmp_path / "interrupted" / b.name]
    assert [j.wedge_part for j in k2.pending()] == ["A_w001b", "B_w001b", "B_w002", "A_w002"]


def test_a_closed_master_ends_at_its_first_missing_link(tmp_path):
    p = plan(parse_task(TASK))
    k = RecordKeeper.create(p, tmp_path, 1)
    k.save()
    d1 = data_file(tmp_path / "x_A_w001_1_data_000001.h5", 2)
    closed_master(tmp_path / "x_A_w001_1_master.h5", [d1, tmp_path / "x_A_w001_1_data_000002.h5"])
    data_file(tmp_path / "x_A_w001_1_data_000003.h5", 2)  # not linked by the master: not its frames
    k2 = RecordKeeper.resume(k.path, p, 1)
    w = k2.record.wedges[0]
    assert (w.status, w.n_collected, w.data_files, w.frames_per_file) == (
        "partial", 2, ["x_A_w001_1_data_000001.h5"], [2])


def test_resume_with_a_site_naming_rule(tmp_path):
    def where(prefix, run):
        return tmp_path / "det" / f"{prefix}_{run}_master.h5"

    p = plan(parse_task(TASK))
    k = RecordKeeper.create(p, tmp_path, 1, master_of=where)
    k.save()
    (tmp_path / "det").mkdir()
    d = [data_file(tmp_path / "det" / f"x_A_w001_1_data_00000{i}.h5", 2) for i in (1, 2)]
    closed_master(tmp_path / "det" / "x_A_w001_1_master.h5", d)
    k2 = RecordKeeper.resume(k.path, p, 1, master_of=where)
    w = k2.record.wedges[0]
    assert (w.status, w.source_master, w.data_files) == (
        "complete", "det/x_A_w001_1_master.h5", ["det/x_A_w001_1_data_000001.h5", "det/x_A_w001_1_data_000002.h5"])
    assert k2.master_path(k2.pending()[0]) == tmp_path / "det" / "x_B_w001_1_master.h5"


def test_on_disk_is_the_master_or_the_first_data_file_for_a_collected_wedge(tmp_path):
    k = keeper(tmp_path)
    w = k.record.wedges[0]
    w.status = "complete"
    touch(tmp_path / w.data_files[1])  # the second file alone: not what the record names first
    touch(tmp_path / "x_A_w001_1_data_000005.h5")  # a file of the series the record does not name
    assert not k._on_disk(w)


def test_a_planned_wedge_is_on_disk_by_any_file_of_its_series(tmp_path):
    p = plan(parse_task(TASK))
    k = RecordKeeper.create(p, tmp_path, 1)
    k.save()
    touch(tmp_path / "x_B_w002_1_data_000003.h5")  # a split the plan did not assume
    with mock.patch.object(RecordKeeper, "_settle_from_disk") as settle:
        RecordKeeper.resume(k.path, p, 1)
    assert [c.args[0].source_master for c in settle.call_args_list] == ["x_B_w002_1_master.h5"]
