"""A Qt form built from a JSON schema, returning parameters checked by the task's own model.

mxcubeweb renders pydantic (``DATA_MODEL``) queue entries with a JSON-schema form; mxcubeqt has
no such form. This widget is the Qt counterpart: give it the JSON schema (``model_json_schema()``
or mxcubeweb's flattened task schema), optionally the ``ui_schema`` the entry already provides
for mxcubeweb, and a validator callable (typically ``Model.model_validate``). It shows one editor
per property, and :meth:`SchemaForm.validate` returns what the validator returns, or shows the
validator's messages next to the fields and returns ``None``. Validation stays in the model: the
form never decides on its own what is valid beyond the bounds the schema states.

Supported schema constructs: ``$ref``/``$defs``, ``allOf``, ``anyOf``/``oneOf`` with ``null``
(optional values), ``enum``, ``const``, ``integer``/``number`` with minimum/maximum (exclusive
too), ``boolean``, ``string``, nested ``object`` (a group box) and ``array`` (a table for arrays
of objects, comma separated text for arrays of scalars). ``ui_schema`` keys understood, at any
nesting level as in rjsf: ``ui:order`` (with ``"*"``), ``ui:widget: "hidden"``, ``ui:title``,
``ui:help``/``ui:description``, ``ui:readonly``/``ui:disabled``, ``ui:options: {decimals: n}``.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

__all__ = ["SchemaForm", "SchemaFormDialog", "ask_parameters", "FormInputError"]

JsonSchema = dict[str, Any]
Validator = Callable[[dict[str, Any]], Any]

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_ERROR_STYLE = "border: 2px solid #c0392b;"


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

        box = QGroupBox(title)
        layout = QVBoxLayout(box)
        self.table = QTableWidget(0, len(self.columns))
        self.table.setHorizontalHeaderLabels(
            [props[c].get("title", c) if isinstance(props[c], dict) else c for c in self.columns])
        for i, col in enumerate(self.columns):
            tip = form._resolver.resolve(props[col]).get("description", "")
            self.table.horizontalHeaderItem(i).setToolTip(tip)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
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
        header = self.table.horizontalHeader().height() or 25
        self.table.setFixedHeight(header + 6 + 30 * max(1, min(len(self.rows), 8)))

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


# ----------------------------------------------------------------------------------------------
class SchemaForm(QWidget):
    """A form for one JSON schema. ``validated`` is emitted with the validator's result."""

    validated = Signal(object)

    def __init__(self, schema: JsonSchema, ui_schema: Mapping[str, Any] | str | None = None,
                 validator: Validator | None = None, values: Mapping[str, Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.schema = schema
        self.ui_schema = _as_dict(ui_schema)
        self.validator = validator
        self._resolver = _Resolver(schema)
        self._decimals = int(self.ui_schema.get("ui:options", {}).get("decimals", 4)) if isinstance(
            self.ui_schema.get("ui:options"), Mapping) else 4
        root = self._resolver.resolve(schema)
        if root.get("type", "object") != "object" or "properties" not in root:
            raise ValueError("SchemaForm needs an object schema with properties")
        self._root = _ObjectField((), root, self.ui_schema, self, None)
        self._error_label = QLabel()
        self._error_label.setObjectName("errors")
        self._error_label.setWordWrap(True)
        self._error_label.setStyleSheet("color: #c0392b;")
        self._error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._error_label.hide()
        self._errors: list[str] = []

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._root.widget)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        if root.get("title"):
            title = QLabel(f"<b>{root['title']}</b>")
            layout.addWidget(title)
        layout.addWidget(scroll, 1)
        layout.addWidget(self._error_label)
        if values:
            self.set_values(values)

    # -- building ------------------------------------------------------------------------------
    def _initial(self, schema: JsonSchema) -> Any:
        """The value a new field starts from: the schema default, else a neutral value."""
        raw = self._resolver.resolve(schema)
        if "default" in raw:
            return copy.deepcopy(raw["default"])
        inner, optional = self._resolver.split_optional(schema)
        if "default" in inner:
            return copy.deepcopy(inner["default"])
        if optional:
            return None
        if "const" in inner:
            return inner["const"]
        if "enum" in inner:
            return inner["enum"][0]
        kind = inner.get("type")
        if kind == "object":
            return {k: self._initial(v) for k, v in inner.get("properties", {}).items()}
        if kind == "array":
            return []
        if kind in ("integer", "number"):
            low, _ = _bounds(inner, integer=kind == "integer", decimals=self._decimals)
            start = low if math.isfinite(low) and low > 0 else 0
            return int(start) if kind == "integer" else float(start)
        if kind == "boolean":
            return False
        return ""

    def _make_field(self, path: tuple[str | int, ...], schema: JsonSchema,
                    ui: Mapping[str, Any]) -> _Field:
        inner, optional = self._resolver.split_optional(schema)
        title = ui.get("ui:title") or inner.get("title") or (str(path[-1]) if path else "")
        kind = inner.get("type")
        options = ui.get("ui:options", {}) if isinstance(ui.get("ui:options"), Mapping) else {}
        if "const" in inner:
            field: _Field = _ConstField(path, inner["const"])
        elif "enum" in inner:
            field = _EnumField(path, inner["enum"], optional)
        elif kind == "object" and "properties" in inner:
            field = _ObjectField(path, inner, ui, self, title)
        elif kind == "array" and self._resolver.resolve(inner.get("items", {})).get("type") == "object":
            field = _TableField(path, inner, ui, self, title)
        elif kind == "array":
            item_kind = self._resolver.resolve(inner.get("items", {})).get("type", "string")
            field = _TextField(path, "array", optional, item_kind)
        elif kind == "boolean" and not optional:
            field = _BoolField(path)
        elif kind == "integer" and not optional:
            field = _IntField(path, inner)
        elif kind == "number" and not optional:
            field = _FloatField(path, inner, int(options.get("decimals", self._decimals)))
        else:
            field = _TextField(path, kind if kind in ("integer", "number", "boolean") else "string",
                               optional)
        field.set_value(self._initial(schema))
        return field

    # -- values --------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """What the form holds, as JSON data (raises FormInputError for unreadable text)."""
        return self._root.value()

    def set_values(self, values: Mapping[str, Any]) -> None:
        self._root.set_value(values)

    def field(self, *path: str | int) -> QWidget | None:
        """The editor widget at ``path`` (e.g. ``field("sweeps", 0, "num_images")``)."""
        node = self._find(path)
        return node.widget if node is not None else None

    def table(self, *path: str) -> _TableField | None:
        node = self._find(path)
        return node if isinstance(node, _TableField) else None

    def _find(self, path: tuple[str | int, ...]) -> _Field | None:
        node: _Field | None = self._root
        for key in path:
            node = node.child(key) if node is not None else None
        return node

    # -- validation ----------------------------------------------------------------------------
    def errors(self) -> list[str]:
        """The messages shown after the last :meth:`validate` (empty when it passed)."""
        return list(self._errors)

    def clear_errors(self) -> None:
        self._errors = []
        self._error_label.hide()
        self._walk_clear(self._root)

    def _walk_clear(self, node: _Field) -> None:
        node.set_error(None)
        for child in getattr(node, "fields", {}).values():
            self._walk_clear(child)
        for row in getattr(node, "rows", []):
            for child in row.values():
                self._walk_clear(child)

    def validate(self) -> Any | None:
        """Run the validator on :meth:`values`; its result, or ``None`` with errors shown."""
        self.clear_errors()
        try:
            data = self.values()
        except FormInputError as exc:
            self._show_errors([(exc.path, str(exc))])
            return None
        if self.validator is None:
            self.validated.emit(data)
            return data
        try:
            result = self.validator(data)
        except Exception as exc:  # the model's own message is what the scientist must see
            self._show_errors(_error_items(exc))
            return None
        self.validated.emit(result)
        return result

    def _show_errors(self, items: list[tuple[tuple[str | int, ...], str]]) -> None:
        lines: list[str] = []
        for raw_loc, message in items:
            loc = self._error_location(tuple(raw_loc))
            where = ".".join(str(p) for p in loc)
            line = f"{where}: {message}" if where else message
            if line in lines:  # e.g. one field validated in several groups of a task
                continue
            lines.append(line)
            node = self._find_deepest(loc)
            if node is not None and node is not self._root:
                node.set_error(message)
            for extra in self._related_fields(loc, message):
                extra.set_error(message)
        self._errors = lines
        self._error_label.setText("\n".join(lines))
        self._error_label.show()

    def _error_location(self, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
        """Where the validator's error location is in this form (subclasses map their model's)."""
        return loc

    def _related_fields(self, loc: tuple[str | int, ...], message: str) -> list[_Field]:
        """Further fields to outline for an error (e.g. the rows a model-level message names)."""
        return []

    def _find_deepest(self, loc: tuple[str | int, ...]) -> _Field | None:
        node: _Field | None = self._root
        best = None
        for key in loc:
            node = node.child(key) if node is not None else None
            if node is None:
                break
            best = node
        return best


def _error_items(exc: Exception) -> list[tuple[tuple[str | int, ...], str]]:
    """pydantic's ``ValidationError.errors()`` if present, else the exception's text."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            # pydantic prefixes a validator's ValueError with "Value error, ": show the model's words
            items = [(tuple(e.get("loc", ())), str(e.get("msg", "")).removeprefix("Value error, "))
                     for e in errors()]
        except Exception:  # not pydantic's errors(): fall back to the message
            items = []
        if items:
            return items
    return [((), str(exc) or type(exc).__name__)]


class SchemaFormDialog(QDialog):
    """A modal dialog around :class:`SchemaForm`; OK only closes on valid parameters."""

    def __init__(self, schema: JsonSchema, ui_schema: Mapping[str, Any] | str | None = None,
                 validator: Validator | None = None, values: Mapping[str, Any] | None = None,
                 title: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title or schema.get("title", "Parameters"))
        self.form = SchemaForm(schema, ui_schema, validator, values, self)
        self.result_value: Any = None
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._try_accept)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons
        layout = QVBoxLayout(self)
        layout.addWidget(self.form, 1)
        layout.addWidget(buttons)

    def _try_accept(self) -> None:
        result = self.form.validate()
        if result is not None:
            self.result_value = result
            self.accept()


def ask_parameters(schema: JsonSchema, ui_schema: Mapping[str, Any] | str | None = None,
                   validator: Validator | None = None, values: Mapping[str, Any] | None = None,
                   title: str | None = None, parent: QWidget | None = None) -> Any | None:
    """Show a modal form; the validated parameters, or ``None`` if the user cancelled."""
    dialog = SchemaFormDialog(schema, ui_schema, validator, values, title, parent)
    if dialog.exec() == QDialog.DialogCode.Accepted:
        return dialog.result_value
    return None
