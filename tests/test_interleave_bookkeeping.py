"""RecordKeeper: the acquisition record while a plan runs (pure, no beamline)."""

import json
import re
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mxcubecore_interleave.errors import RecordError
from mxcubecore_interleave.interleave import bookkeeping, parse_task, plan
from mxcubecore_interleave.interleave.bookkeeping import RecordKeeper, differences
from mxcubecore_interleave.record import AcquisitionRecord, RecordWriter
from tests.test_interleave_planner import tasks
from tests.record_checks import assert_every_frame_once_in_order

TASK = {"sweeps": [{"id": "A", "energy_keV": 12.7, "num_images": 8, "osc_range": 0.5},
                   {"id": "B", "energy_keV": 13.0, "num_images": 8, "osc_range": 0.5}],
        "wedge_size": 4, "prefix": "x", "images_per_file": 2}


def touch(d, names):
    for n in names:
        (d / n).write_bytes(b"")


def test_planned_record_names_every_file(tmp_path):
    k = RecordKeeper.create(plan(parse_task(TASK)), tmp_path, 3)
    k.save()
    rec = AcquisitionRecord.load(tmp_path / "x_3_acquisition.json")
    assert rec.prefix == "x_3" and rec.status == "planned"
    assert [w.source_master for w in rec.wedges] == [
        "x_A_w001_3_master.h5", "x_B_w001_3_master.h5", "x_B_w002_3_master.h5", "x_A_w002_3_master.h5"]
    assert rec.wedges[0].data_files == ["x_A_w001_3_data_000001.h5", "x_A_w001_3_data_000002.h5"]
    # the record's own lists say what is on disk: nothing yet (15-1: they once listed every
    # planned file while source_masters listed only the collected wedges)
    assert rec.data_files == [] and rec.source_masters == []
    assert [j.prefix for j in k.pending()][:2] == ["x_A_w001", "x_B_w001"]


def test_partial_wedge_then_rest_next(tmp_path):
    k = RecordKeeper.create(plan(parse_task(TASK)), tmp_path, 1)
    jobs = k.pending()
    k.begin(jobs[0])
    k.finish(jobs[0], str(tmp_path / "x_A_w001_1_master.h5"), [str(tmp_path / "x_A_w001_1_data_000001.h5"),
                                                              str(tmp_path / "x_A_w001_1_data_000002.h5")], 4)
    k.begin(jobs[1])
    touch(tmp_path, ["x_B_w001_1_master.h5"])
    rest = k.finish(jobs[1], str(tmp_path / "x_B_w001_1_master.h5"), [str(tmp_path / "x_B_w001_1_data_000001.h5")], 1)
    rec = AcquisitionRecord.load(k.path)
    w = rec.wedges[1]
    assert (w.status, w.n, w.n_collected, w.data_files) == ("partial", 4, 1, ["x_B_w001_1_data_000001.h5"])
    assert rest is not None and rest.source_master == "x_B_w001b_1_master.h5"
    nxt = k.pending()[0]  # the missing frames come next, under a new name, with the next global numbers
    assert (nxt.sweep, nxt.first_frame, nxt.n, nxt.first_global, nxt.wedge_part) == ("B", 2, 3, 6, "B_w001b")
    assert nxt.omega_start == pytest.approx(0.5)
    assert rec.collected_frames("B") == 1 and rec.collected_frames("A") == 4


def test_resume_after_crash_mid_wedge_trusts_the_disk(tmp_path):
    p = plan(parse_task(TASK))
    k = RecordKeeper.create(p, tmp_path, 1)
    jobs = k.pending()
    k.begin(jobs[0])  # the process dies here, before finish(): the record says "running"
    # nothing on disk for that wedge: it is planned again (same name is free)
    k2 = RecordKeeper.resume(k.path, p, 1)
    assert k2.record.wedges[0].status == "planned" and len(k2.pending()) == 4
    assert k2.pending()[0].prefix == "x_A_w001"


def test_resume_refuses_other_task(tmp_path):
    k = RecordKeeper.create(plan(parse_task(TASK)), tmp_path, 1)
    k.save()
    other = dict(TASK, sweeps=[dict(TASK["sweeps"][0], num_images=12), TASK["sweeps"][1]])
    with pytest.raises(RecordError, match=r"other settings than this task: sweep 'A': number of images 12 \(recorded: 8\)"):
        RecordKeeper.resume(k.path, plan(parse_task(other)), 1)


