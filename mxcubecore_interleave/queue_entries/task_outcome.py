"""How an interleaved collection's run ended, said the same way to every listener.

The queue manager's ``queue_interleaved_finished`` makes mxcubeweb 4.791 show the task as
COLLECTED with progress 1, so it is sent only when the record says ``completed``. Every end
(completed, stopped, aborted, failed, or refused at the start) goes out on the queue manager as
``interleaved_collection_ended(model, outcome)``, where ``outcome`` is :meth:`Outcome.as_dict`:
the record's status, wedges and images done of the total, the reason of a failure, and the
sentence a user reads. ``mxcubecore_interleave.web.task_state`` turns it into mxcubeweb's task
event; a Qt front end or a script can connect to it too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["SIGNAL", "Outcome", "announce", "outcome_of", "refusal"]

SIGNAL = "interleaved_collection_ended"


@dataclass(frozen=True)
class Outcome:
    """One run's end, from the acquisition record."""

    prefix: str
    state: str  # the record's status (completed, stopped, aborted, failed), or refused at the start
    wedges_done: int
    n_wedges: int
    images: int
    n_images: int
    reason: str | None = None

    @property
    def progress(self) -> float:
        return self.images / self.n_images if self.n_images else 0.0

    @property
    def message(self) -> str:
        if self.state == "refused":
            return f"Interleaved collection {self.prefix} refused: {self.reason}; nothing was collected"
        done = f"{self.wedges_done} of {self.n_wedges} wedges ({self.images} of {self.n_images} images)"
        if self.state == "completed":
            return f"Interleaved collection {self.prefix} completed: {done}"
        if self.state == "failed":
            why = f": {self.reason}" if self.reason else ""
            return (f"Interleaved collection {self.prefix} failed after {done}{why}; "
                    "run the queue again to resume")
        return (f"Interleaved collection {self.prefix} {self.state} after {done}; "
                "run the queue again to resume")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "progress": self.progress, "message": self.message}


def outcome_of(record: Any, state: str, reason: str | None = None) -> Outcome:
    """The outcome an :class:`~mxcubecore_interleave.record.AcquisitionRecord` says."""
    wedges = list(record.wedges)
    return Outcome(
        prefix=str(record.prefix), state=state,
        wedges_done=sum(1 for w in wedges if w.status == "complete"), n_wedges=len(wedges),
        images=sum(w.n_collected for w in wedges), n_images=sum(s.n_frames for s in record.sweeps),
        reason=reason if state == "failed" else None)


def refusal(prefix: str, reason: str) -> Outcome:
    """A run refused when it starts (limits, paths, a changed interrupted run): nothing collected."""
    return Outcome(prefix=str(prefix), state="refused", wedges_done=0, n_wedges=0, images=0, n_images=0,
                   reason=reason)


def announce(queue_manager: Any, model: Any, outcome: Outcome) -> None:
    """Tell the queue's listeners how the run ended (never raises into the entry)."""
    try:
        if outcome.state == "completed":
            queue_manager.emit("queue_interleaved_finished", ())
        queue_manager.emit(SIGNAL, (model, outcome.as_dict()))
    except Exception:  # a listener's failure must not change the run's result
        import logging

        logging.getLogger("HWR").exception("interleaved collection: announcing the end failed")
