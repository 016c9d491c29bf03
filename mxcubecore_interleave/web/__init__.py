"""What the plugin adds to mxcubeweb 4.791 when, and only when, mxcubeweb runs the beamline.

Nothing here is imported unless ``mxcubeweb`` is already imported (:func:`activate_if_running`):
the hardware objects and queue entries stay usable without it (Qt, scripts, tests).
"""

from __future__ import annotations

import importlib
import logging
import sys

__all__ = ["activate_if_running"]

_MODULES = ("mxcubecore_interleave.web.sample_view_adapter", "mxcubecore_interleave.web.task_state")


def activate_if_running() -> bool:
    """Import the mxcubeweb adapters when mxcubeweb is the front end; True if it is.

    Called while the beamline loads (mxcubeweb imports itself, then loads the beamline, then
    builds its adapters), so the adapter classes are registered before mxcubeweb picks them.
    """
    if "mxcubeweb" not in sys.modules:
        return False
    for name in _MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # a newer/older mxcubeweb: the stock behaviour stays, say why
            logging.getLogger("HWR").exception("mxcubecore-interleave: %s not loaded", name)
    return True
