"""Sweep masters for interleaved (or separately collected) Eiger data: pure h5py, no mxcubecore.

One NXmx master per sweep that points at the stored data files (links, or one virtual dataset),
records the acquisition order, and is validated before and after the atomic rename.
See docs/repackager.md and the NXmx reference §4–§6.
"""

from .digest import semantic_digest
from .discover import DiscoveredSweep, Tolerances, describe, find_masters, group_series, record_from_series
from .locate import FrameLocation, Lookup, global_numbers, locate_frame, locate_global
from .model import Collection, DataFile, Segment, Sweep, Wedge
from .plan import collection_from_record
from .repackage import RepackageResult, SweepMasterResult, repackage_record, repackage_series, write_collection
from .series import SeriesInfo, read_series
from .sweep_master import sweep_master_name
from .validate import choose_layout, validate_inputs, validate_master

__all__ = [
    "Collection", "DataFile", "DiscoveredSweep", "FrameLocation", "Lookup", "RepackageResult", "Segment",
    "SeriesInfo", "Sweep", "SweepMasterResult", "Tolerances", "Wedge", "choose_layout", "collection_from_record",
    "describe", "find_masters", "global_numbers", "group_series", "locate_frame", "locate_global", "read_series",
    "record_from_series", "repackage_record", "repackage_series", "semantic_digest", "sweep_master_name",
    "validate_inputs", "validate_master", "write_collection",
]
