"""The queue-model base of the plugin's tasks."""

from __future__ import annotations

from typing import Any

from mxcubecore.model import queue_model_objects as qmo


class PluginTaskNode(qmo.TaskNode):
    """A generic task node with what mxcubeweb's serializer reads from every task.

    Not a ``DataCollection``: mxcubeweb reports a ``DataCollection`` subclass as a plain
    collection, a ``TaskNode`` with ``task_data`` under its own type (integration reference §2.4).
    """

    def __init__(self, name: str, task_data: Any = None) -> None:
        super().__init__(task_data=task_data)
        self.set_name(name)
        self.acquisitions = [qmo.Acquisition()]
        self.processing_parameters = qmo.ProcessingParameters()
        self.shape = ""

    def get_path_template(self) -> qmo.PathTemplate:
        return self.acquisitions[0].path_template