def _finish_all(k, tmp_path, jobs):
    for job in jobs:
        k.begin(job)
        series = f"{job.prefix}_{job.run}"
        k.finish(job, str(tmp_path / f"{series}_master.h5"),
                 [str(tmp_path / f"{series}_data_{i:06d}.h5") for i in range(1, 3)], job.n)


def test_one_atomic_write_per_wedge_and_only_the_changed_wedge_serialised(tmp_path, mocker):
    big = dict(TASK, sweeps=[dict(s, num_images=400) for s in TASK["sweeps"]])  # 200 wedges
    k = RecordKeeper.create(plan(parse_task(big)), tmp_path, 1)
    k.save()
    writes = mocker.spy(bookkeeping, "atomic_write_bytes")
    reorder = mocker.spy(k, "_reorder")
    jobs = k.pending()
    _finish_all(k, tmp_path, jobs[:1])
    assert writes.call_count == 2  # the run starts ("running"), the wedge ends
    for n, job in enumerate(jobs[1:60], start=1):
        _finish_all(k, tmp_path, [job])
        assert writes.call_count == 2 + n  # one write per wedge, begin() writes nothing
        # the wedge and its two data files: nothing else is serialised again
        assert k.writer.serialised == 3
    assert reorder.call_count == 0  # wedges ending in turn are not sorted again
    on_disk = AcquisitionRecord.load(k.path)
    assert on_disk.to_json_dict() == k.record.to_json_dict()
    assert [w.status for w in on_disk.wedges[:60]] == ["complete"] * 60
    assert [(d.first_global, d.n) for d in on_disk.data_files[:3]] == [(1, 2), (3, 2), (5, 2)]


def test_record_writer_matches_model_dump_and_sees_changes(tmp_path):
    k = RecordKeeper.create(plan(parse_task(TASK)), tmp_path, 1)
    w = RecordWriter()
    text = w.text(k.record)
    assert json.loads(text) == k.record.to_json_dict()
    assert list(json.loads(text)) == list(k.record.to_json_dict())  # same key order
    assert w.text(k.record) == text and w.serialised == 0
    k.record.wedges[2].data_files.append("extra.h5")  # changed in place: found without hints
    k.record.sweeps[0].lims_collection_id = 7
    assert json.loads(w.text(k.record)) == k.record.to_json_dict() and w.serialised == 2


def test_resume_finds_a_wedge_the_record_did_not_see_start(tmp_path):
    """begin() does not write: a crash mid-wedge leaves it 'planned' on disk; its files decide."""
    import h5py
    import numpy as np

    p = plan(parse_task(TASK))
    k = RecordKeeper.create(p, tmp_path, 1)
    k.save()
    jobs = k.pending()
    _finish_all(k, tmp_path, jobs[:1])
    k.begin(jobs[1])  # dies during wedge 2 after 3 of its 4 frames (2 per file)
    series = f"{jobs[1].prefix}_1"
    (tmp_path / f"{series}_master.h5").write_bytes(b"")
    for i, n in ((1, 2), (2, 1)):
        with h5py.File(tmp_path / f"{series}_data_{i:06d}.h5", "w") as f:
            f["/entry/data/data"] = np.zeros((n, 2, 2), dtype=np.uint16)
    assert AcquisitionRecord.load(k.path).wedges[1].status == "planned"
    k2 = RecordKeeper.resume(k.path, p, 1)
    w = k2.record.wedges[1]
    assert (w.status, w.n_collected, w.start_time is not None) == ("partial", 3, True)
    nxt = k2.pending()[0]
    assert (nxt.sweep, nxt.first_frame, nxt.n, nxt.wedge_part) == (jobs[1].sweep, 4, 1, "B_w001b")
    assert not k2.clashes()  # nothing on disk is planned again


