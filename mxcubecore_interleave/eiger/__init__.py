"""A simulated DECTRIS Eiger file writer (pure h5py): master + data files as the filewriter makes them.

Used by the simulated detector HardwareObject and by tests. Layout: NXmx reference §1 and
docs/simulated-eiger.md.
"""

from .frames import frame_tag, synthetic_frame
from .naming import data_name, master_name, series_files, series_name, split_counts
from .series import DetectorGeometry, SeriesResult, SeriesSpec, SeriesWriter, write_series

__all__ = [
    "DetectorGeometry",
    "SeriesResult",
    "SeriesSpec",
    "SeriesWriter",
    "data_name",
    "frame_tag",
    "master_name",
    "series_files",
    "series_name",
    "split_counts",
    "synthetic_frame",
    "write_series",
]
