"""The interleaved collection queue entry on the mockup beamline: files, record, LIMS, abort/resume."""

import json
from pathlib import Path

import gevent
import h5py
import hdf5plugin  # noqa: F401
import pytest

from mxcubecore_interleave.eiger import frame_tag
from mxcubecore_interleave.interleave import parse_task, plan
from mxcubecore_interleave.interleave.runner import add_interleaved_collection, run_interleaved_collection
from mxcubecore_interleave.record import AcquisitionRecord
from mxcubecore_interleave.testing import wait_until

pytestmark = pytest.mark.beamline


def two_energy_task(n=6, wedge=3, exp=0.001, **kw):
    return {"sweeps": [
        {"id": "peak", "energy_keV": 12.66, "num_images": n, "osc_range": 0.5, "exposure_time": exp,
         "inverse_beam": True, "transmission": 50.0},
        {"id": "remote", "energy_keV": 13.0, "num_images": n, "osc_range": 0.5, "exposure_time": exp,
         "inverse_beam": True, "transmission": 50.0}],
        "wedge_size": wedge, "prefix": "lyso", "subdir": "il", **kw}


class Recorder:
    def __init__(self):
        self.progress, self.images = [], 0

    def sw_done(self, data):
        self.progress.append(data)

    def image(self, *args):
        self.images += 1


def frames_in(path: Path) -> list[int]:
    with h5py.File(path, "r") as f:
        d = f["/entry/data/data"]
        return [frame_tag(d[i]) for i in range(d.shape[0])]


def check_files_match_record(record_path: Path):
    """Every frame on disk exactly once, in the files the record names, with its global number."""
    rec = AcquisitionRecord.load(record_path)
    base = record_path.parent
    named = []
    for w in rec.wedges:
        if not w.collected:
            continue
        tags = [t for f in w.data_files for t in frames_in(base / f)]
        assert tags == list(range(w.first_global, w.first_global + w.n_collected)), w
        named += [base / f for f in w.data_files]
    on_disk = sorted(p for p in base.glob("*_data_*.h5"))
    assert sorted(named) == on_disk  # no stray data file, none missing
    all_tags = sorted(t for p in on_disk for t in frames_in(p))
    assert all_tags == list(range(1, len(all_tags) + 1))
    return rec, len(all_tags)


def test_registered_by_configuration(beamline):
    import mxcubecore.queue_entry as qe

    from mxcubecore_interleave.queue_entries.interleaved_collection import InterleavedCollectionQueueEntry as E

    assert qe.get_queue_entry_from_task_name("interleaved_collection") is E
    assert qe.MODEL_QUEUE_ENTRY_MAPPINGS[E.QMO] is E
    assert beamline.config.available_methods["interleaved_collection"] is True
    assert "InterleavedCollectionQueueEntry" in beamline.get_object_by_role("queue_entry_registrar").registered


def test_two_energy_inverse_beam(beamline, mocker):
    rec_sig = Recorder()
    beamline.queue_manager.connect("queue_interleaved_sw_done", rec_sig.sw_done)
    energy_spy = mocker.spy(beamline.energy, "set_value")
    repack_spy = mocker.spy(beamline.get_object_by_role("master_file_repackager"), "write_sweep_masters")
    run = run_interleaved_collection(beamline, two_energy_task(), timeout=120)
    assert run.finished
    rec, n = check_files_match_record(run.record_path)
    assert rec.status == "completed" and n == 24
    assert [s.id for s in rec.sweeps] == ["peak", "peak_inv", "remote", "remote_inv"]
    assert all(w.status == "complete" and w.n_collected == 3 for w in rec.wedges)
    # the order is min_motion: partners adjacent, one energy change per round
    expected = plan(parse_task(two_energy_task()))
    assert [(w.sweep, w.sweep_first_frame) for w in rec.wedges] == [(w.sweep, w.first_frame) for w in expected.wedges]
    assert energy_spy.call_count == 1 + expected.cost().energy_changes == 3
    # wedge files are unique DECTRIS series, the frames carry the wedge's omega
    with h5py.File(run.record_path.parent / rec.wedges[1].source_master, "r") as f:
        omega = f["/entry/sample/goniometer/omega"][()]
    assert omega[0] == pytest.approx(180.0) and omega[1] - omega[0] == pytest.approx(0.5)
    # progress on the channel mxcubeweb understands: wedge i of n, image j of m
    assert [p["current_idx"] for p in rec_sig.progress] == list(range(8))
    assert rec_sig.progress[-1]["nitems"] == 8 and rec_sig.progress[-1]["image"] == 24
    assert run.model.interleave_num_images == 3
    # LIMS: one Multiwedge group, one collection per sweep linked to it, updated with the frames
    lims = beamline.lims
    (group,) = lims.recorded["groups"]  # the queue's TaskGroup group, made ours: no empty "OSC" group
    assert group["dataCollectionGroupId"] == rec.lims_group_id
    assert group["experimentType"] == "Collect - Multiwedge"
    dcs = lims.collections_in_group(rec.lims_group_id)
    assert sorted(d["dataCollectionId"] for d in dcs) == sorted(s.lims_collection_id for s in rec.sweeps)
    for d in dcs:
        assert d["updates"] == 1
        assert d["parameters"]["oscillation_sequence"][0]["number_of_images"] == 6
        assert d["parameters"]["status"] == "Data collection successful"
    # the interleaved series themselves were not stored as collections by mxcubecore's collect
    assert len(lims.recorded["collections"]) == 4
    # sweep masters after the collection (not before: the option is off)
    assert [c.args[1] for c in repack_spy.call_args_list] == ["after"]
    assert all(s.master and (run.record_path.parent / s.master).is_file() for s in rec.sweeps)