@pytest.mark.parametrize("change, message", [
    ({"energy_keV": 12.8}, "sweep 'A': energy 12.8000 keV, 0.96863 Å (recorded: 12.7000 keV, 0.97625 Å)"),
    ({"kappa": 30.0}, "sweep 'A': kappa 30 deg (recorded: 0 deg)"),
    ({"phi": 90.0}, "sweep 'A': phi 90 deg"),
    ({"transmission": 20.0}, "sweep 'A': transmission 20 % (recorded: 100 %)"),
    ({"exposure_time": 0.05}, "sweep 'A': exposure time 0.05 s"),
    ({"resolution": 2.0}, "sweep 'A': resolution 2 Å (recorded: not set)"),
    ({"detector_distance": 250.0}, "sweep 'A': detector distance 250 mm"),
    ({"omega_start": 10.0}, "sweep 'A': omega start 10 deg"),
    ({"inverse_beam": True}, "the sweeps are A, A_inv, B"),
])
def test_resume_refuses_changed_settings_naming_them(tmp_path, change, message):
    k = RecordKeeper.create(plan(parse_task(TASK)), tmp_path, 1)
    k.save()
    other = dict(TASK, sweeps=[dict(TASK["sweeps"][0], **change), TASK["sweeps"][1]])
    assert differences(k.record, plan(parse_task(other)))
    with pytest.raises(RecordError, match=re.escape(message)):
        RecordKeeper.resume(k.path, plan(parse_task(other)), 1)


def test_resume_refuses_other_wedges_and_files_but_not_another_order(tmp_path):
    k = RecordKeeper.create(plan(parse_task(TASK)), tmp_path, 1)
    k.save()
    with pytest.raises(RecordError, match=r"sweep 'A': wedge size 2 images \(recorded: 4\)"):
        RecordKeeper.resume(k.path, plan(parse_task(dict(TASK, wedge_size=2))), 1)
    with pytest.raises(RecordError, match=r"sweep 'A': 4 images per data file \(recorded: 2\)"):
        RecordKeeper.resume(k.path, plan(parse_task(dict(TASK, images_per_file=4))), 1)
    k2 = RecordKeeper.resume(k.path, plan(parse_task(dict(TASK, strategy="round_robin"))), 1)
    assert [j.prefix for j in k2.pending()] == [j.prefix for j in k.pending()]  # the recorded order


def test_resume_infers_the_wedge_size_of_an_older_record(tmp_path):
    k = RecordKeeper.create(plan(parse_task(TASK)), tmp_path, 1)
    for s in k.record.sweeps:  # written before the record kept these
        s.wedge_images = s.images_per_file = None
    k.save()
    assert differences(AcquisitionRecord.load(k.path), plan(parse_task(TASK))) == []
    assert "wedge size 2 images (recorded: 4)" in differences(AcquisitionRecord.load(k.path),
                                                               plan(parse_task(dict(TASK, wedge_size=2))))[0]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_incremental_bookkeeping_matches_a_fresh_record(tmp_path_factory, data):
    """Any sequence of whole, cut and empty wedges, with resumes after a cut: every frame once,
    and what the fast path keeps equals the record rebuilt from scratch."""
    d = tmp_path_factory.mktemp("bk")
    p = plan(parse_task(data.draw(tasks())))
    k = RecordKeeper.create(p, d, 1)
    k.save()
    with mock.patch("mxcubecore_interleave.atomic.fsync_path"):  # speed only: atomicity is tested elsewhere
        for step in range(2000):
            jobs = k.pending()
            if not jobs:
                break
            job = jobs[0]
            k.begin(job)
            cut = step < 40 and data.draw(st.integers(0, 3)) == 0
            n = data.draw(st.integers(0, job.n)) if cut else job.n
            series = f"{job.prefix}_{job.run}"
            k.finish(job, str(d / f"{series}_master.h5"), [str(d / f"{series}_data_000001.h5")] if n else [], n)
            if n < job.n:  # the entry stops after a cut: the next run resumes from the file
                k.set_status("aborted")
                k = RecordKeeper.resume(k.path, p, 1)
            if step < 40 or not k.pending():
                assert AcquisitionRecord.load(k.path).to_json_dict() == k.record.to_json_dict()
    rec = k.record
    fresh = AcquisitionRecord.model_validate(rec.to_json_dict())
    fresh.renumber()
    assert [(w.order, w.first_global) for w in fresh.wedges] == [(w.order, w.first_global) for w in rec.wedges]
    rebuilt = RecordKeeper(fresh, k.path, k.task_prefix, 1, k.images_per_file)
    rebuilt._rebuild_data_files()
    assert fresh.data_files == rec.data_files
    assert_every_frame_once_in_order(rec, p.sweeps)
