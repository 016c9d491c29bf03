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
        assert d["updates"] == 3  # after each of the sweep's two wedges, and the finalize
        assert d["dataCollection"]["numberOfImages"] == 6 and d["dataCollection"]["dataCollectionGroupId"] == rec.lims_group_id
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
            "wedge_size": 2, "prefix": "tri", "subdir": "orient", "write_masters_before": True,
            "orientation_change": "none"}  # the moves only (re-centring: tests/test_orientation_change.py)
    import mxcubecore_interleave.queue_entries.interleaved_collection as entry_module

    beamline.diffractometer.get_motors()["kappa"].set_value(5.0, timeout=10)  # the first wedge moves it back

    moves = mocker.spy(entry_module, "move_motors")  # motor by motor (goniometer.move_motors)
    repack_spy = mocker.spy(beamline.get_object_by_role("master_file_repackager"), "write_sweep_masters")
    run = run_interleaved_collection(beamline, task, timeout=120)
    rec, n = check_files_match_record(run.record_path)
    assert rec.status == "completed" and n == 12
    kp = [c.args[1] for c in moves.call_args_list if "kappa" in c.args[1]]
    order = [w.sweep for w in rec.wedges]
    assert order == ["o0", "o1", "o2", "o2", "o1", "o0"]  # serpentine: no move between rounds
    assert kp == [{"kappa": 0.0, "kappa_phi": 0.0}, {"kappa": 30.0, "kappa_phi": 45.0},
                  {"kappa": 60.0, "kappa_phi": 90.0}, {"kappa": 30.0, "kappa_phi": 45.0},
                  {"kappa": 0.0, "kappa_phi": 0.0}]
    pos = beamline.diffractometer.get_value_motors(["kappa", "kappa_phi"])
    assert pos["kappa"] == pytest.approx(0.0, abs=1e-3)
    assert [c.args[1] for c in repack_spy.call_args_list] == ["before", "after"]


class AbortAt:
    """The queue's stop, called from the collect's own ``collectImageTaken`` for global image
    ``image`` (1-based): deterministic, the detector has written exactly that many frames."""

    def __init__(self, queue, image):
        self.queue, self.image, self.images = queue, image, 0

    def taken(self, *args):
        self.images += 1
        if self.images == self.image:
            self.queue.stop()


def check_resumes_to_the_end(q, beamline, path, before):
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


@pytest.mark.parametrize("abort_at", [1, 5, 9])
def test_abort_and_resume(beamline, abort_at):
    """The queue's stop at image ``abort_at`` (wedges of 3): image 1 and 5 cut a wedge, which is
    recorded as partial with exactly the frames written; 9 is a wedge's last image. A re-run
    collects the rest once."""
    q, node = add_interleaved_collection(beamline, two_energy_task(n=6, wedge=3, exp=0.03))
    model, entry = q.entry(node)
    trigger = AbortAt(q, abort_at)
    beamline.collect.connect("collectImageTaken", trigger.taken)
    q.execute(wait=False)
    assert q.wait(timeout=60)
    assert entry.wait_idle(60)  # the killed run has settled its record
    path = Path(model.record_path)
    rec, n = check_files_match_record(path)
    assert rec.status == "aborted"
    assert n == abort_at  # not one frame more: the running wedge ended at once
    complete = [w for w in rec.wedges if w.status == "complete"]
    partial = [w for w in rec.wedges if w.status == "partial"]
    assert len(complete) == abort_at // 3
    if abort_at % 3:
        (cut,) = partial  # the wedge being collected is marked, with the frames it holds
        assert (cut.n, cut.n_collected) == (3, abort_at % 3)
        assert rec.wedges.index(cut) == len(complete)
        # its missing frames are planned next under a new series name
        rest = rec.wedges[len(complete) + 1]
        assert (rest.status, rest.sweep, rest.sweep_first_frame, rest.n) == (
            "planned", cut.sweep, cut.sweep_first_frame + cut.n_collected, 3 - cut.n_collected)
        assert rest.source_master != cut.source_master
    else:
        assert not partial
    before = {p: p.stat().st_mtime_ns for p in path.parent.glob("*_w*.h5")}
    check_resumes_to_the_end(q, beamline, path, before)


