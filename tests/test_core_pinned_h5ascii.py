"""NeXus strings as DECTRIS writes them, and attributes read as stored: exact types and values."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from mxcubecore_interleave.h5ascii import (
    ascii_attr,
    ascii_dataset,
    nx_group,
    read_str,
    stored_attributes,
)


@pytest.fixture
def f(tmp_path):
    with h5py.File(tmp_path / "s.h5", "w") as handle:
        yield handle


def test_ascii_attr_is_nul_terminated_fixed_length_ascii_of_its_length_plus_one(f):
    ascii_attr(f, "NX_class", "NXentry")
    ascii_attr(f, "NX_class", "NXdata")  # replaced, not added beside
    tid = f.attrs.get_id("NX_class").get_type()
    assert (tid.get_size(), tid.get_strpad(), tid.get_cset(), tid.is_variable_str()) == (
        7, h5py.h5t.STR_NULLTERM, h5py.h5t.CSET_ASCII, False)
    raw = np.empty((), dtype="S7")
    f.attrs.get_id("NX_class").read(raw, mtype=tid)
    assert raw.tobytes() == b"NXdata\0"
    assert list(f.attrs) == ["NX_class"]


def test_ascii_dataset_is_as_long_as_its_text_and_never_zero_length(f):
    ds = ascii_dataset(f, "name", "Eiger2 X 4M")
    assert ds.dtype == np.dtype("S11") and ds.shape == () and ds[()] == b"Eiger2 X 4M"
    assert ds.id.get_type().get_cset() == h5py.h5t.CSET_ASCII
    empty = ascii_dataset(f, "empty", "")
    assert empty.dtype == np.dtype("S1") and empty[()] == b""


def test_nx_group_is_made_once_with_its_class(f):
    g = nx_group(f, "entry", "NXentry")
    assert nx_group(f, "entry", "NXentry") == g
    assert g.attrs["NX_class"] == b"NXentry"


@pytest.mark.parametrize("value, text", [
    (b"NXdetector\0\0", "NXdetector"),
    (np.bytes_(b"\0NX"), "\0NX"),  # only trailing NULs go
    (np.array(b"deg"), "deg"),  # a 0-d array: its one value
    (np.array([b"mm", b"deg"]), "mm"),  # an array: its first value
    (b"\xb5m", "\ufffdm"),  # not ASCII: replaced, not refused
    (12.5, "12.5"),
    ("angstrom", "angstrom"),
])
def test_read_str(value, text):
    assert read_str(value) == text


def test_stored_attributes_keep_shape_type_and_value(f):
    ds = f.create_dataset("omega", data=np.zeros(3))
    ascii_attr(ds, "units", "deg")
    ds.attrs.create("vector", np.array([1.0, 0.0, -1.0]))
    ds.attrs.create("offset", 7, dtype=np.int16)
    out = {name: (tid, space, value) for name, tid, space, value in stored_attributes(ds.id)}
    assert sorted(out) == [b"offset", b"units", b"vector"]
    tid, space, value = out[b"vector"]
    assert space.shape == (3,) and value.shape == (3,) and value.tolist() == [1.0, 0.0, -1.0]
    tid, _space, value = out[b"offset"]
    assert value.dtype == np.int16 and int(value) == 7 and tid.get_size() == 2
    tid, _space, value = out[b"units"]
    assert tid.get_size() == 4 and tid.get_strpad() == h5py.h5t.STR_NULLTERM and value.tobytes() == b"deg\0"
