"""Pinned behaviour of the record keeper's resume (interleave/bookkeeping.py): what a run that
starts again finds on disk, sets aside and takes over. Split from test_core_pinned_bookkeeping.py,
whose helpers it uses (the same small two-sweep task)."""

from __future__ import annotations

import os
import re
from unittest import mock

import pytest

from mxcubecore_interleave.errors import RecordError
from mxcubecore_interleave.interleave import bookkeeping as bk
from mxcubecore_interleave.interleave import parse_task, plan
from mxcubecore_interleave.interleave.bookkeeping import RecordKeeper
from mxcubecore_interleave.record import AcquisitionRecord
from tests.test_core_pinned_bookkeeping import ORDER, TASK, _other, closed_master, data_file, finish, keeper, touch


def test_resume_refuses_a_record_of_other_settings(tmp_path):
    k = keeper(tmp_path)
    k.save()
    with pytest.raises(RecordError, match=re.escape(
            f"{k.path} was written for other settings than this task: sweep 'A': kappa 5 deg (recorded: 0 deg); "
            "sweep 'A': number of images 12 (recorded: 8)")):
        RecordKeeper.resume(k.path, _other(num_images=12, kappa=5.0), 1)


def test_resume_takes_the_new_orientation_choice_and_keeps_the_order(tmp_path):
    k = keeper(tmp_path)
    jobs = k.pending()
    finish(k, tmp_path, jobs[0], 4)
    rest = finish(k, tmp_path, jobs[1], 1)
    k2 = RecordKeeper.resume(k.path, plan(parse_task(dict(TASK, orientation_change="none", strategy="round_robin"))), 1)
    assert k2.record.orientation_change == "none"
    assert [j.wedge_part for j in k2.pending()] == ["B_w001b", "B_w002", "A_w002"]
    assert k2.pending()[0].first_global == 6 == rest.first_global
    assert k2.images_per_file == {"A": 2, "B": 2} and k2._n_done == 2
    assert k2.record.data_files == k.record.data_files and k2.record.source_masters == k.record.source_masters
    assert k2.set_aside == [] and k2.saves == 0
    assert (k2.task_prefix, k2.run, k2.path) == ("x", 1, k.path)


def test_resume_a_wedge_that_died_with_nothing_on_disk(tmp_path):
    p = plan(parse_task(TASK))
    k = RecordKeeper.create(p, tmp_path, 1)
    k.begin(k.pending()[0])
    k2 = RecordKeeper.resume(k.path, p, 1)
    w = k2.record.wedges[0]
    assert (w.status, w.source_master, w.start_time, w.end_time) == ("planned", "x_A_w001_1_master.h5", None, None)
    assert [j.wedge_part for j in k2.pending()] == ORDER


def test_resume_sets_aside_data_files_without_a_master(tmp_path):
    p = plan(parse_task(TASK))
    k = RecordKeeper.create(p, tmp_path, 1)
    k.begin(k.pending()[0])
    d1 = data_file(tmp_path / "x_A_w001_1_data_000001.h5", 2)
    content = d1.read_bytes()
    k2 = RecordKeeper.resume(k.path, p, 1)
    w = k2.record.wedges[0]
    assert (w.status, w.source_master) == ("planned", "x_A_w001b_1_master.h5")
    assert k2.set_aside == [tmp_path / "interrupted" / "x_A_w001_1_data_000001.h5"]
    assert not d1.exists() and k2.set_aside[0].read_bytes() == content
    assert k2.pending()[0].wedge_part == "A_w001b" and k2.clashes() == []


def test_resume_reads_a_closed_master(tmp_path):
    p = plan(parse_task(TASK))
    k = RecordKeeper.create(p, tmp_path, 1)
    jobs = k.pending()
    finish(k, tmp_path, jobs[0], 4)
    k.begin(jobs[1])  # dies after the detector closed a series of 3 frames, in 2 + 1
    files = [data_file(tmp_path / "x_B_w001_1_data_000001.h5", 2), data_file(tmp_path / "x_B_w001_1_data_000002.h5", 1)]
    closed_master(tmp_path / "x_B_w001_1_master.h5", files)
    started = AcquisitionRecord.load(k.path).wedges[1].start_time
    k2 = RecordKeeper.resume(k.path, p, 1)
    w = k2.record.wedges[1]
    assert (w.status, w.n_collected, w.frames_per_file, w.source_master, w.data_files) == (
        "partial", 3, [2, 1], "x_B_w001_1_master.h5", ["x_B_w001_1_data_000001.h5", "x_B_w001_1_data_000002.h5"])
    assert started is not None and w.start_time == started  # begin() wrote it (the run started)
    assert [(d.file[-9:], d.first_global, d.n) for d in k2.record.data_files][2:] == [
        ("000001.h5", 5, 2), ("000002.h5", 7, 1)]
    assert [(j.wedge_part, j.first_frame, j.n, j.first_global) for j in k2.pending()] == [
        ("B_w001b", 4, 1, 8), ("B_w002", 5, 4, 9), ("A_w002", 5, 4, 13)]
    assert AcquisitionRecord.load(k.path).to_json_dict() == k2.record.to_json_dict()


