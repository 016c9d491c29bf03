"""Rows for the plugin's tasks in mxcubeqt's queue tree (``queue_item.MODEL_VIEW_MAPPINGS``).

mxcubeqt makes a tree row for a new queue model with ``MODEL_VIEW_MAPPINGS[model.__class__]``
(``dc_tree_widget.add_to_view``): a model missing there is a ``KeyError`` and the task never
reaches the tree. This module adds the plugin's queue models, with a row class derived from
mxcubeqt's own ``TaskQueueItem`` (so the tree treats it as a task: select, delete, collect).

Nothing here imports mxcubeqt (nor Qt): the caller hands over mxcubeqt's ``queue_item`` module,
or :func:`register_if_loaded` finds it among the modules already imported. The plugin never
imports mxcubeqt itself.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

__all__ = ["QUEUE_ITEM_MODULE", "register_if_loaded", "register_tree_item", "tree_item_class"]

QUEUE_ITEM_MODULE = "mxcubeqt.utils.queue_item"
_CLASSES: dict[int, type] = {}  # one row class per queue_item module (id), made once


def tree_item_class(queue_item: ModuleType) -> type:
    """A ``TaskQueueItem`` whose status column shows the whole progress text, and a tooltip."""
    made = _CLASSES.get(id(queue_item))
    if made is not None:
        return made
    base: Any = queue_item.TaskQueueItem

    class PluginTaskQueueItem(base):
        """A plugin task's row: the task's name (column 0), its progress in full (column 1)."""

        def setText(self, column: int, text: str) -> None:  # noqa: N802 (Qt's name)
            base.setText(self, column, text)
            if column == 1:  # "wedge 3 of 8, image 40 of 160": widen the column, never elide
                self.setToolTip(1, text)
                tree = self.treeWidget()
                if tree is not None and text:
                    tree.resizeColumnToContents(1)

        def update_tool_tip(self) -> None:
            self.setToolTip(0, task_summary(self.get_model()))

    PluginTaskQueueItem.__qualname__ = PluginTaskQueueItem.__name__
    _CLASSES[id(queue_item)] = PluginTaskQueueItem
    return PluginTaskQueueItem


def task_summary(model: Any) -> str:
    """``Interleaved collection: sweeps peak, remote; wedge 10 images`` (for the row's tooltip)."""
    name = model.get_display_name() if hasattr(model, "get_display_name") else str(model)
    user = getattr(getattr(model, "task_data", None), "user_collection_parameters", None)
    sweeps = [s.id for s in getattr(user, "sweeps", []) or []]
    if not sweeps:
        return name
    return f"{name}: sweeps {', '.join(sweeps)}; wedge {user.wedge_size:g} {user.wedge_unit}"


def register_tree_item(queue_model_class: type, queue_item: ModuleType) -> type:
    """Give ``queue_model_class`` a row in mxcubeqt's tree; a site's own mapping is kept."""
    mapping = queue_item.MODEL_VIEW_MAPPINGS
    if queue_model_class not in mapping:
        mapping[queue_model_class] = tree_item_class(queue_item)
    return mapping[queue_model_class]


def register_if_loaded(queue_model_class: type) -> bool:
    """Register when mxcubeqt runs (its ``queue_item`` is imported); never imports it."""
    queue_item = sys.modules.get(QUEUE_ITEM_MODULE)
    if queue_item is None or not hasattr(queue_item, "MODEL_VIEW_MAPPINGS"):
        return False
    register_tree_item(queue_model_class, queue_item)
    return True
