"""The interleaved collection through mxcubeweb 4.791's real application and API.

What a browser or a script does: log in, read the task's schema from ``available_tasks``, post
an interleaved task under a sample, read the queue back, start it, watch socket.io events, stop
it and start it again. The files, the acquisition record and the LIMS records are then checked
on disk, as the beamline scientist would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("mxcubeweb")

from mxcubecore import HardwareRepository as HWR  # noqa: E402

from mxcubecore_interleave.record import AcquisitionRecord  # noqa: E402

from .test_interleave_entry import Recorder, check_files_match_record  # noqa: E402
from .test_web_app import SAMPLE_ID, WebSession, web  # noqa: E402,F401 (fixture)

pytestmark = [pytest.mark.web, pytest.mark.beamline]

TASK = "interleaved_collection"
UNCOLLECTED, RUNNING, FAILED, COLLECTED = 0, 1, 2, 4  # mxcubeweb's task states (mxcubecore.queuelib)


def _sweeps(n: int = 4, exp: float = 0.01) -> list[dict]:
    return [
        {"id": "peak", "energy_keV": 12.66, "num_images": n, "osc_range": 0.5, "exposure_time": exp},
        {"id": "remote", "energy_keV": 13.0, "num_images": n, "osc_range": 0.5, "exposure_time": exp},
    ]


def interleaved_task(web: WebSession, **fields) -> dict:
    """What the UI (or a script) posts: the task's ``acq_parameters`` plus the form's fields."""
    params = dict(web.get("/queue/available_tasks").json[TASK]["acq_parameters"])
    params.update({"prefix": "lyso", "subdir": "web", "wedge_size": 2, "sweeps": _sweeps()})
    params.update(fields)
    return {"type": TASK, "label": "Interleaved collection", "sampleID": SAMPLE_ID, "checked": True,
            "parameters": params}


def _queued_tasks(web: WebSession) -> list[dict]:
    return web.get("/queue/").json[SAMPLE_ID]["tasks"]


def _run(web: WebSession, timeout: float = 120) -> None:
    qm = HWR.beamline.queue_manager
    response = web.put("/queue/start", {"sid": SAMPLE_ID})
    assert response.status_code == 200, response.data
    web.wait_for(qm.is_executing, timeout=30)
    web.wait_for(lambda: not qm.is_executing(), timeout=timeout)


def _task_events_of_the_task(task_events: list[dict]) -> list[dict]:
    """The ``task`` events about the interleaved node (its group and sample have their own)."""
    node_id = _interleaved_model()._node_id
    return [t for t in task_events if t["queueID"] == node_id]


def _record_path() -> Path:
    model = _interleaved_model()
    assert model.record_path, "the entry names its acquisition record on the queue model"
    return Path(model.record_path)


def _interleaved_model():
    """The one interleaved-collection node mxcubeweb put under the sample."""
    from mxcubecore_interleave.queue_entries.interleaved_collection import InterleavedCollectionQueueModel

    sample = HWR.beamline.queue_model.get_sample_by_loc_str(SAMPLE_ID)
    models = []

    def walk(node):
        for child in node.get_children():
            if isinstance(child, InterleavedCollectionQueueModel):
                models.append(child)
            walk(child)

    walk(sample)
    assert len(models) == 1, models
    return models[0]


def test_available_tasks_describe_the_sweeps(web: WebSession):
    web.login()
    task = web.get("/queue/available_tasks").json[TASK]
    schema = task["schema"]
    sweeps = schema["properties"]["sweeps"]
    assert sweeps["type"] == "array"
    item = schema["$defs"][sweeps["items"]["$ref"].rsplit("/", 1)[-1]]
    assert {"id", "energy_keV", "wavelength_A", "kappa", "phi", "omega_start", "osc_range", "num_images",
            "exposure_time", "inverse_beam"} <= set(item["properties"])
    # the form shows the sweeps, the task's settings, prefix and subdir; the standard fields it
    # ignores are not in it, and the bookkeeping fields kept for their defaults are hidden
    ui = json.loads(task["ui_schema"])
    shown = [name for name in schema["properties"] if ui.get(name, {}).get("ui:widget") != "hidden"]
    assert sorted(shown) == sorted(["sweeps", "wedge_size", "wedge_unit", "strategy", "orientation_change",
                                    "images_per_file", "write_masters_before", "prefix", "subdir"])
    hidden = {name for name in schema["properties"] if name not in shown}
    assert {"num_images", "osc_range", "inverse_beam", "kappa", "take_dark_current", "shape"} <= hidden
    assert all(ui[name]["ui:classNames"] == "d-none" for name in hidden), "label hidden too"
    assert schema["required"] == ["prefix", "subdir"]
    assert all("title" in schema["properties"][n] for n in shown)
    assert "inverse_of" not in item["properties"] and item["properties"]["num_images"]["minimum"] == 1
    assert item["properties"]["energy_keV"]["type"] == ["number", "null"], "one number input, may stay empty"
    assert sweeps["contains"] == {"type": "object"}, "at least one sweep"
    assert ui["ui:order"][0] == "sweeps"
    assert ui["sweeps"]["items"]["ui:order"][:3] == ["id", "energy_keV", "wavelength_A"], "the model's order"
    assert task["name"] == "Interleaved collection"
    assert task["limits"]["exposure_time"] == [0.001, 1000]
    # what a script needs besides its own fields is all in acq_parameters
    assert {"osc_range", "shape", "first_image", "num_images", "energy"} <= set(task["acq_parameters"])


def test_add_run_and_read_back(web: WebSession, tmp_path):
    web.login_and_select_session()
    result = web.add_sample([interleaved_task(web)])
    assert result["addResults"][0]["success"] is True, result
    (queued,) = _queued_tasks(web)
    assert queued["type"] == TASK, "read back as the same task type, not as a DataCollection"
    assert queued["label"] == "Interleaved collection"
    assert [s["id"] for s in queued["parameters"]["sweeps"]] == ["peak", "remote"]
    web.events()

    _run(web)

    names = [e["name"] for e in web.events()]
    assert "task" in names and "queue" in names
    record_path = _record_path()
    rec, frames = check_files_match_record(record_path)
    assert rec.status == "completed" and frames == 8
    assert [w.sweep for w in rec.wedges] == ["peak", "remote", "remote", "peak"]  # min_motion order
    masters = sorted(p.name for p in record_path.parent.glob("lyso_1_*_master.h5"))
    assert masters == ["lyso_1_peak_master.h5", "lyso_1_remote_master.h5"]
    assert all(s.master for s in rec.sweeps)
    # data under the session's directory below the test's data root, in the subdir asked for
    assert record_path.parent.name == "web" and str(tmp_path / "data") in str(record_path)

    lims = HWR.beamline.lims
    assert [g["dataCollectionGroupId"] for g in lims.recorded["groups"]] == [rec.lims_group_id]
    dcs = lims.collections_in_group(rec.lims_group_id)
    assert len(dcs) == 2
    assert sorted(d["parameters"]["oscillation_sequence"][0]["number_of_images"] for d in dcs) == [4, 4]


def test_progress_events_reach_the_browser(web: WebSession):
    web.login_and_select_session()
    web.add_sample([interleaved_task(web)])
    web.events()
    _run(web)
    events = web.events()
    task_events = [e["args"][0] for e in events if e["name"] == "task"]
    signals = [t["Signal"] for t in task_events]
    assert "queue_interleaved_started" in signals and "queue_interleaved_finished" in signals
    progress = [t["progress"] for t in task_events if t["Signal"] == "collectImageTaken"]
    assert progress and progress == sorted(progress) and progress[-1] == pytest.approx(1.0)
    last = _task_events_of_the_task(task_events)[-1]
    assert last["Signal"] == "queue_interleaved_completed"
    assert last["state"] == COLLECTED and last["progress"] == 1.0
    assert "completed: 4 of 4 wedges (8 of 8 images)" in last["Message"]
    assert _queued_tasks(web)[0]["state"] == COLLECTED, "GET /queue/ says the same"


def test_stop_midway_and_start_again_loses_nothing(web: WebSession):
    web.login_and_select_session()
    web.add_sample([interleaved_task(web, sweeps=_sweeps(n=8, exp=0.05))])
    qm = HWR.beamline.queue_manager
    images = Recorder()  # kept alive here: the dispatcher holds receivers weakly
    HWR.beamline.collect.connect("collectImageTaken", images.image)
    response = web.put("/queue/start", {"sid": SAMPLE_ID})
    assert response.status_code == 200
    web.wait_for(lambda: images.images >= 5, timeout=60)
    assert web.put("/queue/stop", {}).status_code == 200
    web.wait_for(lambda: not qm.is_executing(), timeout=60)
    model = _interleaved_model()
    _model, entry = qm.get_entry(model._node_id)
    assert entry.wait_idle(60), "the stopped run settles its record"
    record_path = Path(model.record_path)
    rec, frames = check_files_match_record(record_path)
    assert rec.status in ("aborted", "stopped") and 5 <= frames < 16
    # what the browser was told last about the task is what the record says, not "collected"
    last = _task_events_of_the_task([e["args"][0] for e in web.events("task")])[-1]
    done = sum(1 for w in rec.wedges if w.status == "complete")
    assert last["Signal"] == f"queue_interleaved_{rec.status}"
    assert last["state"] == FAILED and last["progress"] == pytest.approx(frames / 16)
    assert f"{rec.status} after {done} of {len(rec.wedges)} wedges ({frames} of 16 images)" in last["Message"]
    assert "run the queue again to resume" in last["Message"]
    assert _queued_tasks(web)[0]["state"] == FAILED, "GET /queue/ says the same"
    before = {p: p.stat().st_mtime_ns for p in record_path.parent.glob("*_data_*.h5")}

    _run(web)
    rec2, frames2 = check_files_match_record(record_path)
    assert rec2.status == "completed" and frames2 == 16
    for sweep in rec2.sweeps:
        assert rec2.collected_frames(sweep.id) == 8
    assert all(p.stat().st_mtime_ns == t for p, t in before.items()), "nothing overwritten"
    assert len(HWR.beamline.lims.collections_in_group(rec2.lims_group_id)) == 2
    assert len(HWR.beamline.lims.recorded["groups"]) == 1, "the resumed run added no group"
    assert AcquisitionRecord.load(record_path).status == "completed"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sweeps": [dict(_sweeps()[0], num_images=0)]}, "a sweep needs at least one image"),
        ({"sweeps": [_sweeps()[0], _sweeps()[0]]}, "is used twice"),
        ({"wedge_size": 100}, "larger than"),
        ({"sweeps": [dict(_sweeps()[0], energy_keV=40.0)]}, "energy 40.0000 kev is outside"),
        ({"sweeps": [_sweeps()[0], dict(_sweeps()[0], id="again", omega_start=1.0)]},
         "sweeps 'peak' and 'again' have the same energy"),
        ({"sweeps": [dict(_sweeps()[0], exposure_time="fast")]}, "sweeps.0.exposure_time: must be a valid number"),
        ({"wedge_size": -2}, "the wedge size must be positive"),
    ],
)
def test_invalid_parameters_are_refused_with_the_models_message(web: WebSession, fields, message):
    web.login_and_select_session()
    response = web.post("/queue/", [{"sampleID": SAMPLE_ID, "sampleName": "crystal1", "location": "Manual",
                                     "type": "Sample", "checked": True, "tasks": [interleaved_task(web, **fields)]}])
    assert response.status_code == 200, response.data
    (added,) = response.json["addResults"]
    assert added["success"] is False
    assert message in added["error"].lower(), added["error"]
    assert "KeyError" not in added["error"] and "Traceback" not in added["error"]
    for internal in ("[type=", "input_value", "input_type", "validation error for", "errors.pydantic.dev"):
        assert internal not in added["error"], added["error"]
    assert _queued_tasks(web) == []


def test_a_subdir_with_dots_is_refused_naming_the_whole_subdir(web: WebSession):
    web.login_and_select_session()
    response = web.post("/queue/", [{"sampleID": SAMPLE_ID, "sampleName": "crystal1", "location": "Manual",
                                     "type": "Sample", "checked": True,
                                     "tasks": [interleaved_task(web, subdir="web/../../etc")]}])
    (added,) = response.json["addResults"]
    assert added["success"] is False
    assert "the sub-directory 'web/../../etc' is refused" in added["error"], added["error"]
    assert _queued_tasks(web) == []


def test_an_intended_repeat_is_accepted(web: WebSession):
    web.login_and_select_session()
    repeat = dict(_sweeps()[0], id="dose2", repeat=True)
    result = web.add_sample([interleaved_task(web, sweeps=[*_sweeps(), repeat])])
    assert result["addResults"][0]["success"] is True, result
    (queued,) = _queued_tasks(web)
    assert [s["repeat"] for s in queued["parameters"]["sweeps"]] == [False, False, True]


def test_a_refused_task_for_a_queued_sample_leaves_the_queue_as_it_was(web: WebSession):
    """mxcubecore 2.149's serializer adds a new sample before its tasks and keeps it when a task
    is refused (best effort per item): a script adds the sample first, then its tasks; a
    refused task then changes nothing (docs/enable-mxcubeweb.md)."""
    web.login_and_select_session()
    web.add_sample([])
    before = web.get("/queue/").json
    queue_id = before[SAMPLE_ID]["queueID"]
    item = {"sampleID": SAMPLE_ID, "queueID": queue_id, "sampleName": "crystal1", "location": "Manual",
            "type": "Sample", "checked": True,
            "tasks": [interleaved_task(web, sweeps=[dict(_sweeps()[0], num_images=0)])]}
    (added,) = web.post("/queue/", [item]).json["addResults"]
    assert added["success"] is False and "at least one image" in added["error"]
    assert web.get("/queue/").json == before


@pytest.mark.parametrize("prefix", ["../escape", "a/b"])
def test_a_prefix_that_leaves_the_data_directory_is_refused(web: WebSession, prefix, tmp_path):
    """mxcubecore's queue models refuse '/' and '..' before the task's own model sees them;
    mxcubeweb 4.791 turns that refusal into "404 Not found" (docs/enable-mxcubeweb.md, Known
    limitations). Whatever the answer, nothing is queued and nothing is written."""
    web.login_and_select_session()
    item = {"sampleID": SAMPLE_ID, "sampleName": "crystal1", "location": "Manual", "type": "Sample",
            "checked": True, "tasks": [interleaved_task(web, prefix=prefix)]}
    response = web.post("/queue/", [item])
    assert response.status_code == 404 and response.data == b"Not found", (response.status_code, response.data)
    assert SAMPLE_ID not in web.get("/queue/").json
    assert not list(tmp_path.rglob("*.h5")) and not list(tmp_path.rglob("*_acquisition.json"))


def test_the_documented_script_posts_what_these_tests_post():
    """docs/enable-mxcubeweb.md's script uses the same task fields as the tests above."""
    import ast
    import re

    doc = (Path(__file__).resolve().parents[1] / "docs" / "enable-mxcubeweb.md").read_text()
    match = re.search(r'parameters\.update\(prefix="lyso", subdir="web", wedge_size=2, sweeps=(\[.*?\])\)', doc, re.S)
    assert match, "the script example in docs/enable-mxcubeweb.md changed"
    body = re.sub(r"#[^\n]*", "", match.group(1))
    assert ast.literal_eval(body) == _sweeps()


