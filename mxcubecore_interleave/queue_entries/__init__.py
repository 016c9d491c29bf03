"""Queue entries registered into mxcubecore by configuration."""

from __future__ import annotations


def register_entry(entry_cls: type) -> None:
    """Make mxcubecore (and so mxcubeweb and the Qt queue) know a plugin entry (reference §2.3).

    mxcubecore only discovers entries inside its own package; this puts the class where
    ``get_queue_entry_from_task_name``, the queue builder and ``QueueModel.view_created`` look.
    """
    import mxcubecore.queue_entry as qe
    from mxcubecore.queue_entry.import_helper import ImportHelper

    name = entry_cls.__name__
    ImportHelper.MODULES[name] = entry_cls
    setattr(qe, name, entry_cls)
    qe.MODEL_QUEUE_ENTRY_MAPPINGS[entry_cls.QMO] = entry_cls
    if name not in qe.__all__:
        qe.__all__.append(name)
    # inside mxcubeqt (already imported by it): a row in its queue tree for the entry's model
    from mxcubecore_interleave.qt.mxcubeqt_tree import register_if_loaded

    register_if_loaded(entry_cls.QMO)