class StopBetweenWedges:
    """The queue's stop right after wedge ``k`` was recorded (before the next one starts)."""

    def __init__(self, queue, k):
        self.queue, self.k, self.greenlet = queue, k, None

    def sw_done(self, data):
        if data["current_idx"] == self.k - 1:
            self.greenlet = gevent.spawn(self.queue.stop)


def test_abort_exactly_at_a_wedge_boundary(beamline):
    q, node = add_interleaved_collection(beamline, two_energy_task(n=6, wedge=3, exp=0.01))
    model, entry = q.entry(node)
    images = Recorder()
    beamline.collect.connect("collectImageTaken", images.image)
    trigger = StopBetweenWedges(q, 2)
    beamline.queue_manager.connect("queue_interleaved_sw_done", trigger.sw_done)
    q.execute(wait=False)
    assert q.wait(timeout=60) and entry.wait_idle(60)
    path = Path(model.record_path)
    rec, n = check_files_match_record(path)
    assert rec.status == "aborted" and n == images.images == 6
    assert [w.status for w in rec.wedges] == ["complete"] * 2 + ["planned"] * 6  # nothing cut, nothing re-planned
    assert len({w.source_master for w in rec.wedges}) == 8
    before = {p: p.stat().st_mtime_ns for p in path.parent.glob("*_w*.h5")}
    check_resumes_to_the_end(q, beamline, path, before)


def test_stop_while_held_by_pause_cuts_nothing(beamline):
    """Pause finishes the running wedge and holds; the queue's stop then ends the collection
    there: status "stopped", no partial wedge."""
    qm = beamline.queue_manager
    q, node = add_interleaved_collection(beamline, two_energy_task(n=6, wedge=3, exp=0.01))
    model, entry = q.entry(node)

    class PauseAfterFirst:
        def sw_done(self, data):
            if data["current_idx"] == 0:
                qm.set_pause(True)

    pauser = PauseAfterFirst()
    qm.connect("queue_interleaved_sw_done", pauser.sw_done)
    q.execute(wait=False)
    assert wait_until(lambda: entry._held, timeout=60)
    q.stop()
    assert q.wait(timeout=30) and entry.wait_idle(60)
    rec, n = check_files_match_record(Path(model.record_path))
    assert rec.status == "stopped" and n == 3
    assert [w.status for w in rec.wedges].count("complete") == 1 and "partial" not in [w.status for w in rec.wedges]
    q.execute(timeout=120)
    assert AcquisitionRecord.load(model.record_path).status == "completed"


def test_stop_after_wedge_then_resume(beamline):
    """Stop after the wedge: the running wedge is finished, nothing is cut, and the queue stops
    (the next task does not start); running the queue again resumes."""
    from mxcubecore_interleave.queue_entries.interleaved_collection import stop_after_current_wedge

    class StopAfter:
        def __init__(self):
            self.images, self.asked = 0, False

        def image(self, *args):
            self.images += 1
            if self.images == 4:  # image 1 of wedge 2
                self.asked = stop_after_current_wedge(beamline.queue_manager)

    rec_sig = StopAfter()
    beamline.collect.connect("collectImageTaken", rec_sig.image)
    q, node = add_interleaved_collection(beamline, two_energy_task(n=6, wedge=3, exp=0.01))
    q, node2 = add_interleaved_collection(beamline, dict(two_energy_task(n=3, wedge=3), prefix="next", subdir="il2"), queue=q)
    model, entry = q.entry(node)
    model2, _ = q.entry(node2)
    q.execute(wait=False)
    assert q.wait(timeout=60) and entry.wait_idle(60)
    assert rec_sig.asked
    path = Path(model.record_path)
    rec, n = check_files_match_record(path)
    assert rec.status == "stopped"
    assert n == 6  # the second wedge was finished, nothing cut short
    assert not [w for w in rec.wedges if w.status == "partial"]
    assert model2.record_path is None  # the queue stopped: the next task did not start
    q.execute(timeout=120)
    rec2, n2 = check_files_match_record(path)
    assert rec2.status == "completed" and n2 == 24
    assert AcquisitionRecord.load(model2.record_path).status == "completed"


