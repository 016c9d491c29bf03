"""Kappa/phi changes re-centre or correct (issue 11, item 2): the pure tracker, the task's choice,
and the interleaved collection on the mockup beamline (Murko), on a diffractometer offering only
GenericDiffractometer's API (its automatic centring), and with mxcubecore's real
MiniKappaCorrection loaded from the example configuration."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from unittest.mock import PropertyMock

import numpy as np
import pytest

from mxcubecore_interleave.errors import CentringError, PlanError
from mxcubecore_interleave.interleave import parse_task, plan
from mxcubecore_interleave.interleave.orientation import OrientationTracker, count_new_orientations
from mxcubecore_interleave.interleave.runner import add_interleaved_collection
from mxcubecore_interleave.murko_demo import centring_error_mm, place_sample
from mxcubecore_interleave.record import AcquisitionRecord
from tests.murko_helpers import murko, murko_server  # noqa: F401 (fixtures)
from tests.test_real_diffractometer import RefusingDiffractometer

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configuration"
TRANSLATIONS = ("phiy", "phiz", "sampx", "sampy")


def task(policy: str | None = None, orientations=((0.0, 0.0), (30.0, 20.0)), n: int = 4, **kw) -> dict:
    # an orientation listed twice is the same data twice: an intended repeat (interleave/duplicates.py)
    t = {"sweeps": [{"id": f"o{i}", "energy_keV": 12.66, "kappa": k, "phi": p, "num_images": n, "osc_range": 0.5,
                     "exposure_time": 0.001, "repeat": (k, p) in orientations[:i]}
                    for i, (k, p) in enumerate(orientations)],
         "wedge_size": 2, "strategy": "round_robin", "prefix": "kp", "subdir": "kappa", **kw}
    if policy is not None:
        t["orientation_change"] = policy
    return t


def translations(bl) -> dict[str, float]:
    return bl.diffractometer.get_value_motors(list(TRANSLATIONS))


# -- pure core ----------------------------------------------------------------------------------
def test_tracker_brings_back_each_orientation_once_then_uses_what_it_found():
    t = OrientationTracker.start("recentre", (0.0, 0.0), {"sampx": 1.0})
    assert t.step((0.0, 0.0005)) is None  # within the move's tolerance: same orientation
    first = t.step((30.0, 0.0))
    assert first.method == "new" and first.from_ == (0.0, 0.0)
    t.done(first, {"sampx": 2.0})
    back = t.step((0.0, 0.0))
    assert back.method == "stored" and back.translations == {"sampx": 1.0}
    t.done(back, {"sampx": 1.0})
    again = t.step((30.0, 0.0))
    assert again.method == "stored" and again.translations == {"sampx": 2.0}
    off = OrientationTracker.start("none", (0.0, 0.0), {})
    assert off.step((30.0, 0.0)).method == "none"


@pytest.mark.parametrize("strategy", ["round_robin", "inverse_adjacent", "min_motion"])
def test_centrings_are_the_new_orientations_whatever_the_order(strategy):
    p = plan(parse_task(task(orientations=((0, 0), (30, 0), (60, 90), (30, 0)), n=6, strategy=strategy)))
    by_id = {s.id: (s.kappa, s.phi) for s in p.sweeps}
    order = [by_id[w.sweep] for w in p.wedges]
    t = OrientationTracker.start("recentre", (0.0, 0.0), {})
    new = 0
    for o in order:
        step = t.step(o)
        if step is not None:
            new += step.method == "new"
            t.done(step, {})
    assert new == count_new_orientations(order, (0.0, 0.0)) == 2
    assert count_new_orientations(order, (5.0, 0.0)) == 3  # the start orientation is not a sweep's


def test_the_choice_is_in_the_task_and_safe_by_default():
    from mxcubecore_interleave.queue_entries.interleaved_collection import InterleavedUserParameters

    assert parse_task(task()).orientation_change == "recentre"
    with pytest.raises(PlanError, match="orientation_change"):
        parse_task(task("sometimes"))
    schema = InterleavedUserParameters.model_json_schema()["properties"]["orientation_change"]
    assert schema["default"] == "recentre" and set(schema["enum"]) == {"recentre", "correct", "none"}
    assert "MiniKappaCorrection" in schema["description"]


def test_an_older_record_without_orientation_changes_loads(tmp_path):
    rec = AcquisitionRecord(acquisition_id="x", prefix="x_1", sweeps=[
        {"id": "a", "wavelength_A": 1.0, "omega_start": 0.0, "omega_increment": 0.1, "n_frames": 2}])
    data = rec.to_json_dict()
    del data["orientation_change"], data["orientation_changes"]
    path = tmp_path / "x_1_acquisition.json"
    path.write_text(__import__("json").dumps(data))
    back = AcquisitionRecord.load(path)
    assert back.orientation_changes == [] and back.orientation_change is None


# -- mockup beamline, Murko ---------------------------------------------------------------------
@pytest.mark.beamline
def test_murko_recentres_once_per_new_orientation(beamline, murko, mocker):
    truth_offset = {"phiy": 0.03, "phiz": -0.01, "sampx": 0.02, "sampy": -0.015}
    place_sample(beamline, truth_offset, omega=0.0)  # at kappa 0 as the user left it
    start = translations(beamline)
    centre = mocker.spy(murko, "centre")
    q, node = add_interleaved_collection(beamline, task())
    model, _ = q.entry(node)
    assert q.execute(timeout=240)
    rec = AcquisitionRecord.load(model.record_path)
    assert rec.status == "completed" and sum(w.n_collected for w in rec.wedges) == 8
    assert rec.orientation_change == "recentre" and centre.call_count == 1
    ch = rec.orientation_changes
    assert [(c.method, c.kappa, c.phi) for c in ch] == [("murko", 30.0, 20.0), ("stored", 0.0, 0.0),
                                                        ("stored", 30.0, 20.0)]
    assert ch[0].wedge == "o1_w001" and ch[0].kappa_from == 0.0 and ch[0].files.get("ply")
    assert ch[0].positions["kappa"] == pytest.approx(30.0, abs=1e-3)
    # back at kappa 0 the sample went back to where the user had centred it there
    assert all(ch[1].positions[r] == pytest.approx(start[r], abs=1e-4) for r in TRANSLATIONS)
    # and the run ends at kappa 30 with Murko's centred position
    assert all(abs(v) < 0.002 for v in centring_error_mm(beamline).values())
    assert all(ch[2].positions[r] == pytest.approx(ch[0].positions[r], abs=1e-4) for r in TRANSLATIONS)


@pytest.mark.beamline
def test_a_failed_recentring_stops_loses_nothing_and_resumes(beamline, murko, mocker):
    place_sample(beamline, {"sampx": 0.02}, omega=0.0)  # in the camera's view, for the real centring after
    real_centre = murko.centre
    failing = mocker.patch.object(murko, "centre", side_effect=CentringError("no sample found in 4 views"))
    q, node = add_interleaved_collection(beamline, task())
    model, entry = q.entry(node)
    assert q.execute(timeout=120)
    rec = AcquisitionRecord.load(model.record_path)
    assert rec.status == "failed" and failing.call_count == 1
    assert [w.status for w in rec.wedges] == ["complete", "planned", "planned", "planned"]
    last = rec.orientation_changes[-1]
    assert last.status == "failed" and "no sample found" in last.error and last.wedge == "o1_w001"
    kp = beamline.diffractometer.get_value_motors(["kappa", "kappa_phi"])
    assert kp["kappa"] == pytest.approx(0.0, abs=1e-3) and kp["kappa_phi"] == pytest.approx(0.0, abs=1e-3)
    mocker.patch.object(murko, "centre", side_effect=real_centre)
    # queued again (mxcubecore marks the sample of a failed task executed): the same settings
    # resume the unfinished run
    q.add_sample("1:02")
    q, node = add_interleaved_collection(beamline, task(), queue=q, sample_id="1:02")
    again, _ = q.entry(node)
    assert q.execute(timeout=240)
    assert again.record_path == model.record_path
    rec = AcquisitionRecord.load(model.record_path)
    assert rec.status == "completed" and sum(w.n_collected for w in rec.wedges) == 8
    assert [c.status for c in rec.orientation_changes] == ["failed", "done", "done", "done"]
    assert [c.method for c in rec.orientation_changes[1:]] == ["murko", "stored", "stored"]


@pytest.mark.beamline
def test_none_is_recorded_and_nothing_is_moved(beamline, murko, mocker):
    centre = mocker.spy(murko, "centre")
    q, node = add_interleaved_collection(beamline, task("none"))
    model, _ = q.entry(node)
    before = translations(beamline)
    assert q.execute(timeout=120)
    rec = AcquisitionRecord.load(model.record_path)
    assert rec.status == "completed" and centre.call_count == 0
    assert [c.method for c in rec.orientation_changes] == ["none"] * 3
    assert translations(beamline) == pytest.approx(before)


# -- GenericDiffractometer's API only -----------------------------------------------------------
class AutoCentringDiffractometer(RefusingDiffractometer):
    """The refusing diffractometer with GenericDiffractometer's automatic centring interface:
    ``start_centring_method(CENTRING_METHOD_AUTO)`` returns at once; the centring ends with
    ``centringSuccessful`` or ``centringFailed`` (method, centring_status)."""

    from mxcubecore.HardwareObjects.GenericDiffractometer import GenericDiffractometer as _G

    CENTRING_METHOD_AUTO = _G.CENTRING_METHOD_AUTO

    def __init__(self, real, scene, fail: bool = False):
        super().__init__(real)
        object.__setattr__(self, "current_centring_method", None)
        object.__setattr__(self, "scene", scene)
        object.__setattr__(self, "fail", fail)
        object.__setattr__(self, "started", [])

    def start_centring_method(self, method, sample_info=None, wait=False):
        import gevent

        self.started.append(method)
        object.__setattr__(self, "current_centring_method", method)

        def run():
            gevent.sleep(0.05)
            object.__setattr__(self, "current_centring_method", None)
            if self.fail:
                self._real.emit("centringFailed", (method, {"valid": False}))
                return
            truth = self.scene.crystal_centred_position()
            for role in TRANSLATIONS:
                self._real.get_motors()[role].set_value(truth[role], timeout=10)
            self._real.emit("centringSuccessful", (method, {"valid": True, "motors": truth}))

        gevent.spawn(run)


def _without_murko(beamline, mocker):
    orig = beamline.get_object_by_role
    mocker.patch.object(beamline, "get_object_by_role", side_effect=lambda role: None if role == "murko" else orig(role))


@pytest.mark.beamline
@pytest.mark.parametrize("fail", [False, True])
def test_automatic_centring_of_a_generic_diffractometer(beamline, mocker, fail):
    _without_murko(beamline, mocker)
    place_sample(beamline, {"sampx": 0.02, "phiy": -0.03}, omega=0.0)
    q, node = add_interleaved_collection(beamline, task())
    model, _ = q.entry(node)
    proxy = AutoCentringDiffractometer(beamline.diffractometer, beamline.sample_view.camera.scene, fail=fail)
    mocker.patch.object(type(beamline), "diffractometer", new_callable=PropertyMock, return_value=proxy)
    assert q.execute(timeout=120), proxy.refusals
    rec = AcquisitionRecord.load(model.record_path)
    assert proxy.started == [proxy.CENTRING_METHOD_AUTO]
    if fail:
        assert rec.status == "failed" and sum(w.n_collected for w in rec.wedges) == 2
        assert rec.orientation_changes[-1].error == "the automatic centring failed"
        return
    assert rec.status == "completed" and [c.method for c in rec.orientation_changes] == ["auto", "stored", "stored"]
    mocker.stopall()  # read the motors through the mockup again
    assert all(abs(v) < 1e-3 for v in centring_error_mm(beamline).values())


@pytest.mark.beamline
def test_refused_at_start_without_any_centring(beamline, mocker):
    _without_murko(beamline, mocker)
    q, node = add_interleaved_collection(beamline, task())
    model, entry = q.entry(node)
    proxy = RefusingDiffractometer(beamline.diffractometer)
    mocker.patch.object(type(beamline), "diffractometer", new_callable=PropertyMock, return_value=proxy)
    with pytest.raises(Exception, match="no 'murko' centring and .* no automatic centring"):
        entry.execute()
    assert model.record_path is None


# -- mxcubecore's MiniKappaCorrection -----------------------------------------------------------
def _rotate(axis, angle_deg, v):
    """Rodrigues' rotation of ``v`` about the unit ``axis`` (independent of MiniKappaCorrection)."""
    k = np.asarray(axis, float)
    a = math.radians(angle_deg)
    return v * math.cos(a) + np.cross(k, v) * math.sin(a) + k * np.dot(k, v) * (1 - math.cos(a))


