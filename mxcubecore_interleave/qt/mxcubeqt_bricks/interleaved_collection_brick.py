"""mxcubeqt brick ``interleaved_collection_brick`` (class ``InterleavedCollectionBrick``).

Loaded by mxcubeqt only (``--bricksDirs``, see docs/enable-mxcubeqt.md); the logic is in
``mxcubecore_interleave.qt.mxcubeqt_brick``. Importing it also gives the plugin's queue models
their rows in mxcubeqt's queue tree.
"""

from mxcubeqt.base_components import BaseWidget
from mxcubeqt.utils import queue_item

from mxcubecore_interleave.qt.mxcubeqt_brick import brick_class
from mxcubecore_interleave.qt.mxcubeqt_tree import register_tree_item
from mxcubecore_interleave.queue_entries.interleaved_collection import InterleavedCollectionQueueModel
from mxcubecore_interleave.queue_entries.murko_centring import MurkoCentringQueueModel

for _model in (InterleavedCollectionQueueModel, MurkoCentringQueueModel):
    register_tree_item(_model, queue_item)

InterleavedCollectionBrick = brick_class(BaseWidget)