def test_three_orientations(beamline, mocker):
    task = {"sweeps": [{"id": f"o{k}", "energy_keV": 12.7, "kappa": 30.0 * k, "phi": 45.0 * k, "num_images": 4,
                        "osc_range": 1.0, "exposure_time": 0.001} for k in range(3)],
            "wedge_size": 2, "prefix": "tri", "subdir": "orient", "write_masters_before": True}
    moves = mocker.spy(beamline.diffractometer, "set_value_motors")
    repack_spy = mocker.spy(beamline.get_object_by_role("master_file_repackager"), "write_sweep_masters")
    run = run_interleaved_collection(beamline, task, timeout=120)
    rec, n = check_files_match_record(run.record_path)
    assert rec.status == "completed" and n == 12
    kp = [c.args[0] for c in moves.call_args_list if "kappa" in c.args[0]]
    order = [w.sweep for w in rec.wedges]
    assert order == ["o0", "o1", "o2", "o2", "o1", "o0"]  # serpentine: no move between rounds
    assert kp == [{"kappa": 0.0, "kappa_phi": 0.0}, {"kappa": 30.0, "kappa_phi": 45.0},
                  {"kappa": 60.0, "kappa_phi": 90.0}, {"kappa": 30.0, "kappa_phi": 45.0},
                  {"kappa": 0.0, "kappa_phi": 0.0}]
    pos = beamline.diffractometer.get_value_motors(["kappa", "kappa_phi"])
    assert pos["kappa"] == pytest.approx(0.0, abs=1e-3)
    assert [c.args[1] for c in repack_spy.call_args_list] == ["before", "after"]


@pytest.mark.parametrize("abort_after", [1, 3, 7])
def test_abort_and_resume(beamline, abort_after):
    """Abort (the queue's stop) mid-wedge or at a wedge boundary; a re-run collects the rest once."""
    rec_sig = Recorder()
    beamline.collect.connect("collectImageTaken", rec_sig.image)
    q, node = add_interleaved_collection(beamline, two_energy_task(n=6, wedge=3, exp=0.03))
    model, entry = q.entry(node)
    q.execute(wait=False)
    assert wait_until(lambda: rec_sig.images >= abort_after, timeout=60)
    q.stop()
    assert q.wait(timeout=30)
    assert entry.wait_idle(60)  # the killed run has settled its record
    path = Path(model.record_path)
    rec, n = check_files_match_record(path)
    assert rec.status == "aborted"
    assert abort_after <= n < 24
    assert sum(w.n_collected for w in rec.wedges) == n
    partial = [w for w in rec.wedges if w.status == "partial"]
    assert all(0 < w.n_collected < w.n for w in partial)
    for w in partial:  # the missing frames of a cut wedge are planned under a new name
        rest = [r for r in rec.wedges if r.sweep == w.sweep and r.sweep_first_frame == w.sweep_first_frame + w.n_collected]
        assert rest and rest[0].status == "planned" and rest[0].source_master != w.source_master
    before = {p: p.stat().st_mtime_ns for p in path.parent.glob("*_w*.h5")}

    # resume: the same entry runs again and collects only what is missing
    q.execute(timeout=120)
    rec2, n2 = check_files_match_record(path)
    assert rec2.status == "completed" and n2 == 24
    for sweep in rec2.sweeps:
        assert rec2.collected_frames(sweep.id) == 6
        frames = sorted(f for w in rec2.wedges_of(sweep.id, collected_only=True)
                        for f in range(w.sweep_first_frame, w.sweep_first_frame + w.n_collected))
        assert frames == list(range(1, 7))
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # nothing overwritten
    # one sweep master per sweep, whatever the cuts: every frame reachable in sweep order
    for s in rec2.sweeps:
        assert s.master, s
        with h5py.File(path.parent / s.master, "r") as f:
            tags = [frame_tag(fr) for k in sorted(f["/entry/data"]) for fr in f[f"/entry/data/{k}"][()]]
        expected = sorted((w.sweep_first_frame + i, w.first_global + i) for w in rec2.wedges_of(s.id, collected_only=True)
                          for i in range(w.n_collected))
        assert tags == [g for _, g in expected]
    dcs = beamline.lims.collections_in_group(rec2.lims_group_id)
    assert len(dcs) == 4 and all(d["parameters"]["oscillation_sequence"][0]["number_of_images"] == 6 for d in dcs)