def test_pause_waits_after_the_current_wedge_and_unpause_goes_on(web: WebSession):
    """mxcubeweb's Pause is the "stop after this wedge" of an interleaved collection: the entry
    finishes the wedge it is in, waits, and Unpause collects the rest. (mxcubecore's
    ``QueueManager.pause`` waits for the unpause, so the pause request itself returns only then.)"""
    import gevent

    web.login_and_select_session()
    web.add_sample([interleaved_task(web, sweeps=_sweeps(n=8, exp=0.05))])
    qm = HWR.beamline.queue_manager
    images = Recorder()
    HWR.beamline.collect.connect("collectImageTaken", images.image)
    assert web.put("/queue/start", {"sid": SAMPLE_ID}).status_code == 200
    web.wait_for(lambda: images.images >= 3, timeout=60)
    pause = gevent.spawn(web.put, "/queue/pause", {})
    web.wait_for(qm.is_paused, timeout=10)
    # the wedge in progress ends (however slowly a loaded machine moves the motors first):
    # wait until no image has come for 1.5 s, i.e. 30 exposures
    last = {"n": images.images, "t": time.monotonic()}

    def settled() -> bool:
        if images.images != last["n"]:
            last.update(n=images.images, t=time.monotonic())
        return time.monotonic() - last["t"] > 1.5

    web.wait_for(settled, timeout=60)
    held = images.images
    gevent.sleep(1.0)
    assert images.images == held, "no image while paused"
    assert held % 2 == 0 and held < 16, f"paused at a wedge boundary (wedges of 2), after {held}"
    assert qm.is_executing()
    assert web.put("/queue/unpause", {}).status_code == 200
    pause.join(10)
    assert pause.successful() and pause.value.status_code == 200
    web.wait_for(lambda: not qm.is_executing(), timeout=120)
    rec, frames = check_files_match_record(_record_path())
    assert rec.status == "completed" and frames == 16
    assert not [w for w in rec.wedges if w.status == "partial"], "no wedge was cut"


