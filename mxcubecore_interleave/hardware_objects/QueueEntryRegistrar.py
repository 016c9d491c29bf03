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

__all__ = ["QueueEntryRegistrar", "register_entry"]

log = logging.getLogger("HWR")
DEFAULT_ENTRIES = ("mxcubecore_interleave.queue_entries.interleaved_collection.InterleavedCollectionQueueEntry",)


def register_entry(entry_cls: type) -> None:
    import mxcubecore.queue_entry as qe
    from mxcubecore.queue_entry.import_helper import ImportHelper

    name = entry_cls.__name__
    ImportHelper.MODULES[name] = entry_cls
    setattr(qe, name, entry_cls)
    qe.MODEL_QUEUE_ENTRY_MAPPINGS[entry_cls.QMO] = entry_cls
    if name not in qe.__all__:
        qe.__all__.append(name)


class QueueEntryRegistrar(HardwareObject):
    """Configuration: ``entries`` (list of ``package.module.ClassQueueEntry`` dotted paths)."""

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
