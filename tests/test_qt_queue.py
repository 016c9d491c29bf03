"""Queue entries run from a Qt-built queue: QueueModel.view_created with real Qt tree items.

This is the mxcubeqt path (its tree brick makes a tree item per model and calls
``queue_model.view_created``), not mxcubeweb's ``queue_model_child_added`` + ViewDelegate.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("qtpy")

from mxcubecore_interleave.qt.queue_tree import QueueTree, QueueTreeItem  # noqa: E402

pytestmark = [pytest.mark.qt, pytest.mark.beamline]

SAMPLE = "1:01"


def _builder():
    from mxcubecore.queuelib import QueueBuilder, QueueSerializer

    return QueueSerializer(QueueBuilder())


def _add_sample(serializer):
    serializer.queue_add_item([{"sampleID": SAMPLE, "location": SAMPLE, "sampleName": "s1",
                                "type": "Sample", "tasks": [], "checked": True}])


def _wait_queue(bl, timeout=60.0):
    from mxcubecore_interleave.testing import wait_until

    import gevent

    gevent.sleep(0.05)
    return wait_until(lambda: not bl.queue_manager.is_executing(), timeout=timeout)


@pytest.fixture
def tree(beamline, qtbot):
    widget = QueueTree(beamline.queue_model)
    qtbot.addWidget(widget)
    yield widget
    widget.close_queue()


def test_view_created_makes_entries_with_tree_items(beamline, tree):
    from mxcubecore.model import queue_model_objects as qmo
    from mxcubecore.queue_entry.base_queue_entry import SampleQueueEntry

    serializer = _builder()
    _add_sample(serializer)
    sample_model = beamline.queue_model.get_sample_by_loc_str(SAMPLE)
    item = tree.item_for(sample_model)
    assert isinstance(item, QueueTreeItem)
    assert tree.topLevelItem(0) is item
    entry = item.get_queue_entry()
    assert isinstance(entry, SampleQueueEntry)
    assert entry.get_view() is item
    assert entry in beamline.queue_manager._queue_entry_list
    assert item.text(0) == sample_model.get_display_name()
    assert item.is_checked()
    assert isinstance(item.get_model(), qmo.Sample)


def test_stock_collection_runs_from_the_qt_queue(beamline, tree):
    """The Qt path end to end with mxcubecore's own DataCollection (the control experiment)."""
    serializer = _builder()
    _add_sample(serializer)
    params = beamline.get_default_acquisition_parameters().as_dict()
    params.update({"prefix": "qtdc", "subdir": "qt", "shape": -1, "helical": False, "mesh": False,
                   "num_images": 3, "first_image": 1, "osc_range": 0.1, "osc_start": 0.0,
                   "exp_time": 0.001, "take_snapshots": 0})
    node_id = serializer.add_task(SAMPLE, {"type": "DataCollection", "label": "dc", "sampleID": SAMPLE,
                                           "checked": True, "parameters": params})
    model, entry = beamline.queue_manager.get_entry(node_id)
    item = tree.item_for(model)
    assert entry.get_view() is item
    group_item = tree.item_for(model.get_parent())
    assert item.parent() is group_item
    assert entry in group_item.get_queue_entry()._queue_entry_list

    beamline.queue_manager.execute()
    assert _wait_queue(beamline)
    assert model.is_executed()
    # what the entries wrote on their Qt views while running
    assert item.text(1) == "Collection done"
    assert not item.is_checkable(), "a collected DataCollection is no longer checkable"
    sample_item = tree.item_for(model.get_sample_node())
    assert sample_item.background_index == 1, "the sample's SUCCESS colour"
