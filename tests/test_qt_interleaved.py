"""The interleaved collection from Qt: TaskForm filled the way a user does, queued into a Qt-built
queue (QueueTree -> mxcubecore's ``QueueModel.view_created``), run, and checked on disk and in LIMS.

The user's path: click *Add* in the sweeps table (a new row copies the last one), type the sweep
id, energy and images into the row's cells, set the wedge size, press *Add to queue*
(``TaskForm.parameters`` then ``add_task``), then *Collect* (``queue_manager.execute``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("qtpy")

from qtpy.QtCore import Qt  # noqa: E402
from qtpy.QtWidgets import QAbstractSpinBox, QLabel, QLineEdit  # noqa: E402

from mxcubecore_interleave.qt.task_form import TaskForm, add_task  # noqa: E402

from .test_interleave_entry import check_files_match_record  # noqa: E402
from .test_qt_queue import tree  # noqa: E402,F401 (fixture: a QueueTree on the beamline's queue model)

pytestmark = [pytest.mark.qt, pytest.mark.beamline]

SAMPLE = "1:01"
TASK = "interleaved_collection"
RED = "c0392b"


# -- what a user does with the widgets ------------------------------------------------------------
def type_into(qtbot, widget, text: str) -> None:
    """Select what the editor holds and type ``text`` over it, as at the keyboard."""
    if isinstance(widget, QAbstractSpinBox):
        widget.selectAll()
        qtbot.keyClicks(widget, text)
        qtbot.keyClick(widget, Qt.Key.Key_Return)
    else:
        assert isinstance(widget, QLineEdit), type(widget)
        widget.selectAll()
        qtbot.keyClicks(widget, text)


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def fill_sweep(qtbot, form: TaskForm, row: int, **cells: str) -> None:
    for name, text in cells.items():
        type_into(qtbot, form.field("sweeps", row, name), text)


def add_two_sweeps(qtbot, form: TaskForm) -> None:
    """Two energies, 4 images of 0.5 deg each: the second row starts as a copy of the first."""
    table = form.table("sweeps")
    click(qtbot, table.add_button)
    fill_sweep(qtbot, form, 0, id="peak", energy_keV="12.66", num_images="4", osc_range="0.5",
               exposure_time="0.001")
    click(qtbot, table.add_button)
    fill_sweep(qtbot, form, 1, id="remote", energy_keV="13.0")
    type_into(qtbot, form.field("wedge_size"), "2")


def error_label(form: TaskForm) -> QLabel:
    return form.findChild(QLabel, "errors")


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture
def form(beamline, qtbot):
    widget = TaskForm(TASK, beamline, {"prefix": "lyso", "subdir": "qt"})
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _add_sample(beamline):
    from mxcubecore.queuelib import QueueBuilder, QueueSerializer

    QueueSerializer(QueueBuilder()).queue_add_item([
        {"sampleID": SAMPLE, "location": SAMPLE, "sampleName": "s1", "type": "Sample",
         "tasks": [], "checked": True}])
    return beamline.queue_model.get_sample_by_loc_str(SAMPLE)


def _run_queue(beamline, timeout: float = 120.0) -> bool:
    import gevent

    from mxcubecore_interleave.testing import wait_until

    beamline.queue_manager.execute()
    gevent.sleep(0.05)
    return wait_until(lambda: not beamline.queue_manager.is_executing(), timeout=timeout)


# -- tests ------------------------------------------------------------------------------------------
def test_the_form_shows_the_sweeps_table(form):
    table = form.table("sweeps")
    assert table is not None and table.rows == []
    assert table.columns[:2] == ["id", "energy_keV"]
    assert "inverse_of" not in table.columns, "hidden by the task's ui_schema"
    header = [table.table.horizontalHeaderItem(i).text() for i in range(table.table.columnCount())]
    assert [h.replace("\n", " ") for h in header[:3]] == ["Sweep id", "Energy (keV)", "Wavelength (Å)"]


def test_the_sweeps_headers_fit_their_columns(form):
    """No title is cut: every column is at least as wide as its header needs."""
    view = form.table("sweeps").table.horizontalHeader()
    for i in range(view.count() - 1):  # the last column stretches to the table's edge
        needed = view.sectionSizeFromContents(i).width()
        assert view.sectionSize(i) >= needed, (view.model().headerData(i, Qt.Orientation.Horizontal), needed)


def test_only_the_fields_that_matter_are_shown(form, qtbot):
    """Only the task's own fields are shown, with or without sweep rows: the standard fields the
    task ignores (or reads only for a sweep-less task sent by a script) are hidden, as in the web
    form (interleave/form_schema.py), and keep their values."""
    task_level = ["sweeps", "wedge_size", "wedge_unit", "strategy", "orientation_change", "images_per_file",
                  "write_masters_before", "prefix", "subdir"]
    fallback = ["exp_time", "num_images", "osc_start", "osc_range", "energy", "transmission",
                "resolution", "kappa", "kappa_phi", "inverse_beam"]
    never = ["skip_existing_images", "take_snapshots", "label", "first_image", "beam_size",
             "shutterless", "take_dark_current", "num_passes", "offset"]
    assert set(form.shown_fields()) == set(task_level)
    table = form.table("sweeps")
    click(qtbot, table.add_button)
    assert set(form.shown_fields()) == set(task_level)
    labels = [w.text() for w in form.findChildren(QLabel) if w.isVisible()]
    assert not any(text.startswith(("Num Images", "Osc Range", "Kappa", "Inverse Beam")) for text in labels)
    click(qtbot, table.remove_button)
    assert set(form.shown_fields()) == set(task_level)
    values = form.values()  # what is not shown keeps its value: the model needs mxcubecore's groups
    assert all(name in values for name in never)
    for name in [*never, *fallback]:
        assert form.field(name) is None


def test_interleaved_task_from_the_form_runs_from_the_qt_queue(beamline, tree, form, qtbot):
    add_two_sweeps(qtbot, form)
    params = form.parameters()
    assert params is not None, form.errors()
    assert error_label(form).isHidden()
    assert [(s["id"], s["energy_keV"], s["num_images"]) for s in params["sweeps"]] == [
        ("peak", 12.66, 4), ("remote", 13.0, 4)]
    assert params["sweeps"][1]["osc_range"] == pytest.approx(0.5), "the new row copied the first"
    assert params["wedge_size"] == 2

    sample = _add_sample(beamline)
    node_id = add_task(sample._node_id, TASK, params)
    model, entry = beamline.queue_manager.get_entry(node_id)
    assert type(entry).__name__ == "InterleavedCollectionQueueEntry"
    item = tree.item_for(model)
    assert entry.get_view() is item, "the entry was made by view_created with the Qt tree item"
    group_item = tree.item_for(model.get_parent())
    assert item.parent() is group_item
    assert entry in group_item.get_queue_entry()._queue_entry_list
    assert tree.item_for(sample).get_queue_entry() in beamline.queue_manager._queue_entry_list
    assert item.text(0) == "Interleaved collection"

    assert _run_queue(beamline)
    assert model.is_executed()
    # what the entry wrote on its Qt view while running: the last wedge's progress
    assert item.text(1) == "wedge 4 of 4, image 8 of 8"
    assert tree.item_for(sample).background_index == 1, "the sample's SUCCESS colour"

    # on disk: every frame once, the record lists all wedges, one master per sweep
    record_path = Path(model.record_path)
    rec, frames = check_files_match_record(record_path)
    assert rec.status == "completed" and frames == 8
    assert [(w.sweep, w.n_collected, w.status) for w in rec.wedges] == [
        ("peak", 2, "complete"), ("remote", 2, "complete"),
        ("remote", 2, "complete"), ("peak", 2, "complete")]  # min_motion: one energy change a round
    masters = sorted(p.name for p in record_path.parent.glob("lyso_1_*_master.h5"))
    assert masters == ["lyso_1_peak_master.h5", "lyso_1_remote_master.h5"]
    assert sorted(s.master for s in rec.sweeps) == masters
    assert record_path.parent.name == "qt"

    # LIMS: one group, one collection per sweep, updated with the frames collected
    lims = beamline.lims
    (group,) = lims.recorded["groups"]
    assert group["dataCollectionGroupId"] == rec.lims_group_id
    assert group["experimentType"] == "Collect - Multiwedge"
    dcs = lims.collections_in_group(rec.lims_group_id)
    assert sorted(d["dataCollectionId"] for d in dcs) == sorted(s.lims_collection_id for s in rec.sweeps)
    assert [d["parameters"]["oscillation_sequence"][0]["number_of_images"] for d in dcs] == [4, 4]
    assert all(d["parameters"]["status"] == "Data collection successful" for d in dcs)


def test_duplicate_sweep_ids_are_refused_with_the_models_message(beamline, tree, form, qtbot):
    table = form.table("sweeps")
    click(qtbot, table.add_button)
    fill_sweep(qtbot, form, 0, id="peak", energy_keV="12.66", num_images="4", osc_range="0.5")
    click(qtbot, table.add_button)  # the copy keeps the id: the user forgot to rename it
    type_into(qtbot, form.field("wedge_size"), "2")

    assert form.parameters() is None
    message = "the sweep id 'peak' is used twice; every sweep needs its own id"
    assert form.errors() == [f"invalid interleaved task: {message}"]
    label = error_label(form)
    assert not label.isHidden() and message in label.text()
    for row in (0, 1):  # both rows that carry the id are outlined, with the message as tooltip
        cell = form.field("sweeps", row, "id")
        assert RED in cell.styleSheet() and message in cell.toolTip()

    sample = _add_sample(beamline)
    before = len(sample.get_children())
    with pytest.raises(Exception, match="is used twice"):
        add_task(sample._node_id, TASK, form.values())
    assert len(sample.get_children()) == before, "nothing was added to the queue"

    type_into(qtbot, form.field("sweeps", 1, "id"), "remote")
    # renamed, the copy still collects the same data as 'peak' (same energy and omega): refused
    assert form.parameters() is None
    assert "sweeps 'peak' and 'remote' have the same energy" in form.errors()[0]
    type_into(qtbot, form.field("sweeps", 1, "energy_keV"), "13.0")
    assert form.parameters() is not None, form.errors()
    assert label.isHidden() and RED not in form.field("sweeps", 0, "id").styleSheet()


def test_a_wedge_larger_than_a_sweep_is_refused(form, qtbot):
    add_two_sweeps(qtbot, form)
    fill_sweep(qtbot, form, 1, num_images="3")
    type_into(qtbot, form.field("wedge_size"), "4")
    assert form.parameters() is None
    (error,) = form.errors()
    assert error == ("invalid interleaved task: the wedge (4 images) is larger than sweep 'remote' "
                     "(3 images); make the wedge smaller or the sweep longer")
    assert "larger than sweep 'remote'" in error_label(form).text()
    assert RED in form.field("sweeps", 1, "id").styleSheet()
    assert RED not in form.field("sweeps", 0, "id").styleSheet()


def test_a_bad_cell_is_outlined_with_its_message(form, qtbot):
    table = form.table("sweeps")
    click(qtbot, table.add_button)  # a new row has no id and no energy yet
    fill_sweep(qtbot, form, 0, num_images="4")
    assert form.parameters() is None
    errors = form.errors()
    assert errors == ["sweeps.0.id: the sweep id is empty"], "flat location, the model's words"
    cell = form.field("sweeps", 0, "id")
    assert RED in cell.styleSheet() and cell.toolTip() == "the sweep id is empty"
    label = error_label(form)
    assert not label.isHidden() and label.text() == "sweeps.0.id: the sweep id is empty"


def test_energy_outside_the_beamline_limits_is_refused(beamline, form, qtbot):
    add_two_sweeps(qtbot, form)
    fill_sweep(qtbot, form, 1, energy_keV="40")
    assert form.parameters() is None
    (error,) = form.errors()
    assert error.startswith("the task is outside the beamline's limits: sweep 'remote': energy 40.0000 keV")
    energy = form.field("sweeps", 1, "energy_keV")
    assert RED in energy.styleSheet(), "the cell the message is about"
    assert energy.toolTip().startswith("sweep 'remote': energy 40.0000 keV is outside")
    for row, name in ((1, "id"), (0, "energy_keV"), (0, "id")):
        assert RED not in form.field("sweeps", row, name).styleSheet(), (row, name)


def test_each_limit_outlines_its_own_cell(beamline, form, qtbot):
    """Two problems in two sweeps: each sweep's own cell, each with its own part of the message."""
    add_two_sweeps(qtbot, form)
    fill_sweep(qtbot, form, 0, energy_keV="3")
    fill_sweep(qtbot, form, 1, energy_keV="40")
    assert form.parameters() is None
    low, high = form.field("sweeps", 0, "energy_keV"), form.field("sweeps", 1, "energy_keV")
    assert RED in low.styleSheet() and low.toolTip().startswith("sweep 'peak': energy 3.0000 keV")
    assert RED in high.styleSheet() and high.toolTip().startswith("sweep 'remote': energy 40.0000 keV")
    assert "remote" not in low.toolTip() and "peak" not in high.toolTip()
    assert RED not in form.field("sweeps", 0, "id").styleSheet()


