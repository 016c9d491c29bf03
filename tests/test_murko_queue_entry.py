"""The "murko_centring" task: registered, created and run the way mxcubeweb does it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mxcubecore_interleave.headless import HeadlessQueue
from mxcubecore_interleave.simulation.murko_scene import SampleScene
from mxcubecore_interleave.murko_demo import centring_error_mm, place_sample
from mxcubecore_interleave.queue_entries.murko_centring import (
    MurkoCentringQueueEntry,
    MurkoCentringQueueModel,
    MurkoCentringTaskParameters,
)

from .murko_helpers import murko, murko_server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.beamline

OFF_CENTRE = {"phiy": 0.02, "phiz": 0.012, "sampx": -0.015, "sampy": -0.02}


def _task_parameters(q: HeadlessQueue, **overrides):
    params = q.data_collection_parameters(prefix="lyso", subdir="murko-test", num_images=1)
    # what mxcubeweb's flat form sends besides the collection defaults
    params.update({"experiment_name": None, "type": "murko_centring", "label": "Murko", "beam_size": "0.05"})
    params.update({"num_views": 4, "rounds": 1, "store_3d": True})
    params.update(overrides)
    return params


def test_the_task_is_registered_for_mxcubecore_and_mxcubeweb(beamline):
    import mxcubecore.queue_entry as qe

    assert qe.get_queue_entry_from_task_name("murko_centring") is MurkoCentringQueueEntry
    assert qe.MODEL_QUEUE_ENTRY_MAPPINGS[MurkoCentringQueueModel] is MurkoCentringQueueEntry
    assert beamline.config.available_methods["murko_centring"] is True
    schema = MurkoCentringTaskParameters.model_json_schema()
    user = schema["$defs"]["MurkoCentringUserParameters"]["properties"]
    assert set(user) == {"num_views", "rounds", "store_3d"}
    assert user["num_views"]["minimum"] == 3


def test_the_entry_centres_stores_3d_and_hands_the_position_to_the_collection(beamline, murko):
    q = HeadlessQueue(beamline)
    sid = q.add_sample()
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    node = q.add_task(sid, "murko_centring", _task_parameters(q), label="Murko")
    dc_node = q.add_task(sid, "DataCollection", q.data_collection_parameters(prefix="lyso", subdir="murko-test", num_images=2))
    model, entry = q.entry(node)
    assert isinstance(entry, MurkoCentringQueueEntry)
    assert q.execute(timeout=120)

    assert all(abs(v) < 0.002 for v in centring_error_mm(beamline).values())
    cpos = model.centred_position
    assert cpos is not None and cpos.centring_method == "murko"
    files = model.murko_files
    process_dir = Path(model.get_path_template().process_directory)
    for key in ("h5", "ply", "png"):
        assert Path(files[key]).is_file(), key
        assert Path(files[key]).parent == process_dir
        assert Path(files[key]).name.startswith("lyso")
    assert cpos.murko_files == files
    assert model.murko_summary["rms_um"] < 2.0

    dc_model, _ = q.entry(dc_node)
    handed = dc_model.acquisitions[0].acquisition_parameters.centred_position
    assert handed is cpos
    # and LIMS finds the files through the collection's comment
    stored = beamline.lims.recorded["collections"]
    assert len(stored) == 1
    assert files["h5"] in stored[0]["parameters"]["comments"]
    assert files["ply"] in stored[0]["parameters"]["comments"]


def test_a_failing_centring_fails_the_entry_and_keeps_the_motors(beamline, murko):
    q = HeadlessQueue(beamline)
    sid = q.add_sample()
    beamline.sample_view.camera.set_scene(SampleScene(mounted=False))
    murko.config.max_attempts = 1
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    before = centring_error_mm(beamline)
    node = q.add_task(sid, "murko_centring", _task_parameters(q, num_views=3), label="Murko")
    model, entry = q.entry(node)
    failures = []

    class Failed:
        def __call__(self, *args):
            failures.append(args)

    slot = Failed()
    beamline.queue_manager.connect("queue_entry_execute_finished", slot.__call__)
    q.execute(timeout=60)
    assert model.centred_position is None
    assert model.murko_files == {}
    assert any("Failed" in str(args) for args in failures), failures
    assert centring_error_mm(beamline) == pytest.approx(before, abs=1e-9)