def test_stop_after_wedge_then_resume(beamline):
    rec_sig = Recorder()
    beamline.collect.connect("collectImageTaken", rec_sig.image)
    q, node = add_interleaved_collection(beamline, two_energy_task(n=6, wedge=3, exp=0.03))
    model, entry = q.entry(node)
    q.execute(wait=False)
    assert wait_until(lambda: rec_sig.images >= 4, timeout=60)
    entry.stop_after_wedge()
    assert q.wait(timeout=60) and entry.wait_idle(60)
    path = Path(model.record_path)
    rec, n = check_files_match_record(path)
    assert rec.status == "stopped"
    assert n == 6  # the second wedge was finished, nothing cut short
    assert not [w for w in rec.wedges if w.status == "partial"]
    q.execute(timeout=120)
    rec2, n2 = check_files_match_record(path)
    assert rec2.status == "completed" and n2 == 24


def test_refused_parameters(beamline, tmp_path, mocker):
    from mxcubecore_interleave.headless import HeadlessQueue
    from mxcubecore_interleave.interleave.runner import task_parameters

    q = HeadlessQueue(beamline)
    sid = q.add_sample()
    good = two_energy_task()
    for change, message in [
        ({"wedge_size": 10}, "larger than sweep 'peak'"),
        ({"sweeps": good["sweeps"] + [dict(good["sweeps"][0], inverse_beam=False)]}, "used twice"),
    ]:
        params = task_parameters(beamline, good)
        params.update(change)
        with pytest.raises(Exception, match=message):
            q.add_task(sid, "interleaved_collection", params)
    with pytest.raises(Exception, match="prefix"):
        q.add_task(sid, "interleaved_collection", dict(task_parameters(beamline, good), prefix="a/b"))
    # outside the beamline's energy limits (5-20 keV): refused when added
    far = two_energy_task()
    far["sweeps"][1]["energy_keV"] = 25.0
    with pytest.raises(Exception, match="energy 25.0000 keV is outside 5.0–20.0 keV"):
        q.add_task(sid, "interleaved_collection", task_parameters(beamline, far))
    # and again at start, when the limits changed after it was queued: nothing written
    node = q.add_task(sid, "interleaved_collection", task_parameters(beamline, two_energy_task()))
    model, entry = q.entry(node)
    mocker.patch.object(beamline.energy, "get_limits", return_value=(5.0, 12.8))
    with pytest.raises(Exception, match="energy 13.0000 keV is outside 5.0–12.8 keV"):
        entry.execute()
    assert model.record_path is None
    assert not list(Path(beamline.session.get_base_image_directory()).rglob("*.h5"))


def test_refuses_to_overwrite(beamline):
    from mxcubecore_interleave.headless import HeadlessQueue
    from mxcubecore_interleave.interleave.runner import task_parameters

    q = HeadlessQueue(beamline)
    sid = q.add_sample()
    node = q.add_task(sid, "interleaved_collection", task_parameters(beamline, two_energy_task()))
    model, entry = q.entry(node)
    d = Path(model.get_path_template().directory)
    d.mkdir(parents=True, exist_ok=True)
    precious = d / "lyso_remote_w002_1_data_000001.h5"
    precious.write_bytes(b"someone's data")
    with pytest.raises(Exception, match="refusing to overwrite"):
        entry.execute()
    assert precious.read_bytes() == b"someone's data"
    assert sorted(p.name for p in d.iterdir()) == [precious.name]


def test_without_repackager_warns_and_continues(beamline, monkeypatch, caplog):
    orig = beamline.get_object_by_role
    monkeypatch.setattr(beamline, "get_object_by_role",
                        lambda role: None if role == "master_file_repackager" else orig(role))
    run = run_interleaved_collection(beamline, two_energy_task(n=3, wedge=3), timeout=120)
    rec, n = check_files_match_record(run.record_path)
    assert rec.status == "completed" and n == 12
    assert all(s.master is None for s in rec.sweeps)
    assert "no 'master_file_repackager'" in caplog.text


def test_record_is_readable_json(beamline):
    run = run_interleaved_collection(beamline, two_energy_task(n=3, wedge=3), timeout=120)
    data = json.loads(run.record_path.read_text())
    assert data["schema"] == "mxcube-interleaved/1"
    assert data["prefix"] == "lyso_1" and run.record_path.name == "lyso_1_acquisition.json"
    # a second run of the same task starts run 2 (the first is complete), with new names
    run2 = run_interleaved_collection(beamline, two_energy_task(n=3, wedge=3), timeout=120, sample_id="1:02")
    assert run2.record_path.name == "lyso_2_acquisition.json"
    assert (run2.record_path.parent / "lyso_peak_w001_2_master.h5").is_file()


def test_demo_step(beamline, tmp_path):
    from mxcubecore_interleave.interleave.runner import run_interleaved_demo

    lines = []
    run = run_interleaved_demo(beamline, tmp_path, two_energy_task(n=2, wedge=1), echo=lines.append)
    assert run.finished and len(run.sweep_masters) == 4
    assert "8 wedges, 8 images, strategy min_motion" in lines[0]
    assert (tmp_path / "interleaved-schedule.png").stat().st_size > 1000
    check_files_match_record(run.record_path)
