"""DECTRIS file names: ``<series>_master.h5`` and ``<series>_data_NNNNNN.h5`` (1-based, 6 digits).

XDS derives the master's name from the data template by replacing ``??????.h5`` with
``master.h5``, so these exact suffixes matter.
"""

from __future__ import annotations


def series_name(prefix: str, run: int) -> str:
    return f"{prefix}_{run}"


def master_name(series: str) -> str:
    return f"{series}_master.h5"


def data_name(series: str, index: int) -> str:
    if index < 1:
        raise ValueError(f"data file numbers start at 1, got {index}")
    return f"{series}_data_{index:06d}.h5"


def split_counts(n_images: int, images_per_file: int) -> list[int]:
    """Frames per data file: full files of ``images_per_file`` and a shorter last one."""
    if n_images < 0 or images_per_file < 1:
        raise ValueError(f"bad split: {n_images} images, {images_per_file} per file")
    full, rest = divmod(n_images, images_per_file)
    return [images_per_file] * full + ([rest] if rest else [])


def series_files(series: str, n_images: int, images_per_file: int) -> tuple[str, list[str]]:
    """The master and data file names a series of ``n_images`` frames will have."""
    n_files = len(split_counts(n_images, images_per_file))
    return master_name(series), [data_name(series, i + 1) for i in range(n_files)]
