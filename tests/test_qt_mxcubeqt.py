"""What the plugin gives a real mxcubeqt, tested without mxcubeqt (it is not on PyPI).

- the brick's logic (``mxcubeqt_brick.brick_class``) on a stand-in of mxcubeqt's ``BaseWidget``
  that implements the part of its documented API a brick uses (``__init__(parent, name)``,
  ``add_property``/``get_property``, ``define_slot``/``define_signal``, ``property_changed``);
- the tree rows (``mxcubeqt_tree``) against a stand-in ``queue_item`` module shaped like
  mxcubeqt's: a ``MODEL_VIEW_MAPPINGS`` dict and a ``TaskQueueItem`` row class;
- that no product module imports mxcubeqt except the brick file mxcubeqt itself loads.

``scripts/mxcubeqt_check.py`` runs the same brick inside a real mxcubeqt (see
docs/enable-mxcubeqt.md for what ran, with which commit).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("qtpy")

from qtpy.QtWidgets import QFrame, QLabel, QTreeWidget, QTreeWidgetItem  # noqa: E402

from mxcubecore_interleave.qt import mxcubeqt_brick, mxcubeqt_tree  # noqa: E402

from .test_qt_interleaved import RED, TASK, _add_sample, add_two_sweeps, click, fill_sweep  # noqa: E402
from .test_qt_queue import tree  # noqa: E402,F401 (fixture: a QueueTree on the beamline's queue model)

pytestmark = [pytest.mark.qt, pytest.mark.beamline]
PACKAGE = Path(mxcubeqt_brick.__file__).resolve().parents[1]


# -- stand-ins implementing the mxcubeqt interface the plugin uses --------------------------------
class _Property:
    def __init__(self, value):
        self.value = value

    def get_value(self):
        return self.value


class StandInBaseWidget(QFrame):
    """mxcubeqt's ``BaseWidget`` as a brick sees it: properties, slots, signals, a QFrame."""

    def __init__(self, parent=None, widget_name=""):
        super().__init__(parent)
        self.setObjectName(widget_name)
        self.properties: dict[str, _Property] = {}
        self.slots: list[str] = []
        self.signals: list[str] = []

    def add_property(self, name, kind, default_value=None, comment="", hidden=False):
        self.properties[name] = _Property(default_value)

    def get_property(self, name):
        return self.properties[name]

    def define_slot(self, name, args):
        self.slots.append(name)

    def define_signal(self, name, args):
        self.signals.append(name)

    def property_changed(self, name, old_value, new_value):
        pass

    def __setitem__(self, name, value):  # what mxcubeqt does when the layout file sets a property
        old = self.properties[name].value
        self.properties[name].value = value
        self.property_changed(name, old, value)


class StandInTaskQueueItem(QTreeWidgetItem):
    """mxcubeqt's ``TaskQueueItem``: ``(parent, last_item, text)`` and the view API entries call."""

    def __init__(self, *args, **kwargs):
        super().__init__(args[0])
        self._data_model = None
        self._queue_entry = None

    def get_model(self):
        return self._data_model

    def update_tool_tip(self):
        pass


def stand_in_queue_item() -> types.ModuleType:
    module = types.ModuleType("mxcubeqt.utils.queue_item")
    module.TaskQueueItem = StandInTaskQueueItem
    module.MODEL_VIEW_MAPPINGS = {}
    return module


class Row:
    """A selected tree row as the tree brick's ``selection_changed`` passes it."""

    def __init__(self, model):
        self.model = model

    def get_model(self):
        return self.model