@pytest.fixture
def kappa_beamline(tmp_path):
    """The mockup beamline with configuration/sites/minikappa_correction.xml as the diffractometer's
    ``minikappa_correction`` (a site directory layered over configuration/)."""
    from mxcubecore_interleave.testing import load_beamline, unload_beamline

    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(CONFIG / "sites" / "minikappa_correction.xml", site)
    text = (CONFIG / "diffractometer.xml").read_text()
    (site / "diffractometer.xml").write_text(text.replace(
        "</object>\n", '  <object href="/minikappa_correction" role="minikappa_correction"/>\n</object>\n')
        if text.rstrip().endswith("</object>") else text)
    assert "minikappa_correction" in (site / "diffractometer.xml").read_text()
    bl = load_beamline(f"{site}{os.pathsep}{CONFIG}", data_root=tmp_path / "data")
    try:
        yield bl
    finally:
        unload_beamline()


@pytest.mark.beamline
def test_minikappa_correction_from_configuration(kappa_beamline, mocker):
    from mxcubecore.HardwareObjects.MiniKappaCorrection import MiniKappaCorrection  # mxcubecore's class

    bl = kappa_beamline
    corr = bl.diffractometer.get_object_by_role("minikappa_correction")
    assert isinstance(corr, MiniKappaCorrection)
    q, node = add_interleaved_collection(bl, task("correct"))
    model, _ = q.entry(node)
    start = translations(bl)
    proxy = RefusingDiffractometer(bl.diffractometer)  # GenericDiffractometer's API only
    mocker.patch.object(type(bl), "diffractometer", new_callable=PropertyMock, return_value=proxy)
    shift = mocker.spy(corr, "shift")
    assert q.execute(timeout=120), proxy.refusals
    rec = AcquisitionRecord.load(model.record_path)
    assert rec.status == "completed" and shift.call_count == 1
    assert [c.method for c in rec.orientation_changes] == ["correction", "stored", "stored"]
    # the sample point x (sampx, sampy, phiy) goes round phi by 20 deg, then round kappa by 30
    x = np.array([start["sampx"], start["sampy"], start["phiy"]])
    tk, tp = np.array([0.12, -0.35, 0.8]), np.array([0.02, 0.05, 0.0])
    kd, pd = np.array([0.0, 0.40673664, -0.91354546]), np.array([0.0, 0.0, -1.0])  # the example's axes
    b = tp + _rotate(pd, 20.0, x - tp)
    want = tk + _rotate(kd, 30.0, b - tk)
    got = rec.orientation_changes[0].positions
    assert [got["sampx"], got["sampy"], got["phiy"]] == pytest.approx(list(want), abs=1e-5)
    assert got["phiz"] == pytest.approx(start["phiz"], abs=1e-6)  # not a corrected motor
    back = rec.orientation_changes[1].positions
    assert all(back[r] == pytest.approx(start[r], abs=1e-4) for r in TRANSLATIONS)


