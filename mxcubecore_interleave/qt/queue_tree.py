"""A Qt queue tree built the way mxcubeqt builds its queue: ``QueueModel.view_created``.

mxcubeqt does not create queue entries through mxcubeweb's ``queue_model_child_added``: its tree
brick listens to the queue model's ``child_added`` signal, makes a tree item for the new model
and calls ``queue_model.view_created(item, model)``, which creates the queue entry from
``MODEL_QUEUE_ENTRY_MAPPINGS`` with the tree item as the entry's *view*, and enqueues it in the
entry of the parent item. The entries then call the view methods below while they run
(``setText``, ``setOn``, ``set_checkable``, ``set_background_color``, ``setHighlighted``,
``update_tool_tip``, ``set_queue_entry``/``get_queue_entry``). :class:`QueueTree` is a small
stand-alone version of that tree, so that a site (or a test) can run plugin entries from a
Qt-built queue exactly as mxcubeqt would.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtGui import QBrush, QColor, QFont
from qtpy.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

__all__ = ["QueueTree", "QueueTreeItem", "STATUS_COLOURS"]

# index passed by BaseQueueEntry._set_background_color: 0 = not executed, else status + 1 with
# QUEUE_ENTRY_STATUS = (SUCCESS, WARNING, FAILED, SKIPPED, RUNNING, NOT_EXECUTED)
STATUS_COLOURS = ("#ffffff", "#c8f0c8", "#fff0b3", "#f5c6c6", "#dddddd", "#cfe3ff", "#ffffff")


class QueueTreeItem(QTreeWidgetItem):
    """One row of the queue: the *view* of one queue entry (mxcubeqt's ``QueueItem`` API)."""

    def __init__(self, parent: QTreeWidget | QTreeWidgetItem, model: Any) -> None:
        super().__init__(parent)
        self._data_model = model
        self._queue_entry = None
        self.background_index = 0
        self.setFlags(self.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        self.setCheckState(0, Qt.CheckState.Checked)

    # -- what mxcubecore calls on a view ---------------------------------------------------------
    def setText(self, column: int, text: str) -> None:  # noqa: N802 (Qt's name)
        """Progress (column 1) is shown in full: the column widens, the tooltip repeats it."""
        super().setText(column, text)
        tree = self.treeWidget()
        if tree is not None and text:
            tree.resizeColumnToContents(column)
        if column == 1:
            self.setToolTip(1, text)

    def setOn(self, state: bool) -> None:  # noqa: N802 (mxcubecore's name)
        """Check or uncheck; like mxcubeqt, this enables or disables the entry and its model."""
        state = bool(state) and self.is_checkable()
        self.setCheckState(0, Qt.CheckState.Checked if state else Qt.CheckState.Unchecked)
        if self._queue_entry is not None:
            self._queue_entry.set_enabled(state)
        if self._data_model is not None:
            self._data_model.set_enabled(state)

    def set_checkable(self, state: bool) -> None:
        flags = self.flags()
        if state:
            self.setFlags(flags | Qt.ItemFlag.ItemIsUserCheckable)
        else:
            self.setFlags(flags & ~Qt.ItemFlag.ItemIsUserCheckable)

    def setHighlighted(self, state: bool) -> None:  # noqa: N802
        font = QFont(self.font(0))
        font.setBold(bool(state))
        self.setFont(0, font)

    def set_background_color(self, index: int) -> None:
        self.background_index = int(index)
        colour = STATUS_COLOURS[min(max(int(index), 0), len(STATUS_COLOURS) - 1)]
        for column in range(max(self.columnCount(), 2)):
            self.setBackground(column, QBrush(QColor(colour)))

    def setBackgroundColor(self, colour: Any) -> None:  # noqa: N802 (legacy Qt3 name)
        self.setBackground(0, QBrush(QColor(colour)))

    def update_tool_tip(self) -> None:
        model = self._data_model
        name = model.get_display_name() if hasattr(model, "get_display_name") else str(model)
        self.setToolTip(0, name)

    def set_queue_entry(self, entry: Any) -> None:
        self._queue_entry = entry

    def get_queue_entry(self) -> Any:
        return self._queue_entry

    def get_model(self) -> Any:
        return self._data_model

    # -- what a test or a site reads ----------------------------------------------------------
    def is_checked(self) -> bool:
        return self.checkState(0) == Qt.CheckState.Checked

    def is_checkable(self) -> bool:
        return bool(self.flags() & Qt.ItemFlag.ItemIsUserCheckable)


class QueueTree(QTreeWidget):
    """The queue as a tree; creates the queue entries through ``QueueModel.view_created``.

    Create it after the beamline is loaded and before models are added to the queue model.
    Do not also connect mxcubeweb's ``queue_model_child_added``: each model would get two
    entries.
    """

    def __init__(self, queue_model: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue_model = queue_model
        self.setColumnCount(2)
        self.setHeaderLabels(["Queue", "Status"])
        self._items: dict[int, QueueTreeItem] = {}
        # a bound method of a live widget: PyDispatcher holds receivers weakly
        queue_model.connect("child_added", self._child_added)

    def close_queue(self) -> None:
        """Stop following the queue model (before the beamline is unloaded)."""
        self.queue_model.disconnect("child_added", self._child_added)

    def _child_added(self, parent_model: Any, child_model: Any) -> None:
        parent_item = self._items.get(id(parent_model))
        item = QueueTreeItem(parent_item if parent_item is not None else self, child_model)
        self._items[id(child_model)] = item
        self.queue_model.view_created(item, child_model)
        if parent_item is not None:
            parent_item.setExpanded(True)

    def item_for(self, model: Any) -> QueueTreeItem | None:
        return self._items.get(id(model))

    def entry_for(self, model: Any) -> Any:
        item = self.item_for(model)
        return item.get_queue_entry() if item is not None else None