def test_a_failed_run_tells_the_browser_why(web: WebSession, monkeypatch):
    """The energy cannot reach the second sweep's: the record says failed, the browser's last task
    event says failed with the reason and how much was collected, GET /queue/ says failed."""
    web.login_and_select_session()
    web.add_sample([interleaved_task(web)])
    energy = HWR.beamline.energy
    real_set = energy.set_value

    def set_value(value, *args, **kw):
        if value > 12.8:
            raise RuntimeError("the monochromator did not reach 13.0000 keV")
        return real_set(value, *args, **kw)

    monkeypatch.setattr(energy, "set_value", set_value)
    web.events()
    _run(web)
    rec = AcquisitionRecord.load(_record_path())
    assert rec.status == "failed"
    last = _task_events_of_the_task([e["args"][0] for e in web.events("task")])[-1]
    assert last["Signal"] == "queue_interleaved_failed" and last["state"] == FAILED
    assert "did not reach 13.0000 keV" in last["Message"]
    collected = sum(w.n_collected for w in rec.wedges)
    assert last["progress"] == pytest.approx(collected / 8) and collected < 8
    assert _queued_tasks(web)[0]["state"] == FAILED


def test_a_second_identical_submission_is_refused_and_the_queue_shows_what_runs(web: WebSession, tmp_path):
    """The same sample and task posted twice (a double click): mxcubecore would add a second
    Sample node at the same location, which GET /queue/ hides and the queue runs. The second
    task is refused, its empty sample removed; one task is listed, one runs."""
    web.login_and_select_session()
    task = interleaved_task(web)
    assert web.add_sample([task])["addResults"][0]["success"] is True
    (second,) = web.add_sample([task])["addResults"]
    assert second["success"] is False
    assert "already in the queue for sample 1:01 and not collected yet" in second["error"], second["error"]
    root = HWR.beamline.queue_model.get_model_root()
    assert [s.loc_str for s in root.get_children()] == [SAMPLE_ID], "one sample node, as GET /queue/ shows"
    assert len(_queued_tasks(web)) == 1
    _run(web)
    records = sorted(p.name for p in tmp_path.rglob("*_acquisition.json"))
    assert records == ["lyso_1_acquisition.json"], records
    # once collected, the same task may be queued again on purpose (it starts run 2)
    assert web.add_sample([task])["addResults"][0]["success"] is True
