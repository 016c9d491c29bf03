"""The Qt task form on registered plugin tasks, and queueing the task from it into a Qt-built queue."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("qtpy")

from mxcubecore_interleave.qt.queue_tree import QueueTree  # noqa: E402
from mxcubecore_interleave.qt.task_form import (  # noqa: E402
    TaskForm,
    add_task,
    entry_class,
    flat_task_schema,
)
from mxcubecore_interleave.testing import wait_until  # noqa: E402

from .murko_helpers import murko, murko_server  # noqa: E402,F401 (fixtures)

pytestmark = [pytest.mark.qt, pytest.mark.beamline]

SAMPLE = "1:01"


def _add_sample(beamline):
    from mxcubecore.queuelib import QueueBuilder, QueueSerializer

    QueueSerializer(QueueBuilder()).queue_add_item([
        {"sampleID": SAMPLE, "location": SAMPLE, "sampleName": "s1", "type": "Sample",
         "tasks": [], "checked": True}])
    return beamline.queue_model.get_sample_by_loc_str(SAMPLE)


def test_flat_schema_is_mxcubewebs(beamline):
    """Same flattening as mxcubeweb 4.791's Queue.get_task_schema (when mxcubeweb is there)."""
    web_queue = pytest.importorskip("mxcubeweb.core.components.queue")
    model = entry_class("murko_centring").DATA_MODEL
    ours = flat_task_schema(model)
    theirs = web_queue.Queue.get_task_schema(None, model)
    assert ours["properties"] == theirs["properties"]
    assert ours["required"] == theirs["required"]


def test_unknown_task_is_a_clear_error(beamline):
    with pytest.raises(LookupError, match="is the plugin's HardwareObject in beamline.yaml"):
        entry_class("no_such_task")


def test_murko_task_form_to_qt_queue(beamline, qtbot):
    tree = QueueTree(beamline.queue_model)
    qtbot.addWidget(tree)
    form = TaskForm("murko_centring", beamline, {"prefix": "m1", "subdir": "qt"})
    qtbot.addWidget(form)
    assert form.field("type") is None, "bookkeeping fields are hidden"
    assert form.values()["type"] == "murko_centring"
    # the beamline's current energy is the default, as in mxcubeweb's acq_parameters
    assert form.values()["energy"] == pytest.approx(beamline.energy.get_value(), abs=1e-4)
    form.field("num_views").setValue(6)
    params = form.parameters()
    assert params is not None, form.errors()

    sample = _add_sample(beamline)
    node_id = add_task(sample._node_id, "murko_centring", params)
    model, entry = beamline.queue_manager.get_entry(node_id)
    assert type(entry).__name__ == "MurkoCentringQueueEntry"
    assert entry.get_view() is tree.item_for(model)
    assert model.task_data.user_collection_parameters.num_views == 6
    assert model.acquisitions[0].path_template.base_prefix == "m1"
    tree.close_queue()


def test_invalid_parameters_are_refused_before_queueing(beamline, qtbot):
    tree = QueueTree(beamline.queue_model)
    qtbot.addWidget(tree)
    form = TaskForm("murko_centring", beamline, {"prefix": "m1", "subdir": "qt"})
    qtbot.addWidget(form)
    values = form.values()
    values["num_views"] = 2           # the model wants at least 3
    sample = _add_sample(beamline)
    before = len(sample.get_children())
    with pytest.raises(Exception, match="greater than or equal to 3"):
        add_task(sample._node_id, "murko_centring", values)
    assert len(sample.get_children()) == before, "nothing was added to the queue"
    tree.close_queue()


def test_murko_task_from_the_form_runs_from_the_qt_queue(beamline, murko, qtbot):
    """The centring entry made by view_created (Qt tree item as its view) runs to the end."""
    from mxcubecore_interleave.murko_demo import centring_error_mm, place_sample

    tree = QueueTree(beamline.queue_model)
    qtbot.addWidget(tree)
    form = TaskForm("murko_centring", beamline, {"prefix": "m1", "subdir": "qt"})
    qtbot.addWidget(form)
    form.field("num_views").setValue(4)
    params = form.parameters()
    assert params is not None, form.errors()
    place_sample(beamline, {"phiy": 0.02, "phiz": 0.012, "sampx": -0.015, "sampy": -0.02}, omega=0.0)

    sample = _add_sample(beamline)
    node_id = add_task(sample._node_id, "murko_centring", params)
    model, entry = beamline.queue_manager.get_entry(node_id)
    item = tree.item_for(model)
    assert entry.get_view() is item
    beamline.queue_manager.execute()
    assert wait_until(lambda: not beamline.queue_manager.is_executing(), timeout=120)
    assert model.is_executed()
    assert model.centred_position is not None and model.centred_position.centring_method == "murko"
    assert all(abs(v) < 0.002 for v in centring_error_mm(beamline).values())
    assert tree.item_for(sample).background_index == 1, "the sample's SUCCESS colour"
    tree.close_queue()
