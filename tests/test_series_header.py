"""series._first_int: a data file's image_nr_low as an int, whatever type the writer stored it in
(one number read converting to int64; anything else read as stored)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from mxcubecore_interleave.nexus.series import _first_int


@pytest.mark.parametrize(("value", "expected"), [
    (np.uint64(12), 12), (np.int32(-4), -4), (np.array([9], np.uint16), 9), (3.7, 3),
    (np.array([5, 6], np.uint32), 5),  # more than one number: the first, read as stored
    ("7", 7),  # a string: read as stored
])
def test_first_int(tmp_path, value, expected):
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("d", data=[1]).attrs["a"] = value
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert _first_int(h5py.h5a.open(f["d"].id, b"a")) == expected
