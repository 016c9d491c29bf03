"""The record never runs ahead of the files (issue 12, item 3), and a run whose record says
complete but whose masters are missing is repaired, not skipped for a new run number.

Before: ``completed`` was saved before the after-masters, so a stop could leave the record
"completed" and ``wait_idle()`` True while a master was stale, and a kill -9 between the two left
the run without masters forever (the next start took run 2)."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

from mxcubecore_interleave.interleave.runner import add_interleaved_collection
from mxcubecore_interleave.record import AcquisitionRecord
from tests.test_interleave_entry import check_files_match_record, two_energy_task

pytestmark = pytest.mark.beamline


def master_frames(path: Path) -> int:
    with h5py.File(path, "r") as f:
        return sum(f[f"/entry/data/{k}"].shape[0] for k in f["/entry/data"])


def test_completed_only_after_the_masters_are_final(beamline, mocker):
    repackager = beamline.get_object_by_role("master_file_repackager")
    seen: list[str] = []
    real = repackager.write_sweep_masters

    def spy(record_path, stage, *a, **kw):
        seen.append(AcquisitionRecord.load(record_path).status)  # what a reader sees meanwhile
        return real(record_path, stage, *a, **kw)

    mocker.patch.object(repackager, "write_sweep_masters", side_effect=spy)
    finished_at: list[str] = []
    q, node = add_interleaved_collection(beamline, two_energy_task(n=6, wedge=3))
    model, entry = q.entry(node)

    def on_finished(*_a):  # the queue's finished signal: record and masters consistent now
        rec = AcquisitionRecord.load(Path(model.record_path))
        finished_at.append(rec.status)
        for s in rec.sweeps:
            assert s.master and master_frames(Path(model.record_path).parent / s.master) == 6

    beamline.queue_manager.connect("queue_interleaved_finished", on_finished)
    try:
        q.execute(timeout=120)
    finally:
        beamline.queue_manager.disconnect("queue_interleaved_finished", on_finished)
    assert entry.wait_idle(60)
    assert seen and "completed" not in seen, seen
    assert finished_at == ["completed"]


def test_completed_run_with_missing_masters_is_repaired(beamline):
    q, node = add_interleaved_collection(beamline, two_energy_task(n=6, wedge=3))
    model, entry = q.entry(node)
    q.execute(timeout=120)
    path = Path(model.record_path)
    rec = AcquisitionRecord.load(path)
    assert rec.status == "completed"
    data_before = {p: p.stat().st_mtime_ns for p in path.parent.glob("*_data_*.h5")}
    masters = [path.parent / s.master for s in rec.sweeps]
    # what a kill -9 after "completed" (earlier versions) left: the record complete, no masters
    for m in masters:
        m.unlink()
    # the next process: the queue rebuilt with the same task
    q2, node2 = add_interleaved_collection(beamline, two_energy_task(n=6, wedge=3), sample_id="1:02")
    model2, _entry2 = q2.entry(node2)
    assert q2.execute(timeout=120)
    assert Path(model2.record_path) == path  # the same run, not run 2
    assert not list(path.parent.glob("lyso_2_*"))
    assert all(m.exists() and master_frames(m) == 6 for m in masters)
    rec2, n = check_files_match_record(path)
    assert rec2.status == "completed" and n == 24
    assert all(p.stat().st_mtime_ns == t for p, t in data_before.items())  # no frame re-collected