def test_a_stop_asked_before_the_run_is_not_lost(beamline):
    q, node = add_interleaved_collection(beamline, two_energy_task(n=3, wedge=3))
    model, entry = q.entry(node)
    images = Recorder()
    beamline.collect.connect("collectImageTaken", images.image)
    entry.stop_after_wedge()  # e.g. a script, while the queue is busy with other tasks
    q.execute(timeout=60)
    assert images.images == 0 and model.record_path is None  # ended before its first wedge
    # the queue's stop while the entry was not running (say, waiting in the queue's pause
    # before it) is for that queue run only: the next run collects
    entry.stop()
    beamline.queue_manager.stop()
    q.execute(timeout=120)
    assert AcquisitionRecord.load(model.record_path).status == "completed" and images.images == 12


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


def same_energy_task(sweeps, **kw):
    return {"sweeps": [dict({"energy_keV": 12.7, "num_images": 4, "osc_range": 0.5, "exposure_time": 0.001}, **s)
                       for s in sweeps], "wedge_size": 2, "prefix": "set", "subdir": "settings",
            "strategy": "round_robin", **kw}


def settle(beamline, energy=None, transmission=None, resolution=None, distance=None):
    if energy is not None:
        beamline.energy.set_value(energy, timeout=30)
    if transmission is not None:
        beamline.transmission.set_value(transmission, timeout=30)
    if resolution is not None:
        beamline.resolution.set_value(resolution, timeout=30)
    if distance is not None:
        beamline.detector.distance.set_value(distance, timeout=30)


def values(spy):
    return [pytest.approx(c.args[0]) for c in spy.call_args_list]


def test_transmission_and_resolution_set_only_when_they_change(beamline, mocker):
    settle(beamline, energy=12.7, transmission=100.0, resolution=3.0)
    spies = {name: mocker.spy(getattr(beamline, name), "set_value") for name in ("energy", "transmission", "resolution")}
    task = same_energy_task([{"id": "a", "transmission": 50.0, "resolution": 2.0},
                             {"id": "b", "transmission": 50.0, "resolution": 2.5},
                             {"id": "c", "transmission": 20.0, "resolution": 2.5}])
    run = run_interleaved_collection(beamline, task, timeout=120)  # a b c a b c
    assert AcquisitionRecord.load(run.record_path).status == "completed"
    assert spies["energy"].call_count == 0  # already at 12.7 keV
    assert values(spies["transmission"]) == [50.0, 20.0, 50.0, 20.0]
    assert values(spies["resolution"]) == [2.0, 2.5, 2.0, 2.5]


def test_detector_distance_set_only_when_it_changes_and_kept_over_energy_changes(beamline, mocker):
    settle(beamline, energy=12.7, transmission=100.0, distance=200.0)
    energy = mocker.spy(beamline.energy, "set_value")
    distance = mocker.spy(beamline.detector.distance, "set_value")
    resolution = mocker.spy(beamline.resolution, "set_value")
    task = same_energy_task([{"id": "a", "detector_distance": 300.0, "transmission": 100.0},
                             {"id": "b", "detector_distance": 300.0, "transmission": 100.0, "energy_keV": 13.0},
                             {"id": "c", "detector_distance": 400.0, "transmission": 100.0, "energy_keV": 13.0}])
    run_interleaved_collection(beamline, task, timeout=120)  # a b c a b c
    assert values(energy) == [13.0, 12.7, 13.0]
    assert values(distance) == [300.0, 400.0, 300.0, 400.0]  # not again after an energy change
    assert resolution.call_count == 0
    assert beamline.detector.distance.get_value() == pytest.approx(400.0)


