"""The editors of :class:`~mxcubecore_interleave.qt.schema_form.SchemaForm`: one per schema node.

Kept apart from the form so that each stays readable: this module turns one JSON-schema node
(after ``$ref``/``allOf``/optional resolution) into a Qt editor whose ``value()`` is JSON data,
and knows how to outline itself when the validator names it.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStyle,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from mxcubecore_interleave.qt.schema_form import SchemaForm

JsonSchema = dict[str, Any]

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_ERROR_STYLE = "border: 2px solid #c0392b;"
_MIN_CELL = 80  # px: a table cell shows "12.6600" whatever its title


class FormInputError(ValueError):
    """Text typed in a field cannot be read as the type the schema asks for."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def _as_dict(ui_schema: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """mxcubeweb entries return their ui_schema as a JSON string; accept both forms."""
    if ui_schema is None or ui_schema == "":
        return {}
    if isinstance(ui_schema, str):
        loaded = json.loads(ui_schema)
        return loaded if isinstance(loaded, dict) else {}
    return dict(ui_schema)


class _Resolver:
    """Resolves local ``$ref`` and flattens ``allOf`` so each field sees one plain schema."""

    def __init__(self, root: JsonSchema) -> None:
        self._defs: dict[str, Any] = {**root.get("definitions", {}), **root.get("$defs", {})}

    def resolve(self, schema: JsonSchema) -> JsonSchema:
        schema = dict(schema)
        seen = 0
        while "$ref" in schema and seen < 32:  # guard against reference cycles
            ref = schema.pop("$ref")
            target = self._defs.get(ref.rsplit("/", 1)[-1])
            if target is None:
                raise ValueError(f"Schema reference {ref!r} not found in $defs")
            schema = {**target, **schema}
            seen += 1
        if "allOf" in schema:
            merged: JsonSchema = {}
            for part in schema.pop("allOf"):
                merged.update(self.resolve(part))
            merged.update(schema)
            schema = merged
        return schema

    def split_optional(self, schema: JsonSchema) -> tuple[JsonSchema, bool]:
        """``anyOf: [X, {type: null}]`` (pydantic's ``X | None``) -> (X, optional=True)."""
        schema = self.resolve(schema)
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if not options:
                continue
            non_null = [o for o in options if self.resolve(o).get("type") != "null"]
            optional = len(non_null) < len(options)
            if len(non_null) == 1:
                inner = {k: v for k, v in schema.items() if k != key}
                return {**self.resolve(non_null[0]), **inner}, optional
        if schema.get("type") == "null":
            return schema, True
        if isinstance(schema.get("type"), list):
            types = [t for t in schema["type"] if t != "null"]
            optional = len(types) < len(schema["type"])
            if len(types) == 1:
                return {**schema, "type": types[0]}, optional
        return schema, False


# ----------------------------------------------------------------------------------------------
# fields: one editor per schema node; value() returns JSON-compatible data
# ----------------------------------------------------------------------------------------------
class _Field:
    widget: QWidget

    def __init__(self, path: tuple[str | int, ...]) -> None:
        self.path = path

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def set_error(self, message: str | None) -> None:
        self.widget.setStyleSheet(_ERROR_STYLE if message else "")
        self.widget.setToolTip(message or getattr(self, "help", ""))

    def child(self, key: str | int) -> _Field | None:
        return None


class _IntField(_Field):
    def __init__(self, path, schema: JsonSchema) -> None:
        super().__init__(path)
        box = QSpinBox()
        low, high = _bounds(schema, integer=True)
        box.setRange(int(max(low, _INT_MIN)), int(min(high, _INT_MAX)))
        box.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        self.widget = box

    def value(self) -> int:
        return int(self.widget.value())

    def set_value(self, value: Any) -> None:
        if value is not None:
            self.widget.setValue(int(value))


class _FloatField(_Field):
    def __init__(self, path, schema: JsonSchema, decimals: int) -> None:
        super().__init__(path)
        box = QDoubleSpinBox()
        box.setDecimals(decimals)
        low, high = _bounds(schema, integer=False, decimals=decimals)
        box.setRange(max(low, -1e12), min(high, 1e12))
        box.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        self.widget = box

    def value(self) -> float:
        return float(self.widget.value())

    def set_value(self, value: Any) -> None:
        if value is not None:
            self.widget.setValue(float(value))


class _BoolField(_Field):
    def __init__(self, path) -> None:
        super().__init__(path)
        self.widget = QCheckBox()

    def value(self) -> bool:
        return bool(self.widget.isChecked())

    def set_value(self, value: Any) -> None:
        self.widget.setChecked(bool(value))


class _EnumField(_Field):
    def __init__(self, path, choices: list[Any], optional: bool) -> None:
        super().__init__(path)
        self.choices = ([None] if optional else []) + list(choices)
        box = QComboBox()
        for choice in self.choices:
            box.addItem("" if choice is None else str(choice))
        self.widget = box

    def value(self) -> Any:
        return self.choices[self.widget.currentIndex()]

    def set_value(self, value: Any) -> None:
        if value in self.choices:
            self.widget.setCurrentIndex(self.choices.index(value))


class _ConstField(_Field):
    def __init__(self, path, const: Any) -> None:
        super().__init__(path)
        self.const = const
        self.widget = QLabel(str(const))

    def value(self) -> Any:
        return self.const

    def set_value(self, value: Any) -> None:  # a constant does not change
        pass


class _TextField(_Field):
    """Free text; also optional numbers (empty means ``None``) and arrays of scalars."""

    def __init__(self, path, kind: str, optional: bool, item_kind: str | None = None) -> None:
        super().__init__(path)
        self.kind = kind
        self.optional = optional
        self.item_kind = item_kind
        edit = QLineEdit()
        if optional:
            edit.setPlaceholderText("(not set)")
        elif kind == "array":
            edit.setPlaceholderText("comma separated")
        self.widget = edit

    def value(self) -> Any:
        text = self.widget.text().strip()
        if self.kind == "string":
            return None if (self.optional and text == "") else self.widget.text()
        if text == "":
            if self.optional:
                return None
            if self.kind == "array":
                return []
            raise FormInputError(self.path, "a value is required")
        if self.kind == "array":
            return [_parse_scalar(part.strip(), self.item_kind or "string", self.path)
                    for part in text.split(",") if part.strip() != ""]
        return _parse_scalar(text, self.kind, self.path)

    def set_value(self, value: Any) -> None:
        if value is None:
            self.widget.setText("")
        elif self.kind == "array":
            self.widget.setText(", ".join(str(v) for v in value))
        else:
            self.widget.setText(str(value))


class _ObjectField(_Field):
    """A group of fields; the root form is one, nested models are group boxes."""

    def __init__(self, path, schema: JsonSchema, ui: Mapping[str, Any], form: SchemaForm,
                 title: str | None) -> None:
        super().__init__(path)
        self.fields: dict[str, _Field] = {}
        self.hidden: dict[str, Any] = {}
        self.labels: dict[str, QLabel] = {}
        box: QWidget = QGroupBox(title) if title else QWidget()
        layout = QFormLayout(box)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        for name in _ordered(list(properties), ui.get("ui:order")):
            sub_ui = ui.get(name, {}) if isinstance(ui.get(name), Mapping) else {}
            prop = properties[name]
            if sub_ui.get("ui:widget") == "hidden":
                self.hidden[name] = form._initial(prop)
                continue
            field = form._make_field(path + (name,), prop, sub_ui)
            label_text = sub_ui.get("ui:title") or form._resolver.resolve(prop).get("title") or name
            help_text = (sub_ui.get("ui:help") or sub_ui.get("ui:description")
                         or form._resolver.resolve(prop).get("description") or "")
            field.help = help_text
            field.widget.setToolTip(help_text)
            field.widget.setObjectName(".".join(str(p) for p in path + (name,)))
            if sub_ui.get("ui:readonly") or sub_ui.get("ui:disabled"):
                field.widget.setEnabled(False)
            if isinstance(field, _ObjectField | _TableField):
                layout.addRow(field.widget)
            else:
                label = QLabel(label_text + (" *" if name in required else ""))
                label.setToolTip(help_text)
                self.labels[name] = label
                layout.addRow(label, field.widget)
            self.fields[name] = field
        self.widget = box

    def value(self) -> dict[str, Any]:
        out = dict(self.hidden)
        for name, field in self.fields.items():
            out[name] = field.value()
        return out

    def set_value(self, value: Any) -> None:
        if not isinstance(value, Mapping):
            return
        for name, item in value.items():
            if name in self.fields:
                self.fields[name].set_value(item)
            elif name in self.hidden:
                self.hidden[name] = copy.deepcopy(item)

    def child(self, key: str | int) -> _Field | None:
        return self.fields.get(key) if isinstance(key, str) else None

    def set_error(self, message: str | None) -> None:
        if isinstance(self.widget, QGroupBox):
            super().set_error(message)


class _TableField(_Field):
    """An array of objects (e.g. the sweeps of a task): one row per item, one column per key."""

    def __init__(self, path, schema: JsonSchema, ui: Mapping[str, Any], form: SchemaForm,
                 title: str) -> None:
        super().__init__(path)
        self._form = form
        self._item_schema = form._resolver.resolve(schema.get("items", {}))
        self._item_ui = ui.get("items", {}) if isinstance(ui.get("items"), Mapping) else {}
        props = self._item_schema.get("properties", {})
        self.columns = [c for c in _ordered(list(props), self._item_ui.get("ui:order"))
                        if not (isinstance(self._item_ui.get(c), Mapping)
                                and self._item_ui[c].get("ui:widget") == "hidden")]
        self.hidden_columns = {c: form._initial(props[c]) for c in props if c not in self.columns}
        self.min_items = int(schema.get("minItems", 0))
        self.max_items = schema.get("maxItems")
        self.rows: list[dict[str, _Field]] = []
        self.rows_changed: list[Callable[[int], None]] = []  # called with the new row count
        self.titles = {c: (props[c].get("title", c) if isinstance(props[c], dict) else c)
                       for c in self.columns}

        box = QGroupBox(title)
        layout = QVBoxLayout(box)
        self.table = QTableWidget(0, len(self.columns))
        # the unit on a second line: "Energy\n(keV)" fits a narrow column without cutting a word
        self.table.setHorizontalHeaderLabels([_two_line(self.titles[c]) for c in self.columns])
        for i, col in enumerate(self.columns):
            tip = form._resolver.resolve(props[col]).get("description", "")
            self.table.horizontalHeaderItem(i).setToolTip(tip or self.titles[col])
        # each column at least as wide as its title (a scroll bar rather than a cut title); the
        # user may widen it
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        metrics = header.fontMetrics()
        margin = header.style().pixelMetric(QStyle.PixelMetric.PM_HeaderMargin, None, header)
        for i, col in enumerate(self.columns):  # (sectionSizeFromContents is protected in PyQt5)
            text = max(metrics.horizontalAdvance(line) for line in _two_line(self.titles[col]).split("\n"))
            header.resizeSection(i, max(text + 4 * margin + 24, _MIN_CELL))  # + frame, sort arrow
        header.setStretchLastSection(True)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.table.verticalHeader().setDefaultSectionSize(30)
        self.table.setObjectName(".".join(str(p) for p in path))
        layout.addWidget(self.table)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add")
        self.remove_button = QPushButton("Remove last")
        self.add_button.setObjectName(self.table.objectName() + ".add")
        self.remove_button.setObjectName(self.table.objectName() + ".remove")
        self.add_button.clicked.connect(lambda: self.add_row())
        self.remove_button.clicked.connect(self.remove_row)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.widget = box
        self.add_button.setToolTip(schema.get("description", ""))

    def add_row(self, item: Mapping[str, Any] | None = None) -> None:
        if self.max_items is not None and len(self.rows) >= int(self.max_items):
            return
        if item is None:  # a new row starts as a copy of the last one: sweeps are alike
            item = self._row_value(self.rows[-1]) if self.rows else self._form._initial(self._item_schema)
        row = len(self.rows)
        self.table.insertRow(row)
        props = self._item_schema.get("properties", {})
        fields: dict[str, _Field] = {}
        for col, name in enumerate(self.columns):
            sub_ui = self._item_ui.get(name, {}) if isinstance(self._item_ui.get(name), Mapping) else {}
            field = self._form._make_field(self.path + (row, name), props[name], sub_ui)
            field.set_value((item or {}).get(name))
            self.table.setCellWidget(row, col, field.widget)
            fields[name] = field
        self.rows.append(fields)
        self._sync_height()

    def remove_row(self) -> None:
        if len(self.rows) > self.min_items and self.rows:
            self.rows.pop()
            self.table.removeRow(self.table.rowCount() - 1)
            self._sync_height()

    def _sync_height(self) -> None:
        header = max(self.table.horizontalHeader().sizeHint().height(), 25)
        scroll = self.table.horizontalScrollBar().sizeHint().height()
        self.table.setFixedHeight(header + scroll + 6 + 30 * max(1, min(len(self.rows), 8)))
        for callback in list(self.rows_changed):
            callback(len(self.rows))

    def _row_value(self, fields: dict[str, _Field]) -> dict[str, Any]:
        return {**self.hidden_columns, **{name: f.value() for name, f in fields.items()}}

    def value(self) -> list[dict[str, Any]]:
        return [self._row_value(fields) for fields in self.rows]

    def set_value(self, value: Any) -> None:
        while self.rows:
            self.rows.pop()
            self.table.removeRow(self.table.rowCount() - 1)
        for item in value or []:
            self.add_row(item if isinstance(item, Mapping) else {})
        while len(self.rows) < self.min_items:  # e.g. a task needs at least one sweep
            self.add_row()
        self._sync_height()

    def child(self, key: str | int) -> _Field | None:
        return _RowField(self.path + (key,), self.rows[key]) if (
            isinstance(key, int) and 0 <= key < len(self.rows)) else None


class _RowField(_Field):
    """A view of one table row, so that error locations like ``sweeps.1.num_images`` resolve."""

    def __init__(self, path, fields: dict[str, _Field]) -> None:
        super().__init__(path)
        self.fields = fields

    def child(self, key: str | int) -> _Field | None:
        return self.fields.get(key) if isinstance(key, str) else None

    def set_error(self, message: str | None) -> None:
        for field in self.fields.values():
            field.set_error(message)


def _bounds(schema: JsonSchema, integer: bool, decimals: int = 0) -> tuple[float, float]:
    step = 1 if integer else 10.0 ** -decimals
    low = schema.get("minimum", -math.inf)
    high = schema.get("maximum", math.inf)
    if "exclusiveMinimum" in schema:
        low = max(low, schema["exclusiveMinimum"] + step)
    if "exclusiveMaximum" in schema:
        high = min(high, schema["exclusiveMaximum"] - step)
    return low, high


def _two_line(title: str) -> str:
    """``"Exposure time (s)"`` -> ``"Exposure time\n(s)"``: the unit under the name."""
    name, sep, unit = title.partition(" (")
    return f"{name}\n({unit}" if sep else title


def _parse_scalar(text: str, kind: str, path: tuple[str | int, ...]) -> Any:
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
        if kind == "boolean":
            if text.lower() in ("true", "yes", "1"):
                return True
            if text.lower() in ("false", "no", "0"):
                return False
            raise ValueError(text)
    except ValueError:
        raise FormInputError(path, f"{text!r} is not a valid {kind}") from None
    return text


def _ordered(names: list[str], order: list[str] | None) -> list[str]:
    """rjsf's ``ui:order``: listed names first, ``"*"`` stands for all others in schema order."""
    if not order:
        return names
    listed = [n for n in order if n != "*" and n in names]
    rest = [n for n in names if n not in listed]
    if "*" not in order:
        return listed + rest
    star = order.index("*")
    before = [n for n in order[:star] if n in listed]
    after = [n for n in order[star + 1:] if n in listed]
    return before + rest + after
