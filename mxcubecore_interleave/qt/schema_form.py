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
import math
from collections.abc import Callable, Mapping
from typing import Any

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QDialog, QDialogButtonBox, QLabel, QScrollArea, QVBoxLayout, QWidget

from mxcubecore_interleave.qt.schema_fields import (
    FormInputError,
    JsonSchema,
    _as_dict,
    _BoolField,
    _bounds,
    _ConstField,
    _EnumField,
    _Field,
    _FloatField,
    _IntField,
    _ObjectField,
    _Resolver,
    _TableField,
    _TextField,
)

__all__ = ["SchemaForm", "SchemaFormDialog", "ask_parameters", "FormInputError"]

Validator = Callable[[dict[str, Any]], Any]


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
        page = QWidget()  # the fields at the top, the spare height below them
        page_layout = QVBoxLayout(page)
        page_layout.setContentsMargins(0, 0, 0, 0)
        page_layout.addWidget(self._root.widget)
        page_layout.addStretch(1)
        scroll.setWidget(page)
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

    def show_error(self, message: str) -> None:
        """Show a message that is not about one field (e.g. the queue refused the task)."""
        self._show_errors([((), message)])

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
            for extra, part in self._related_fields(loc, message):
                extra.set_error(part)
        self._errors = lines
        self._error_label.setText("\n".join(lines))
        self._error_label.show()

    def _error_location(self, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
        """Where the validator's error location is in this form (subclasses map their model's)."""
        return loc

    def _related_fields(self, loc: tuple[str | int, ...],
                        message: str) -> list[tuple[_Field, str]]:
        """Further fields to outline for an error, each with its part of the message (e.g. the
        cells a model-level message names)."""
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
