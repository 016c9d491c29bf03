"""An mxcubeqt brick hosting a plugin task's :class:`TaskForm` with *Add to queue*.

mxcubeqt's task toolbox pages are hard-coded, and its generic JSON-schema dialog cannot render
this task (arrays, ``anyOf`` with null). The brick is a panel of its own: the task's form, an
*Add to queue* button that queues the task under the samples selected in the tree brick (the
tree then creates the entry, as for any task), and a status line.

mxcubeqt loads a brick by module name from the ``--bricksDirs`` directories:
:data:`BRICKS_DIR` holds ``interleaved_collection_brick.py``, which imports mxcubeqt's
``BaseWidget`` and calls :func:`brick_class`. This module itself never imports mxcubeqt; the
base class comes in as an argument.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["BRICKS_DIR", "brick_class", "samples_of"]

BRICKS_DIR = Path(__file__).resolve().with_name("mxcubeqt_bricks")
"""Give this directory to mxcubeqt: ``--bricksDirs <BRICKS_DIR>`` (or ``CUSTOM_BRICKS_PATH``)."""

NO_SAMPLE = "select a sample (or one of its tasks) in the queue tree, then Add to queue"


def samples_of(items: list[Any]) -> list[Any]:
    """The samples (queue models) of the selected tree rows: a sample, or the sample above a task."""
    from mxcubecore.model import queue_model_objects as qmo

    found: list[Any] = []
    for item in items:
        node = item.get_model() if hasattr(item, "get_model") else item
        while node is not None and not isinstance(node, qmo.Sample):
            node = node.get_parent()
        if node is not None and all(node is not s for s in found):
            found.append(node)
    return found


def brick_class(base: type, name: str = "InterleavedCollectionBrick",
                task_name: str = "interleaved_collection") -> type:
    """A brick class on mxcubeqt's ``BaseWidget`` (``base``) for one registered task."""
    from qtpy.QtWidgets import QLabel, QPushButton, QVBoxLayout

    from mxcubecore_interleave.qt.task_form import TaskForm, add_task

    class TaskBrick(base):
        """The task's form and *Add to queue*; slot ``selection_changed`` from the tree brick."""

        def __init__(self, *args: Any) -> None:
            base.__init__(self, *args)
            self.add_property("taskName", "string", task_name)
            self.define_slot("selection_changed", ())
            self.form: TaskForm | None = None
            self.selected: list[Any] = []
            self.queued: list[int] = []  # node ids of the tasks added
            self.status = QLabel("")
            self.status.setObjectName("status")
            self.status.setWordWrap(True)
            self.add_button = QPushButton("Add to queue")
            self.add_button.setObjectName("add_to_queue")
            self.add_button.clicked.connect(self.add_to_queue)
            self._layout = QVBoxLayout(self)
            self._layout.addWidget(self.status)
            self._layout.addWidget(self.add_button)
            self._build(task_name)

        # -- mxcubeqt's BaseWidget hooks ---------------------------------------------------------
        def property_changed(self, property_name: str, old_value: Any, new_value: Any) -> None:
            if property_name == "taskName" and new_value and (
                    self.form is None or self.form.task_name != new_value):
                self._build(str(new_value))

        def selection_changed(self, items: list[Any]) -> None:
            """The tree brick's ``selection_changed``: remember which samples to queue under."""
            self.selected = samples_of(list(items or []))
            self.status.setText("" if self.selected else NO_SAMPLE)

        # -- what the user does ------------------------------------------------------------------
        def add_to_queue(self) -> list[int]:
            """Validate; queue one task under each selected sample; the node ids added."""
            if self.form is None:
                return []
            parameters = self.form.parameters()
            if parameters is None:  # the model's messages are shown in the form
                self.status.setText("not queued: see the messages under the form")
                return []
            if not self.selected:
                self.status.setText(NO_SAMPLE)
                return []
            added = []
            for sample in self.selected:
                try:
                    added.append(add_task(sample._node_id, self.form.task_name, parameters))
                except Exception as exc:  # refused: say why, keep the form as typed
                    self.form.show_error(str(exc))
                    self.status.setText(f"not queued under {sample.get_display_name()}")
                    return added
            self.queued.extend(added)
            names = ", ".join(s.get_display_name() for s in self.selected)
            self.status.setText(f"{self.form.schema.get('title', self.form.task_name)} queued under {names}")
            return added

        def _build(self, name: str) -> None:
            if self.form is not None:
                self._layout.removeWidget(self.form)
                self.form.deleteLater()
                self.form = None
            try:
                from mxcubecore import HardwareRepository as HWR

                beamline = getattr(HWR, "beamline", None)
                self.form = TaskForm(name, beamline, _start_values(beamline))
            except Exception as exc:  # no such task loaded: a readable line, not a dead brick
                self.status.setText(f"cannot show task {name!r}: {exc}")
                return
            self._layout.insertWidget(0, self.form, 1)
            self.form.show()  # added after the brick is shown: Qt does not show it by itself

    TaskBrick.__name__ = TaskBrick.__qualname__ = name
    return TaskBrick


def _start_values(beamline: Any) -> dict[str, Any]:
    """The session's default prefix, as mxcubeqt's own task pages start."""
    session = getattr(beamline, "session", None)
    try:
        return {"prefix": session.get_default_prefix(), "subdir": ""} if session else {}
    except Exception:
        return {}
