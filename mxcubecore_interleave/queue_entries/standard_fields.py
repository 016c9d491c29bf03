"""Which of mxcubecore's standard collection fields the interleaved task reads, and when.

mxcubeweb and mxcubeqt give every generic task the standard fields (energy, number of images,
kappa, ...). The interleaved task reads some of them only to build one sweep when no sweeps are
given (``task_from_parameters``), and some never. A form uses these lists to show only what
matters: the fallback fields while the sweeps list is empty, the unread ones never.
"""

from __future__ import annotations

__all__ = ["FALLBACK_SWEEP_FIELDS", "FIELDS_REPLACED_BY", "NEVER_READ_FIELDS"]

FALLBACK_SWEEP_FIELDS = ("energy", "kappa", "kappa_phi", "osc_start", "osc_range", "num_images",
                         "transmission", "resolution", "exp_time", "inverse_beam")
"""What ``task_from_parameters`` reads to make the one sweep of a task given without sweeps."""

NEVER_READ_FIELDS = ("first_image", "shutterless", "beam_size", "take_dark_current", "num_passes",
                     "offset", "take_snapshots", "skip_existing_images", "label")
"""Standard fields the model accepts (mxcubecore's groups require them) but the task never reads:
the entry numbers its own images, always collects shutterless with snapshots off, and never
skips or repeats."""

FIELDS_REPLACED_BY = {"sweeps": FALLBACK_SWEEP_FIELDS}
"""list field -> the standard fields a non-empty list makes irrelevant."""
