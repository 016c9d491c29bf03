"""mxcubeweb's task event at the end of an interleaved collection: the state the record says.

mxcubeweb 4.791 sends no per-task event for an interleaved node at the end of its run except on
``queue_interleaved_finished`` (COLLECTED, progress 1), and skips ``queue_entry_execute_finished``
for it. So after a stop the browser's last word was "collected". This module listens to the
entry's ``interleaved_collection_ended`` (queue_entries/task_outcome.py) and sends mxcubeweb's
``task`` event with mxcubeweb's own states: COLLECTED for a completed run; FAILED (the state
``GET /queue/`` gives the entry) for a stopped or failed one, with ``progress`` the images done
over the total and ``Message`` what happened and why.
"""

from __future__ import annotations

import logging
from typing import Any

from mxcubecore.dispatcher import dispatcher
from mxcubecore.queuelib import COLLECTED, FAILED

from mxcubecore_interleave.queue_entries.task_outcome import SIGNAL

__all__ = ["task_event"]


def task_event(model: Any, outcome: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """mxcubeweb's ``task`` message for ``outcome`` (``node``: the queue model's node_index)."""
    completed = outcome["state"] == "completed"
    return {
        "Signal": f"queue_interleaved_{outcome['state']}",
        "Message": outcome["message"],
        "taskIndex": node["idx"],
        "queueID": model._node_id,
        "sample": node["sample"],
        "state": COLLECTED if completed else FAILED,
        "progress": 1.0 if completed else outcome["progress"],
    }


def _on_ended(model: Any, outcome: dict[str, Any]) -> None:
    from mxcubecore import HardwareRepository as HWR
    from mxcubeweb.app import MXCUBEApplication

    server = getattr(MXCUBEApplication, "server", None)
    if server is None:
        return
    try:
        node = HWR.beamline.queue_model.node_index(model)
        server.emit("task", task_event(model, outcome, node), namespace="/hwr")
    except Exception:
        logging.getLogger("HWR").exception("interleaved collection: task state not sent to mxcubeweb")


# any sender: the queue manager of whichever beamline is loaded (a module function is held strongly)
dispatcher.connect(_on_ended, SIGNAL, dispatcher.Any, weak=False)