# -- the tree rows ----------------------------------------------------------------------------------
def test_the_plugin_models_get_a_task_row_in_mxcubeqt_tree():
    from mxcubecore_interleave.queue_entries.interleaved_collection import InterleavedCollectionQueueModel

    queue_item = stand_in_queue_item()
    own = type("SiteRow", (StandInTaskQueueItem,), {})
    sentinel = object()
    queue_item.MODEL_VIEW_MAPPINGS[sentinel] = own
    cls = mxcubeqt_tree.register_tree_item(InterleavedCollectionQueueModel, queue_item)
    assert queue_item.MODEL_VIEW_MAPPINGS[InterleavedCollectionQueueModel] is cls
    assert issubclass(cls, StandInTaskQueueItem), "mxcubeqt treats it as a task row"
    assert queue_item.MODEL_VIEW_MAPPINGS[sentinel] is own
    queue_item.MODEL_VIEW_MAPPINGS[InterleavedCollectionQueueModel] = own  # a site's own row is kept
    assert mxcubeqt_tree.register_tree_item(InterleavedCollectionQueueModel, queue_item) is own


def test_registration_follows_mxcubeqt_being_loaded(monkeypatch):
    """register_entry (what the plugin's HardwareObject calls) adds the row only inside mxcubeqt."""
    from mxcubecore_interleave.queue_entries import register_entry
    from mxcubecore_interleave.queue_entries.interleaved_collection import (
        InterleavedCollectionQueueEntry,
        InterleavedCollectionQueueModel,
    )

    monkeypatch.delitem(sys.modules, mxcubeqt_tree.QUEUE_ITEM_MODULE, raising=False)
    assert mxcubeqt_tree.register_if_loaded(InterleavedCollectionQueueModel) is False
    queue_item = stand_in_queue_item()
    monkeypatch.setitem(sys.modules, mxcubeqt_tree.QUEUE_ITEM_MODULE, queue_item)
    register_entry(InterleavedCollectionQueueEntry)
    assert InterleavedCollectionQueueModel in queue_item.MODEL_VIEW_MAPPINGS


def test_a_row_shows_the_whole_progress(qtbot):
    view = QTreeWidget()
    qtbot.addWidget(view)
    view.setColumnCount(2)
    view.setColumnWidth(1, 20)  # mxcubeqt sizes column 0 only: progress would read "…"
    cls = mxcubeqt_tree.tree_item_class(stand_in_queue_item())
    row = cls(view, None, "Interleaved collection")
    row.setText(0, "Interleaved collection")
    text = "wedge 3 of 8, image 40 of 160"
    row.setText(1, text)
    needed = view.fontMetrics().horizontalAdvance(text)
    assert view.columnWidth(1) >= needed and row.toolTip(1) == text