@pytest.mark.parametrize(("phi", "message"), [
    ({"direction": "[0, 0, -2]", "position": "[0, 0, 0]"}, "not a unit vector"),
    ({"direction": "__import__('os')", "position": "[0, 0, 0]"}, "give three numbers"),
    ({"direction": [0, 0, 1, 0], "position": [0, 0, 0]}, "three finite numbers"),
    ({"position": [0, 0, 0]}, "needs a direction and a position"),
])
def test_minikappa_correction_refuses_bad_axes(mocker, phi, message):
    from types import SimpleNamespace

    from mxcubecore_interleave.hardware_objects.MiniKappaCorrection import MiniKappaCorrection

    kappa = {"direction": [0.0, 0.40673664, -0.91354546], "position": [0.12, -0.35, 0.8]}
    config = SimpleNamespace(kappa=kappa, phi={"direction": [0, 0, -1], "position": [0, 0, 0]})
    mocker.patch.object(MiniKappaCorrection, "config", new_callable=PropertyMock, return_value=config)
    ok = MiniKappaCorrection("mk")
    ok.init()  # YAML-style configuration: mxcubecore's own init, then its shift
    assert ok.shift(0, 0, [0.1, 0.2, 0.3], 0, 0) == pytest.approx([0.1, 0.2, 0.3])
    config.phi = phi
    with pytest.raises(ValueError, match=message):
        MiniKappaCorrection("mk").init()


def test_sample_reference_has_every_key_to_collect_dict_gives():
    from mxcubecore_interleave.lims_records import SampleInfo

    # ICATLIMS reads sample_reference["acronym"] unguarded: a sample without one must still carry it
    assert SampleInfo(name="s1").reference() == {"sample_name": "s1", "blSampleId": None, "acronym": "",
                                                 "spacegroup": ""}