def test_resolution_set_again_after_an_energy_change(beamline, mocker):
    """At a fixed detector distance the resolution moves with the energy: set it again."""
    settle(beamline, energy=12.7, transmission=100.0, resolution=3.0)
    resolution = mocker.spy(beamline.resolution, "set_value")
    task = same_energy_task([{"id": "a", "resolution": 2.0, "transmission": 100.0},
                             {"id": "b", "resolution": 2.0, "transmission": 100.0, "energy_keV": 13.0}])
    seen = []

    class AtEachWedge:
        def started(self, *args):
            seen.append(beamline.resolution.get_value())

    probe = AtEachWedge()
    beamline.collect.connect("collectStarted", probe.started)
    run_interleaved_collection(beamline, task, timeout=120)  # a b a b: an energy change before each wedge but the first
    assert values(resolution) == [2.0, 2.0, 2.0, 2.0]
    assert seen == [pytest.approx(2.0, abs=1e-3)] * 4  # every wedge collected at the resolution asked for


def test_kappa_phi_refused_without_a_kappa_goniometer(beamline, monkeypatch, mocker):
    from mxcubecore_interleave.headless import HeadlessQueue
    from mxcubecore_interleave.interleave.runner import task_parameters

    diffr = beamline.diffractometer
    all_motors = diffr.get_motors()
    monkeypatch.setattr(diffr, "get_motors", lambda: {k: v for k, v in all_motors.items() if k != "kappa"})
    task = {"sweeps": [{"id": f"o{k}", "energy_keV": 12.7, "kappa": 30.0 * k, "phi": 0.0, "num_images": 2,
                        "osc_range": 1.0, "exposure_time": 0.001} for k in range(2)],
            "wedge_size": 2, "prefix": "tri", "subdir": "orient"}
    q = HeadlessQueue(beamline)
    sid = q.add_sample()
    with pytest.raises(Exception, match="sweep 'o1': kappa 30 deg cannot be set: the diffractometer has no kappa motor"):
        q.add_task(sid, "interleaved_collection", task_parameters(beamline, task))
    # queued while the motor was there: refused at start, nothing moved or written
    monkeypatch.setattr(diffr, "get_motors", lambda: all_motors)
    node = q.add_task(sid, "interleaved_collection", task_parameters(beamline, task))
    model, entry = q.entry(node)
    monkeypatch.setattr(diffr, "get_motors", lambda: {k: v for k, v in all_motors.items() if k != "kappa"})
    import mxcubecore_interleave.queue_entries.interleaved_collection as entry_module

    moves = mocker.spy(entry_module, "move_motors")  # motor by motor (goniometer.move_motors)
    with pytest.raises(Exception, match="no kappa motor"):
        entry.execute()
    assert model.record_path is None and moves.call_count == 0
    # kappa 0 everywhere is fine: only the motor that exists (kappa_phi) is used
    flat = dict(task, sweeps=[dict(s, kappa=0.0, phi=10.0 * i) for i, s in enumerate(task["sweeps"])],
                orientation_change="none")
    run = run_interleaved_collection(beamline, flat, timeout=120, sample_id="1:02")
    assert AcquisitionRecord.load(run.record_path).status == "completed"
    assert all("kappa" not in c.args[1] for c in moves.call_args_list)
    assert [c.args[1] for c in moves.call_args_list if "kappa_phi" in c.args[1]][-1] == {"kappa_phi": 10.0}


