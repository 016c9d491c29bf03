"""Finish a step whole even when the queue's stop kills the greenlet running it.

mxcubecore's ``QueueManager.stop()`` kills the queue's greenlet (``GreenletExit`` at its next
switch), wherever it is. Settling a stopped collection (the after-masters, the record's final
status, LIMS) must not be cut there: a stop that landed while the after-masters were written
left a sweep master with fewer frames than the record said, and the entry idle (issue 12, found
by tests/test_collection_stop_kill.py). The step runs in its own greenlet; the caller waits for
it through any kill, then the kill goes on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import gevent

P = ParamSpec("P")
R = TypeVar("R")


def uninterruptible(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` runs to its end even if the calling greenlet is killed meanwhile; the kill (the
    first ``GreenletExit``) is raised once it has, and ``fn``'s own exception as usual."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        g = gevent.spawn(fn, *args, **kwargs)
        killed: BaseException | None = None
        while not g.ready():
            try:
                g.join()
            except gevent.GreenletExit as exc:  # the queue's stop: finish the step first
                killed = killed or exc
        if killed is not None:
            if not g.successful():
                g.get()  # the step's own failure says more than the kill
            raise killed
        return g.get()

    return wrapper