def test_resume_keeps_the_start_the_record_saw(tmp_path):
    p = plan(parse_task(TASK))
    k = RecordKeeper.create(p, tmp_path, 1)
    k.begin(k.pending()[0])
    k.save()
    started = AcquisitionRecord.load(k.path).wedges[0].start_time
    files = [data_file(tmp_path / "x_A_w001_1_data_000001.h5", 2), data_file(tmp_path / "x_A_w001_1_data_000002.h5", 2)]
    closed_master(tmp_path / "x_A_w001_1_master.h5", files)
    os.utime(tmp_path / "x_A_w001_1_master.h5", (1_000_000_000, 1_000_000_000))
    k2 = RecordKeeper.resume(k.path, p, 1)
    w = k2.record.wedges[0]
    assert started is not None and (w.status, w.n_collected, w.start_time) == ("complete", 4, started)


def test_resume_reads_what_it_can_of_a_master_not_closed(tmp_path):
    p = plan(parse_task(TASK))
    k = RecordKeeper.create(p, tmp_path, 1)
    k.save()  # begin() is not written: the record says "planned", the files say otherwise
    touch(tmp_path / "x_A_w001_1_master.h5", b"half-written")
    data_file(tmp_path / "x_A_w001_1_data_000001.h5", 2)
    touch(tmp_path / "x_A_w001_1_data_000002.h5", b"truncated")  # unreadable: the frames end here
    data_file(tmp_path / "x_A_w001_1_data_000003.h5", 2)
    os.utime(tmp_path / "x_A_w001_1_master.h5", (1_700_000_000, 1_700_000_000))
    k2 = RecordKeeper.resume(k.path, p, 1)
    w = k2.record.wedges[0]
    assert (w.status, w.n_collected, w.frames_per_file, w.data_files) == (
        "partial", 2, [2], ["x_A_w001_1_data_000001.h5"])
    assert w.start_time == bk._file_time(tmp_path / "x_A_w001_1_master.h5")
    assert k2.pending()[0].wedge_part == "A_w001b"
    assert k2.pending()[0].first_frame == 3


def test_resume_a_master_not_closed_with_an_empty_first_file(tmp_path):
    p = plan(parse_task(TASK))
    k = RecordKeeper.create(p, tmp_path, 1)
    k.save()
    touch(tmp_path / "x_A_w001_1_master.h5", b"half-written")
    data_file(tmp_path / "x_A_w001_1_data_000001.h5", 0)
    data_file(tmp_path / "x_A_w001_1_data_000002.h5", 2)
    k2 = RecordKeeper.resume(k.path, p, 1)
    w = k2.record.wedges[0]
    # nothing usable: planned again under a fresh name (the old names are on disk)
    assert (w.status, w.n_collected, w.source_master) == ("planned", 0, "x_A_w001b_1_master.h5")
    assert [j.wedge_part for j in k2.pending()] == ["A_w001b", *ORDER[1:]]


def test_resume_leaves_planned_wedges_without_files_alone(tmp_path):
    p = plan(parse_task(TASK))
    k = RecordKeeper.create(p, tmp_path, 1)
    k.save()
    touch(tmp_path / "unrelated_master.h5")
    with mock.patch.object(RecordKeeper, "_settle_from_disk") as settle:
        RecordKeeper.resume(k.path, p, 1)
    assert settle.call_count == 0
    touch(tmp_path / "x_B_w002_1_data_000001.h5")
    with mock.patch.object(RecordKeeper, "_settle_from_disk") as settle:
        RecordKeeper.resume(k.path, p, 1)
    assert [c.args[0].source_master for c in settle.call_args_list] == ["x_B_w002_1_master.h5"]


def test_on_disk_of_a_wedge_without_a_planned_name(tmp_path):
    k = keeper(tmp_path)
    w = k.record.wedges[0]
    w.status = "complete"
    assert not k._on_disk(w)
    touch(tmp_path / w.data_files[0])
    assert k._on_disk(w)
    w2 = k.record.wedges[1]
    w2.status = "complete"
    touch(tmp_path / w2.source_master)
    assert k._on_disk(w2)
    w3 = k.record.wedges[2]
    w3.status, w3.source_master = "planned", None
    assert not k._on_disk(w3)


def test_wedge_files_of_a_wedge_not_collected(tmp_path):
    k = keeper(tmp_path)
    w = k.record.wedges[0]
    assert k._wedge_files(w) == []
    w.status, w.n_collected = "partial", 3
    assert [(d.file, d.first_global, d.n) for d in k._wedge_files(w)] == [
        ("x_A_w001_1_data_000001.h5", 1, 2), ("x_A_w001_1_data_000002.h5", 3, 1)]
    w.frames_per_file = [3]
    assert [(d.file, d.first_global, d.n) for d in k._wedge_files(w)] == [("x_A_w001_1_data_000001.h5", 1, 3)]
    w.status = "complete"
    w.n_collected = 0
    assert k._wedge_files(w) == []
