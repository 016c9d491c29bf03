"""RecordKeeper: the acquisition record while a plan runs (pure, no beamline)."""

import pytest

from mxcubecore_interleave.errors import RecordError
from mxcubecore_interleave.interleave import parse_task, plan
from mxcubecore_interleave.interleave.bookkeeping import RecordKeeper
from mxcubecore_interleave.record import AcquisitionRecord

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
    assert [(d.first_global, d.n) for d in rec.data_files[:3]] == [(1, 2), (3, 2), (5, 2)]
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
    with pytest.raises(RecordError, match="other sweeps"):
        RecordKeeper.resume(k.path, plan(parse_task(other)), 1)
