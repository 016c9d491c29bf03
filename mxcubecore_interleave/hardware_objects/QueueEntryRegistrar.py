"""QueueEntryRegistrar: makes the plugin's queue entries known to mxcubecore, by configuration alone.

mxcubecore only discovers queue entries inside its own package (integration reference §2.1), so
a plugin entry is registered by this small HardwareObject listed in ``beamline.yaml``::

    - queue_entry_registrar: interleave_registrar.yaml

with ``entries`` the dotted paths of the queue entry classes. After ``init()``,
``mxcubecore.queue_entry.get_queue_entry_from_task_name("interleaved_collection")`` finds the
entry; mxcubeweb lists it when ``available_methods`` has ``interleaved_collection: true``.
"""

from __future__ import annotations

import ast
import importlib
import logging

from mxcubecore.BaseHardwareObjects import HardwareObject

from mxcubecore_interleave.queue_entries import register_entry

__all__ = ["QueueEntryRegistrar", "register_entry"]

log = logging.getLogger("HWR")
DEFAULT_ENTRIES = ("mxcubecore_interleave.queue_entries.interleaved_collection.InterleavedCollectionQueueEntry",)


class QueueEntryRegistrar(HardwareObject):
    """Configuration: ``entries`` (list of ``package.module.ClassQueueEntry`` dotted paths); the
    interleaved entry also reads ``master_file_template``, ``filewriter_timeout`` and
    ``filewriter_settle`` from here (``interleaved_collection.collect_settings``)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.registered: list[str] = []

    def init(self) -> None:
        super().init()
        entries = self.get_property("entries", None) or list(DEFAULT_ENTRIES)
        if isinstance(entries, str):
            entries = ast.literal_eval(entries) if entries.strip().startswith("[") else [entries]
        for path in entries:
            module_name, _, cls_name = str(path).rpartition(".")
            try:
                cls = getattr(importlib.import_module(module_name), cls_name)
            except (ImportError, AttributeError) as exc:
                log.error("queue entry %s cannot be registered: %s", path, exc)
                continue
            register_entry(cls)
            self.registered.append(cls.__name__)
        log.info("registered queue entries: %s", ", ".join(self.registered) or "none")
        from mxcubecore_interleave.web import activate_if_running

        activate_if_running()  # the end-of-run task state for mxcubeweb, when it is the front end
