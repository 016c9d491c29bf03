"""A second identical interleaved task is refused when it is added, not collected twice.

mxcubecore 2.149's queue builder adds a new Sample node for every posted sample without a
``queueID``, so posting the same sample and task twice makes two Sample nodes with one location:
``GET /queue/`` (a dict keyed by location) lists one, and the queue runs both. Here the second
task is refused while an identical one (same sweeps, wedges, prefix and sub-directory) waits in
the queue, and the empty Sample node its request has just added for that location is removed,
so that the queue holds and shows exactly one.
"""

from __future__ import annotations

import logging
from typing import Any

from mxcubecore import HardwareRepository as HWR

__all__ = ["refuse_pending_twin"]

log = logging.getLogger("HWR")


def _task_key(task_data: Any) -> dict | None:
    from mxcubecore_interleave.queue_entries.interleaved_collection import task_from_parameters

    try:
        return task_from_parameters(task_data).model_dump(exclude={"run_number"})
    except Exception:
        return None


def _walk(node: Any):
    for child in node.get_children():
        yield child
        yield from _walk(child)


def _sample_of(node: Any) -> Any:
    from mxcubecore.model import queue_model_objects as qmo

    while node is not None and not isinstance(node, qmo.Sample):
        node = node.get_parent()
    return node


def refuse_pending_twin(model_cls: type, task_data: Any) -> None:
    """Raise ValueError if a task of ``model_cls`` that has not run yet has the same task."""
    queue_model = getattr(getattr(HWR, "beamline", None), "queue_model", None)
    if queue_model is None or task_data is None:
        return
    key = _task_key(task_data)
    if key is None:
        return
    for node in _walk(queue_model.get_model_root()):
        if not isinstance(node, model_cls) or node.is_executed() or node.task_data is task_data:
            continue
        if getattr(node, "record_path", None):  # it has run (stopped or failed): queuing again resumes it
            continue
        if _task_key(node.task_data) != key:
            continue
        sample = _sample_of(node)
        where = f"sample {sample.loc_str}" if sample is not None else "the queue"
        _drop_empty_twins(sample)
        raise ValueError(
            f"the same interleaved collection (prefix {key['prefix']!r}, sub-directory {key['subdir']!r}, "
            f"sweeps {', '.join(s['id'] for s in key['sweeps'])}) is already in the queue for {where} and not "
            "collected yet; it was not added a second time. Run the queued one, or change the prefix or "
            "the sub-directory to collect it again")


def _drop_empty_twins(sample: Any) -> None:
    """Remove the other, empty Sample nodes at ``sample``'s location (added by this request)."""
    if sample is None:
        return
    from mxcubecore.model import queue_model_objects as qmo

    qm = HWR.beamline.queue_manager
    root = HWR.beamline.queue_model.get_model_root()
    for node in list(root.get_children()):
        if (isinstance(node, qmo.Sample) and node is not sample and node.loc_str == sample.loc_str
                and not node.get_children()):
            try:
                _model, entry = qm.get_entry(node._node_id)
                qm._delete_entry(entry)
            except Exception:  # the refusal stands; the empty node is only cosmetic
                log.exception("could not remove the empty sample node %s", node.loc_str)
