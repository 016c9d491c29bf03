"""A Qt form for any pydantic (``DATA_MODEL``) queue entry, and adding the task to the queue.

The form shows what mxcubeweb 4.791 shows for such a task: one flat set of fields, the union of
the five parameter groups (path, common, collection, user, legacy) with the same merging rule
as mxcubeweb's ``Queue.get_task_schema``, the entry's ``ui_schema`` and the beamline's current
acquisition defaults. The validator builds the ``DATA_MODEL`` from the flat dict exactly as
mxcubecore's ``QueueBuilder`` does, so what the form accepts the queue accepts; and
:func:`add_task` hands the parameters to that same ``QueueBuilder.add_queue_entry`` (the queue
entry itself is then created by whoever listens to the queue model: mxcubeqt's tree,
:class:`~mxcubecore_interleave.qt.queue_tree.QueueTree`, or mxcubeweb).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from qtpy.QtWidgets import QWidget

from mxcubecore_interleave.qt.schema_form import SchemaForm

__all__ = [
    "GROUPS",
    "TaskForm",
    "add_task",
    "entry_class",
    "flat_task_schema",
    "task_defaults",
    "task_ui_schema",
    "task_validator",
]

GROUPS = ("path_parameters", "common_parameters", "collection_parameters",
          "user_collection_parameters", "legacy_parameters")
# bookkeeping fields the user does not edit in a Qt task tab
HIDDEN = ("type", "shape", "selection")


def entry_class(task_name: str) -> type:
    """The registered queue entry of ``task_name`` (``interleaved_collection`` -> class)."""
    import mxcubecore.queue_entry as qe

    entry = qe.get_queue_entry_from_task_name(task_name)
    if entry is None or not hasattr(entry, "DATA_MODEL"):
        raise LookupError(
            f"No queue entry with a DATA_MODEL is registered for task {task_name!r}: is the "
            "plugin's HardwareObject in beamline.yaml and did it load?")
    return entry


def flat_task_schema(data_model: type) -> dict[str, Any]:
    """One object schema with the properties of the five groups (mxcubeweb's rule)."""
    nested = data_model.model_json_schema()
    defs = nested.get("$defs", {})
    properties: dict[str, Any] = {}
    required: set[str] = set()
    used: set[str] = set()
    for group in GROUPS:
        sub = nested["properties"][group]
        ref = sub.get("$ref")
        if ref:
            key = ref.rsplit("/", 1)[-1]
            used.add(key)
            sub = defs[key]
        required.update(sub.get("required", []))
        for name, prop in sub.get("properties", {}).items():
            if name not in properties:
                properties[name] = prop
            elif properties[name] != prop:
                combined = properties[name].get("allOf", [properties[name]])
                if prop not in combined:
                    combined = [*combined, prop]
                properties[name] = {"allOf": combined}
    schema: dict[str, Any] = {"type": "object", "title": data_model.__name__,
                              "properties": properties, "required": sorted(required)}
    rest = {k: v for k, v in defs.items() if k not in used}
    if rest:
        schema["$defs"] = rest
    return schema


def task_ui_schema(data_model: type) -> dict[str, Any]:
    """The entry's own ``ui_schema()`` (a JSON string for mxcubeweb) plus hidden bookkeeping."""
    ui: dict[str, Any] = {}
    if hasattr(data_model, "ui_schema"):
        raw = data_model.ui_schema()
        ui = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
    for name in HIDDEN:
        entry = dict(ui.get(name, {}))
        entry["ui:widget"] = "hidden"
        ui[name] = entry
    return ui


def task_validator(data_model: type) -> Callable[[dict[str, Any]], Any]:
    """Flat dict -> ``DATA_MODEL``, each group validated from the whole dict as QueueBuilder does."""

    def validate(flat: dict[str, Any]) -> Any:
        return data_model(**{group: flat for group in GROUPS})

    return validate


def task_defaults(task_name: str, data_model: type, beamline: Any = None) -> dict[str, Any]:
    """Starting values: the beamline's acquisition defaults, then the schema's, then the name."""
    values: dict[str, Any] = {}
    if beamline is not None:
        values.update(beamline.get_default_acquisition_parameters(task_name).as_dict())
    for name, prop in flat_task_schema(data_model)["properties"].items():
        if "default" in prop:
            values[name] = prop["default"]
    values.update({"type": task_name, "shape": "-1", "selection": []})
    values.setdefault("label", getattr(entry_class_or_none(task_name), "NAME", task_name))
    values.setdefault("experiment_name", None)
    if isinstance(values.get("beam_size"), (int, float)):
        values["beam_size"] = str(values["beam_size"])  # pydantic v2 does not coerce to str
    return values


def entry_class_or_none(task_name: str) -> type | None:
    try:
        return entry_class(task_name)
    except LookupError:
        return None


class TaskForm(SchemaForm):
    """The form of one registered task; :meth:`validate` returns its ``DATA_MODEL`` instance."""

    def __init__(self, task_name: str, beamline: Any = None,
                 values: Mapping[str, Any] | None = None, parent: QWidget | None = None) -> None:
        entry = entry_class(task_name)
        data_model = entry.DATA_MODEL
        self.task_name = task_name
        self.entry_class = entry
        start = task_defaults(task_name, data_model, beamline)
        start.update(values or {})
        schema = flat_task_schema(data_model)
        schema["title"] = getattr(entry, "NAME", task_name)
        ui = task_ui_schema(data_model)
        for name in getattr(entry, "NEVER_READ_FIELDS", ()):  # kept at their values, not shown
            ui[name] = {**ui.get(name, {}), "ui:widget": "hidden"}
        super().__init__(schema, ui, task_validator(data_model), start, parent)
        # the standard fields a non-empty list (the sweeps) replaces: shown only without rows
        for list_name, names in getattr(entry, "FIELDS_REPLACED_BY", {}).items():
            table = self.table(list_name)
            if table is not None:
                table.rows_changed.append(lambda n, names=names: self._show_fields(names, n == 0))
                self._show_fields(names, not table.rows)

    def _show_fields(self, names: tuple[str, ...], shown: bool) -> None:
        for name in names:
            field, label = self._root.fields.get(name), self._root.labels.get(name)
            if field is not None:
                field.widget.setVisible(shown)
            if label is not None:
                label.setVisible(shown)

    def shown_fields(self) -> list[str]:
        """The top-level fields the user sees now (hidden or replaced ones left out)."""
        return [name for name, field in self._root.fields.items() if not field.widget.isHidden()]

    def parameters(self) -> dict[str, Any] | None:
        """The flat parameters to queue, or None (the model's errors are shown in the form)."""
        return self.values() if self.validate() is not None else None

    # -- errors: the model's locations are (group, field, ...); the form is flat ---------------
    def _error_location(self, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
        """``user_collection_parameters.sweeps.0.id`` -> ``sweeps.0.id`` (the field in this form)."""
        return loc[1:] if loc and loc[0] in GROUPS else loc

    def _related_fields(self, loc: tuple[str | int, ...], message: str) -> list[tuple[Any, str]]:
        """A task-level message naming sweeps: outline the cell each part is about.

        ``sweep 'remote': energy 40.0000 keV is outside ...`` outlines remote's energy cell (the
        column whose title, without its unit, starts the text after the sweep's name); a part
        naming a sweep but no column (``... larger than sweep 'remote' ...``) outlines its id.
        """
        table = self.table("sweeps")
        if loc or table is None:
            return []
        out: list[tuple[Any, str]] = []
        for part in re.split(r"; (?=sweep ')", message):  # "...: sweep 'a': ...; sweep 'b': ..."
            # quoted names ('peak'), not the apostrophe of "beamline's"
            named = set(re.findall(r"(?<!\w)'([^']*)'(?!\w)", part))
            column = _column_of(table.titles, part)
            if column:  # the cell's tooltip: its own problem, from "sweep '<id>': " on
                part = part[part.index("sweep '"):]
            for row in table.rows:
                if "id" not in row or row["id"].value() not in named:
                    continue
                cell = row.get(column) if column else None
                if cell is None or _is_empty(cell):
                    cell = row["id"]
                out.append((cell, part))
        return out


def _column_of(titles: Mapping[str, str], part: str) -> str | None:
    """Which column ``sweep 'x': <words> ...`` is about: ``energy 40 keV`` -> ``energy_keV``."""
    match = re.search(r"sweep '[^']*': (.*)", part)
    if not match:
        return None
    text = match.group(1).lower()
    words = {col: re.sub(r"\s*\(.*?\)", "", title).strip().lower() for col, title in titles.items()}
    for col, word in sorted(words.items(), key=lambda kv: -len(kv[1])):
        if word and re.match(rf"{re.escape(word)}\b", text):
            return col
    count = re.match(r"[\d.]+ (\w+)", text)  # "3 images is more than ...": the "... images" column
    if count:
        return next((col for col, word in words.items() if word.endswith(count.group(1))), None)
    return None


def _is_empty(field: Any) -> bool:
    try:
        return field.value() in (None, "")
    except Exception:  # unreadable text: that cell is the one to look at
        return False


def add_task(sample_node_id: int, task_name: str, parameters: Mapping[str, Any]) -> int:
    """Queue the task under a sample with mxcubecore's QueueBuilder; returns the task's node id.

    The queue entry is created by the queue model's ``child_added`` listener (the Qt tree's
    ``view_created``, or mxcubeweb's ``queue_model_child_added``).
    """
    from mxcubecore.queuelib import QueueBuilder

    entry = entry_class(task_name)
    flat = dict(parameters)
    task_validator(entry.DATA_MODEL)(flat)  # refuse before anything is added to the queue
    flat.setdefault("shape", "-1")
    node_id = QueueBuilder().add_queue_entry(sample_node_id, {"parameters": flat}, task_name)
    name_task_group(node_id, getattr(entry, "NAME", task_name))
    return node_id


def name_task_group(node_id: int, name: str) -> None:
    """Name the task group QueueBuilder made for the task (``Interleaved collection - 1``).

    QueueBuilder leaves a generic task's group unnamed, so a tree shows it as `` - 0``; its
    row was made before this, so its text is set again.
    """
    from mxcubecore import HardwareRepository as HWR
    from mxcubecore.model import queue_model_objects as qmo

    model, _entry = HWR.beamline.queue_manager.get_entry(node_id)
    group = model.get_parent()
    if not isinstance(group, qmo.TaskGroup) or getattr(group, "_name", ""):
        return
    parent = group.get_parent()
    number = parent.get_next_number_for_name(name) if parent is not None else 1
    group.set_name(name)
    group.set_number(number)
    view = HWR.beamline.queue_manager.get_entry_with_model(group)
    view = view.get_view() if view is not None else None
    if view is not None:
        view.setText(0, group.get_display_name())
        tree = view.treeWidget() if hasattr(view, "treeWidget") else None
        if tree is not None:  # mxcubeqt sized the column for the old text
            tree.resizeColumnToContents(0)
