"""The JSON-schema form widget (headless, QT_QPA_PLATFORM=offscreen) against a small pydantic model.

The model is shaped like a task with sweeps so that the widget's generic machinery (nested
objects, arrays of objects, optional values, enums, the model's own cross-field checks) is
exercised. The real tasks' forms are tested in test_qt_task_form.py (Murko centring) and
test_qt_interleaved.py (the interleaved task, its sweeps table, run from a Qt-built queue).
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Optional

import pytest
from pydantic import BaseModel, Field, field_validator, model_validator

pytest.importorskip("pytestqt")
qtpy = pytest.importorskip("qtpy")

from qtpy.QtWidgets import (  # noqa: E402
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QDoubleSpinBox,
    QGroupBox,
    QLineEdit,
    QSpinBox,
)

from mxcubecore_interleave.qt.schema_form import (  # noqa: E402
    FormInputError,
    SchemaForm,
    SchemaFormDialog,
)

pytestmark = pytest.mark.qt


class Order(str, Enum):
    WEDGE_MAJOR = "wedge_major"
    SWEEP_MAJOR = "sweep_major"


class Sweep(BaseModel):
    osc_start: float = Field(0.0, title="Start angle", description="omega at the first image (deg)")
    num_images: int = Field(10, gt=0, title="Images")
    energy: Optional[float] = Field(None, gt=0, description="keV; empty keeps the current energy")


class Detector(BaseModel):
    exp_time: float = Field(0.01, gt=0, le=10)
    shutterless: bool = True


class Task(BaseModel):
    prefix: str = Field("xtal", title="Prefix")
    wedge_size: int = Field(5, ge=1, le=1000, title="Wedge size (images)")
    order: Order = Order.WEDGE_MAJOR
    comment: Optional[str] = None
    detector: Detector = Detector()
    sweeps: list[Sweep] = Field(default_factory=lambda: [Sweep()], min_length=1)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if "/" in value:
            raise ValueError("prefix must not contain '/'; use the sub-directory field instead")
        return value

    @model_validator(mode="after")
    def _wedges_fit(self) -> "Task":
        smallest = min(s.num_images for s in self.sweeps)
        if self.wedge_size > smallest:
            raise ValueError(f"wedge size {self.wedge_size} is larger than the smallest sweep "
                             f"({smallest} images)")
        return self


UI = {"ui:order": ["prefix", "sweeps", "*"], "comment": {"ui:widget": "hidden"},
      "wedge_size": {"ui:help": "images per wedge before switching sweep"}}


@pytest.fixture
def form(qtbot):
    widget = SchemaForm(Task.model_json_schema(), json.dumps(UI), Task.model_validate)
    qtbot.addWidget(widget)
    return widget


def test_editors_follow_the_schema(form):
    assert isinstance(form.field("prefix"), QLineEdit)
    assert isinstance(form.field("wedge_size"), QSpinBox)
    assert isinstance(form.field("order"), QComboBox)
    assert isinstance(form.field("detector"), QGroupBox)
    assert isinstance(form.field("detector", "exp_time"), QDoubleSpinBox)
    assert isinstance(form.field("detector", "shutterless"), QCheckBox)
    # optional float: a text field where empty means None
    assert isinstance(form.field("sweeps", 0, "energy"), QLineEdit)
    # hidden fields have no editor but keep their value
    assert form.field("comment") is None
    assert "comment" in form.values()
    # bounds of the schema become bounds of the editors
    spin = form.field("wedge_size")
    assert (spin.minimum(), spin.maximum()) == (1, 1000)
    exp = form.field("detector", "exp_time")
    assert exp.minimum() > 0 and exp.maximum() == pytest.approx(10)
    assert form.field("wedge_size").toolTip() == "images per wedge before switching sweep"


def test_ui_order_puts_listed_fields_first(form):
    layout = form._root.widget.layout()
    names = [layout.itemAt(i).widget().objectName() for i in range(layout.count())
             if layout.itemAt(i).widget() is not None and layout.itemAt(i).widget().objectName()]
    assert names[:2] == ["prefix", "sweeps"]


def test_defaults_validate_to_the_model(form):
    task = form.validate()
    assert isinstance(task, Task)
    assert task == Task()
    assert form.errors() == []


def test_sweep_table_add_edit_remove(form, qtbot):
    table = form.table("sweeps")
    assert len(table.rows) == 1
    qtbot.mouseClick(table.add_button, qtpy.QtCore.Qt.MouseButton.LeftButton)
    qtbot.mouseClick(table.add_button, qtpy.QtCore.Qt.MouseButton.LeftButton)
    assert len(table.rows) == 3
    form.field("sweeps", 1, "osc_start").setValue(90.0)
    form.field("sweeps", 2, "osc_start").setValue(180.0)
    form.field("sweeps", 2, "num_images").setValue(20)
    form.field("sweeps", 2, "energy").setText("12.4")
    task = form.validate()
    assert [s.osc_start for s in task.sweeps] == [0.0, 90.0, 180.0]
    assert [s.num_images for s in task.sweeps] == [10, 10, 20]
    assert task.sweeps[2].energy == pytest.approx(12.4) and task.sweeps[0].energy is None
    qtbot.mouseClick(table.remove_button, qtpy.QtCore.Qt.MouseButton.LeftButton)
    assert len(form.validate().sweeps) == 2
    # min_length=1 in the model -> minItems: the last sweep cannot be removed
    table.remove_row()
    table.remove_row()
    assert len(table.rows) == 1


def test_model_message_shown_for_cross_field_error(form):
    form.field("wedge_size").setValue(50)
    received = []
    form.validated.connect(received.append)
    assert form.validate() is None
    assert received == []
    assert len(form.errors()) == 1
    assert "wedge size 50 is larger than the smallest sweep (10 images)" in form.errors()[0]
    label = form.findChild(qtpy.QtWidgets.QLabel, "errors")
    assert "wedge size 50" in label.text() and not label.isHidden()
    form.field("wedge_size").setValue(10)
    assert isinstance(form.validate(), Task)
    assert received and isinstance(received[0], Task)
    assert label.isHidden()


def test_field_error_is_marked_on_the_field(form):
    form.field("prefix").setText("a/b")
    assert form.validate() is None
    assert form.errors()[0].startswith("prefix: ")
    assert "must not contain '/'" in form.errors()[0]
    assert "c0392b" in form.field("prefix").styleSheet()
    assert "must not contain '/'" in form.field("prefix").toolTip()


def test_nested_error_location_in_table(form):
    form.field("sweeps", 0, "energy").setText("-1")
    assert form.validate() is None
    assert form.errors()[0].startswith("sweeps.0.energy: ")
    assert "greater than 0" in form.errors()[0]
    assert "c0392b" in form.field("sweeps", 0, "energy").styleSheet()


def test_unreadable_text_is_refused_before_the_model(form):
    form.field("sweeps", 0, "energy").setText("twelve")
    with pytest.raises(FormInputError):
        form.values()
    assert form.validate() is None
    assert "'twelve' is not a valid number" in form.errors()[0]


def test_set_values_round_trip(qtbot):
    start = Task(prefix="lyso", wedge_size=2, order=Order.SWEEP_MAJOR,
                 sweeps=[Sweep(osc_start=0, num_images=4), Sweep(osc_start=45, num_images=6, energy=13.0)],
                 detector=Detector(exp_time=0.2, shutterless=False))
    widget = SchemaForm(Task.model_json_schema(), UI, Task.model_validate, start.model_dump(mode="json"))
    qtbot.addWidget(widget)
    assert widget.validate() == start
    assert widget.field("order").currentText() == "sweep_major"


def test_dialog_only_accepts_valid_parameters(qtbot):
    dialog = SchemaFormDialog(Task.model_json_schema(), UI, Task.model_validate, title="Interleaved")
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.form.field("wedge_size").setValue(99)
    ok.click()
    assert dialog.result() == 0 and dialog.result_value is None
    dialog.form.field("wedge_size").setValue(3)
    ok.click()
    assert dialog.result() == 1
    assert dialog.result_value.wedge_size == 3


def test_flat_mxcubeweb_style_schema_with_allof_and_refs(qtbot):
    schema = {
        "type": "object",
        "properties": {
            "exp_time": {"allOf": [{"type": "number", "minimum": 0.001}, {"type": "number"}]},
            "kind": {"$ref": "#/$defs/Kind"},
            "fixed": {"const": "interleaved"},
            "note": {"type": ["string", "null"], "default": None},
        },
        "required": ["exp_time", "kind"],
        "$defs": {"Kind": {"enum": ["a", "b"], "type": "string"}},
    }
    widget = SchemaForm(schema)
    qtbot.addWidget(widget)
    assert isinstance(widget.field("kind"), QComboBox)
    assert widget.field("exp_time").minimum() == pytest.approx(0.001)
    assert widget.values() == {"exp_time": pytest.approx(0.001), "kind": "a", "fixed": "interleaved",
                               "note": None}


def test_non_object_schema_is_refused(qtbot):
    with pytest.raises(ValueError, match="object schema"):
        SchemaForm({"type": "integer"})
