"""mxcubeweb's sample-view adapter for :class:`MurkoSampleView`: the auto-centring route answers JSON.

mxcubeweb 4.791 routes ``PUT .../hwobj/sample_view/<id>/start_auto_centring`` to its
``SampleViewAdapter.start_auto_centring``, which returns None: its resource handler then answers
``500 "Return value of type '<class 'NoneType'>' is not serializable"`` although the centring
started. This subclass, which mxcubeweb picks for ``MurkoSampleView`` (its adapter manager
prefers the adapter registered for the exact class), answers what happened:

* ``{"started": true, "method": "Murko"}``;
* ``{"started": false, "busy": true, "reason": ...}`` while a centring runs;
* ``{"started": false, "refused": true, "reason": ...}`` when the sample view refuses.

A request without a JSON body still answers ``404 Not found``: mxcubeweb reads ``request.json``
before calling any method, Flask raises 415 and mxcubeweb's error handler turns every HTTP error
into 404 (docs/enable-mxcubeweb.md, "Known quirks").
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from mxcubeweb.core.adapter.sample_view_adapter import SampleViewAdapter

from mxcubecore_interleave.hardware_objects.MurkoSampleView import MurkoSampleView

__all__ = ["MurkoSampleViewAdapter", "auto_centring_answer"]

user_log = logging.getLogger("user_level_log")


def auto_centring_answer(sample_view: Any) -> dict:
    """Start the sample view's automatic centring; what to answer the client (JSON-serialisable)."""
    if sample_view.current_centring_procedure is not None:
        reason = "a centring is already running; abort it or wait for it to end"
        user_log.warning("Automatic centring not started: %s", reason)
        return {"started": False, "busy": True, "reason": reason}
    try:
        answer = sample_view.start_auto_centring()
    except Exception as exc:  # refused by the hardware: the client gets the reason, not a 500
        reason = str(exc) or type(exc).__name__
        user_log.error("Automatic centring not started: %s", reason)
        return {"started": False, "refused": True, "reason": reason}
    answer = dict(answer) if isinstance(answer, dict) else {"started": True}
    if answer.get("started", True):
        user_log.info("Starting automatic centring (%s)", answer.get("method", "automatic"))
        answer["started"] = True
    else:
        answer.setdefault("reason", "refused by the sample view")
        if "already running" in str(answer["reason"]):
            answer["busy"] = True
        else:
            answer["refused"] = True
        user_log.warning("Automatic centring not started: %s", answer["reason"])
    return answer


class MurkoSampleViewAdapter(SampleViewAdapter):
    """SampleViewAdapter whose ``start_auto_centring`` returns the answer instead of None."""

    SUPPORTED_TYPES: ClassVar[list[object]] = [MurkoSampleView]

    def start_auto_centring(self) -> dict:
        """Start automatic centring; ``{"started": ..., "reason": ...}``."""
        return auto_centring_answer(self._ho)
