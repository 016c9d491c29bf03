"""Queue entry "murko_centring": centre the sample with Murko as a task of its own.

mxcubeweb lists it when ``available_methods`` has ``murko_centring: true`` (task name
``murko_centring`` → ``MurkoCentringQueueEntry``). It centres through the sample view (so the
web sees the usual centring signals and the centred point), stores the 3D files in the task's
processing directory, and leaves the result on the queue model:

* ``model.centred_position``: a ``CentredPosition`` (``centring_method = "murko"``, extra
  attribute ``murko_files``);
* ``model.murko_files``: ``{"h5": …, "ply": …, "png": …}``; ``model.murko_summary``: fit RMS,
  rounds, positions;
* every later collection of the same sample that has no centred position yet gets this one,
  so "Murko centring, then collect" runs unattended; its comment (what LIMS stores) names the
  HDF5 and PLY files, since ISPyB has no field for a mesh.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mxcubecore import HardwareRepository as HWR
from mxcubecore.model import queue_model_objects as qmo
from mxcubecore.model.common import (
    CommonCollectionParamters,
    LegacyParameters,
    PathParameters,
    StandardCollectionParameters,
)
from mxcubecore.queue_entry.base_queue_entry import (
    BaseQueueEntry,
    QueueExecutionException,
    TaskPrerequisite,
)
from pydantic import BaseModel, ConfigDict, Field

from mxcubecore_interleave.queue_entries.task_node import PluginTaskNode

__all__ = [
    "MurkoCentringQueueEntry",
    "MurkoCentringQueueModel",
    "MurkoCentringTaskParameters",
    "MurkoCentringUserParameters",
    "register",
]

log = logging.getLogger("HWR")
user_log = logging.getLogger("user_level_log")


class MurkoCentringUserParameters(BaseModel):
    """What the user chooses for a Murko centring (the web form)."""

    model_config = ConfigDict(extra="ignore")

    num_views: int = Field(4, ge=3, le=36, title="Views", description="camera views, equally spaced over 360 deg")
    rounds: int = Field(1, ge=1, le=5, title="Rounds", description="acquire, fit and move this many times at most")
    store_3d: bool = Field(True, title="Store 3D", description="write the HDF5, PLY mesh and PNG")

    def omega_angles_deg(self) -> list[float]:
        return [360.0 * k / self.num_views for k in range(self.num_views)]


class MurkoCentringTaskParameters(BaseModel):
    """The five parameter groups mxcubeweb fills for every generic task."""

    path_parameters: PathParameters
    common_parameters: CommonCollectionParamters
    collection_parameters: StandardCollectionParameters
    user_collection_parameters: MurkoCentringUserParameters
    legacy_parameters: LegacyParameters

    @staticmethod
    def update_dependent_fields(field_data: dict) -> dict:
        return {}

    @staticmethod
    def ui_schema() -> str:
        col = {"ui:options": {"col": 4}}
        return json.dumps({"ui:order": ["num_views", "rounds", "store_3d", "*"], "num_views": col, "rounds": col})


class MurkoCentringQueueModel(PluginTaskNode):
    """Queue model of a Murko centring: a generic task node (not a DataCollection)."""

    def __init__(self, task_data: MurkoCentringTaskParameters | None = None) -> None:
        super().__init__("murko_centring", task_data)
        self.centred_position: qmo.CentredPosition | None = None
        self.murko_files: dict[str, str] = {}
        self.murko_summary: dict[str, Any] = {}

    def get_display_name(self) -> str:
        return "Murko centring"


class MurkoCentringQueueEntry(BaseQueueEntry):
    """Centre the sample with Murko and pass the centred position on to the group's collections."""

    QMO = MurkoCentringQueueModel
    DATA_MODEL = MurkoCentringTaskParameters
    NAME = "Murko centring"
    REQUIRES = [TaskPrerequisite.NO_SHAPE, TaskPrerequisite.NO_SHAPE_2D, TaskPrerequisite.POINT]

    def __init__(self, view=None, data_model: MurkoCentringQueueModel | None = None) -> None:
        super().__init__(view=view, data_model=data_model)

    def execute(self) -> None:
        super().execute()
        model: MurkoCentringQueueModel = self.get_data_model()
        user = model.task_data.user_collection_parameters
        path_template = model.get_path_template()
        output_dir = path_template.process_directory or path_template.directory or None
        prefix = path_template.get_prefix() if path_template.base_prefix else None
        overrides = {"omega_angles_deg": user.omega_angles_deg(), "rounds": user.rounds, "store_3d": user.store_3d}

        sample_view = HWR.beamline.sample_view
        murko = HWR.beamline.get_object_by_role("murko")
        if murko is None:
            raise QueueExecutionException("no 'murko' object in the beamline configuration", self)
        if hasattr(sample_view, "centre_with_murko"):
            result = sample_view.centre_with_murko(output_dir=output_dir, prefix=prefix, **overrides)
            if result is None:
                status = sample_view.get_centring_status()
                raise QueueExecutionException(f"Murko centring failed: {status.get('error', 'see the log')}", self)
        else:
            try:
                result = murko.centre(output_dir=output_dir, prefix=prefix, **overrides)
            except Exception as exc:
                raise QueueExecutionException(f"Murko centring failed: {exc}", self) from exc

        cpos = qmo.CentredPosition(result.centred_position)
        cpos.centring_method = "murko"
        cpos.murko_files = dict(result.files)
        model.centred_position = cpos
        model.murko_files = dict(result.files)
        model.murko_summary = {
            "rms_um": result.rms_mm * 1000.0,
            "rounds": len(result.rounds),
            "start_position": dict(result.start_position),
            "centred_position": dict(result.centred_position),
        }
        self._hand_on(cpos)
        user_log.info("Murko centring: %s", ", ".join(f"{k} {v}" for k, v in result.files.items()) or "no files")

    def _hand_on(self, cpos: qmo.CentredPosition) -> None:
        """Give the centred position to the sample's later collections that have none."""
        for node in _later_nodes_of_sample(self.get_data_model()):
            acquisitions = getattr(node, "acquisitions", None)
            if not acquisitions or isinstance(node, MurkoCentringQueueModel):
                continue
            params = acquisitions[0].acquisition_parameters
            current = getattr(params, "centred_position", None)
            if current is None or not any(v is not None for v in current.as_dict().values()):
                params.centred_position = cpos
                # LIMS has no field for a mesh: the collection's comment names the files
                note = _lims_note(cpos)
                if note and note not in (params.comments or ""):
                    params.comments = f"{params.comments} {note}".strip() if params.comments else note

    def get_type_str(self) -> str:
        return "Murko centring"


def _lims_note(cpos: qmo.CentredPosition) -> str:
    files = getattr(cpos, "murko_files", None) or {}
    if not files:
        return ""
    return "Murko centring 3D: " + ", ".join(files[k] for k in ("h5", "ply") if k in files)


def _later_nodes_of_sample(model: qmo.TaskNode) -> list[qmo.TaskNode]:
    """The nodes after ``model`` under its sample (its own task group and the later ones)."""
    root = model.get_parent()
    while root is not None and not isinstance(root, qmo.Sample) and root.get_parent() is not None:
        root = root.get_parent()
    if root is None:
        return []
    order: list[qmo.TaskNode] = []

    def walk(node: qmo.TaskNode) -> None:
        for child in node.get_children():
            order.append(child)
            walk(child)

    walk(root)
    return order[order.index(model) + 1 :] if model in order else []


def register(entry_cls: type[BaseQueueEntry] = MurkoCentringQueueEntry) -> None:
    """Make mxcubecore (and so mxcubeweb and the Qt queue) know the entry (reference §2.3)."""
    from . import register_entry

    register_entry(entry_cls)