def test_directory_outside_the_session_refused(beamline, tmp_path):
    from mxcubecore_interleave.headless import HeadlessQueue
    from mxcubecore_interleave.interleave.runner import task_parameters

    q = HeadlessQueue(beamline)
    sid = q.add_sample()
    node = q.add_task(sid, "interleaved_collection", task_parameters(beamline, two_energy_task()))
    model, entry = q.entry(node)
    base = Path(beamline.session.get_base_image_directory())
    for elsewhere in (tmp_path / "elsewhere", base / "il" / ".." / ".." / "escape"):
        model.get_path_template().directory = str(elsewhere)
        with pytest.raises(Exception, match="is outside the session's data directory"):
            entry.execute()
        assert not elsewhere.exists() and model.record_path is None


def test_a_ref_prefix_is_not_read_as_a_reference_image(beamline):
    """mxcubecore's ``last_queue_node`` (mxcubeweb's progress) swaps a node whose get_name()
    contains "ref" for its parent's first child. The interleaved node's name is its task name,
    never the prefix, so a prefix like ``ref-lyso`` is safe."""
    qm = beamline.queue_manager
    nodes = []

    class Probe:
        def taken(self, *args):
            nodes.append(qm.last_queue_node()["node"])

    probe = Probe()
    beamline.collect.connect("collectImageTaken", probe.taken)
    run = run_interleaved_collection(beamline, dict(two_energy_task(n=3, wedge=3), prefix="ref-lyso"), timeout=120)
    assert "ref" not in run.model.get_name()
    assert nodes and all(n is run.model for n in nodes)


def test_resume_only_the_same_settings(beamline):
    """An unfinished run is resumed by a task with the same settings; a different task with the
    prefix starts the next run; the entry that collected it refuses edited settings."""
    from mxcubecore_interleave.queue_entries.interleaved_collection import stop_after_current_wedge

    class StopAfterFirstImage:
        def taken(self, *args):
            stop_after_current_wedge(beamline.queue_manager)

    stopper = StopAfterFirstImage()
    beamline.collect.connect("collectImageTaken", stopper.taken)
    q, node = add_interleaved_collection(beamline, two_energy_task())
    model, entry = q.entry(node)
    q.execute(timeout=60)
    beamline.collect.disconnect("collectImageTaken", stopper.taken)
    assert AcquisitionRecord.load(model.record_path).status == "stopped"
    # another task with the prefix and other settings: run 2, run 1 left as it is
    other = two_energy_task()
    other["sweeps"][0]["exposure_time"] = 0.002
    q2, node2 = add_interleaved_collection(beamline, other, sample_id="1:02")
    model2, _ = q2.entry(node2)
    _, sample2 = beamline.queue_manager.get_entry(model2.get_parent().get_parent()._node_id)
    beamline.queue_manager.execute(sample2)  # only that sample
    assert q2.wait(120)
    assert Path(model2.record_path).name == "lyso_2_acquisition.json"
    assert AcquisitionRecord.load(model2.record_path).status == "completed"
    rec1 = AcquisitionRecord.load(model.record_path)
    assert rec1.status == "stopped" and Path(model.record_path).name == "lyso_1_acquisition.json"
    # the entry that collected run 1, edited since: refused, naming the change
    model.task_data.user_collection_parameters.sweeps[1].transmission = 20.0
    with pytest.raises(Exception, match=r"run 1 of 'lyso'\) was interrupted and its settings changed since: "
                                         r"sweep 'remote': transmission 20 % \(recorded: 50 %\)"):
        entry.execute()
    assert AcquisitionRecord.load(model.record_path).to_json_dict() == rec1.to_json_dict()  # untouched
    # restored: it resumes its own run 1 (not the latest run of the prefix)
    model.task_data.user_collection_parameters.sweeps[1].transmission = 50.0
    q.execute(timeout=120)
    assert Path(model.record_path).name == "lyso_1_acquisition.json"
    rec = AcquisitionRecord.load(model.record_path)
    assert rec.status == "completed" and sum(rec.collected_frames(s.id) for s in rec.sweeps) == 24