def test_no_product_module_imports_mxcubeqt():
    """Only the brick file (loaded by mxcubeqt from --bricksDirs) names mxcubeqt in an import."""
    importing = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "mxcubeqt" or n.startswith("mxcubeqt.") for n in names):
                importing.add(path.relative_to(PACKAGE).as_posix())
    assert importing == {"qt/mxcubeqt_bricks/interleaved_collection_brick.py"}
    code = ("import sys, mxcubecore_interleave.qt.mxcubeqt_brick, mxcubecore_interleave.qt.mxcubeqt_tree, "
            "mxcubecore_interleave.qt.task_form, mxcubecore_interleave.hardware_objects.QueueEntryRegistrar; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mxcubeqt'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_the_brick_file_is_where_the_docs_say():
    brick = mxcubeqt_brick.BRICKS_DIR / "interleaved_collection_brick.py"
    assert brick.is_file()
    # mxcubeqt's load_brick: module "interleaved_collection_brick" -> class "InterleavedCollectionBrick"
    assert "InterleavedCollectionBrick = brick_class(BaseWidget)" in brick.read_text()
    doc = (PACKAGE.parent / "docs" / "enable-mxcubeqt.md").read_text()
    assert "type: interleaved_collection_brick" in doc and "--bricksDirs" in doc


# -- the brick ---------------------------------------------------------------------------------------
@pytest.fixture
def brick(beamline, qtbot):
    cls = mxcubeqt_brick.brick_class(StandInBaseWidget)
    widget = cls(None, "interleaved_collection_brick")
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_the_brick_queues_the_task_under_the_selected_sample(beamline, tree, brick, qtbot):
    assert type(brick).__name__ == "InterleavedCollectionBrick"
    assert "selection_changed" in brick.slots and brick.get_property("taskName").get_value() == TASK
    form = brick.form
    assert form is not None and form.task_name == TASK
    add_two_sweeps(qtbot, form)
    sample = _add_sample(beamline)
    brick.selection_changed([Row(sample)])
    click(qtbot, brick.add_button)
    (node_id,) = brick.queued
    model, entry = beamline.queue_manager.get_entry(node_id)
    assert type(entry).__name__ == "InterleavedCollectionQueueEntry"
    assert [s.id for s in model.task_data.user_collection_parameters.sweeps] == ["peak", "remote"]
    group = model.get_parent()
    assert group.get_parent() is sample
    assert tree.item_for(group).text(0) == "Interleaved collection - 1", "not ' - 0'"
    assert tree.item_for(model).text(0) == "Interleaved collection"
    assert "queued under" in brick.status.text()

    brick.selection_changed([Row(model)])  # a task row selected: its sample
    click(qtbot, brick.add_button)  # the same task again, not collected yet: refused, nothing added
    assert len(brick.queued) == 1 and "not queued" in brick.status.text()
    assert len(group.get_children()) == 1
    form.field("prefix").setText("second")
    click(qtbot, brick.add_button)
    assert len(brick.queued) == 2
    second = beamline.queue_manager.get_entry(brick.queued[1])[0].get_parent()
    assert tree.item_for(second).text(0) == "Interleaved collection - 2"


def test_the_brick_refuses_without_a_sample_or_with_bad_values(beamline, tree, brick, qtbot):
    form = brick.form
    add_two_sweeps(qtbot, form)
    sample = _add_sample(beamline)
    before = len(sample.get_children())
    brick.selection_changed([])
    click(qtbot, brick.add_button)
    assert brick.queued == [] and brick.status.text() == mxcubeqt_brick.NO_SAMPLE

    brick.selection_changed([Row(sample)])
    fill_sweep(qtbot, form, 1, energy_keV="40")
    click(qtbot, brick.add_button)
    assert brick.queued == [] and len(sample.get_children()) == before, "nothing queued"
    assert RED in form.field("sweeps", 1, "energy_keV").styleSheet()
    assert "not queued" in brick.status.text()
    assert "energy 40.0000 keV" in form.findChild(QLabel, "errors").text()


def test_an_unknown_task_name_is_a_message_not_a_dead_brick(beamline, brick):
    brick["taskName"] = "no_such_task"
    assert brick.form is None and "cannot show task 'no_such_task'" in brick.status.text()
    assert brick.add_to_queue() == []
    brick["taskName"] = TASK
    assert brick.form is not None and brick.form.task_name == TASK
    assert brick.form.isVisibleTo(brick)


def test_the_docs_registration_snippet_runs(monkeypatch):
    """docs/enable-mxcubeqt.md's by-hand registration, with a stand-in ``mxcubeqt.utils.queue_item``."""
    import re

    from mxcubecore_interleave.queue_entries.interleaved_collection import InterleavedCollectionQueueModel

    queue_item = stand_in_queue_item()
    utils = types.ModuleType("mxcubeqt.utils")
    utils.queue_item = queue_item
    monkeypatch.setitem(sys.modules, "mxcubeqt", types.ModuleType("mxcubeqt"))
    monkeypatch.setitem(sys.modules, "mxcubeqt.utils", utils)
    monkeypatch.setitem(sys.modules, "mxcubeqt.utils.queue_item", queue_item)
    doc = (PACKAGE.parent / "docs" / "enable-mxcubeqt.md").read_text()
    section = doc.split("### 3. The tree row", 1)[1].split("\n### ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    exec(code, {})
    row = queue_item.MODEL_VIEW_MAPPINGS[InterleavedCollectionQueueModel]
    assert issubclass(row, StandInTaskQueueItem)