def test_the_docs_sweeps_table_snippet(beamline, form):
    """docs/enable-mxcubeqt.md's script for the sweeps table gives what it says."""
    import re

    doc = (Path(__file__).resolve().parents[1] / "docs" / "enable-mxcubeqt.md").read_text()
    section = doc.split("### The sweeps table", 1)[1]
    (code,) = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.S)
    exec(code, {"form": form})
    params = form.parameters()
    assert params is not None, form.errors()
    assert [(s["id"], s["energy_keV"], s["num_images"]) for s in params["sweeps"]] == [
        ("peak", 12.66, 4), ("remote", 13.0, 4)]
    assert params["wedge_size"] == 2


@pytest.mark.parametrize("row", ["a new row without an id", "two rows with the same id",
                                 "a wedge larger than a sweep", "an energy the beamline cannot reach"])
def test_the_docs_error_table_shows_what_the_form_shows(beamline, form, qtbot, row):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "enable-mxcubeqt.md").read_text()
    line = next(x for x in doc.splitlines() if x.startswith(f"| {row} |"))
    shown = line.split("|")[2].strip().split("`")[1]
    table = form.table("sweeps")
    if row == "a new row without an id":
        click(qtbot, table.add_button)
        fill_sweep(qtbot, form, 0, num_images="4")
    else:
        add_two_sweeps(qtbot, form)
        if row == "two rows with the same id":
            fill_sweep(qtbot, form, 1, id="peak")
        elif row == "a wedge larger than a sweep":
            fill_sweep(qtbot, form, 1, num_images="3")
            type_into(qtbot, form.field("wedge_size"), "4")
        else:
            fill_sweep(qtbot, form, 1, energy_keV="40")
    assert form.parameters() is None
    assert form.errors() == [shown]
