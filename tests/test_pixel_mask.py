"""The sweep master's pixel mask: linked to its first wedge's detector master, never copied from
one, readable by nxmx and h5py through the link, safe for Neggia's own parser, checked on write."""

from __future__ import annotations

import ctypes
import os
import shutil
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
import nxmx
import pytest

from mxcubecore_interleave.eiger import DetectorGeometry, SeriesSpec, write_series
from mxcubecore_interleave.errors import RepackageError
from mxcubecore_interleave.nexus import pixel_mask, repackage_record
from mxcubecore_interleave.nexus.pixel_mask import MASK_PATH, NXMX_MASK_PATH
from mxcubecore_interleave.nexus.validate import validate_master
from mxcubecore_interleave.record import AcquisitionRecord
from tests.neggia_view import _File, stale_cached_groups
from tests.repackage_helpers import TWO_SWEEPS, interleaved_record

GAPPED = DetectorGeometry(nx=24, ny=16, detector_number="E-TEST", dead_rows=(7,), dead_cols=(11,))
LAYOUTS = {"L": 4, "V": 3}  # images per file: whole wedges per file (links) or not (a virtual dataset)


def _collection(directory: Path, images_per_file: int) -> Path:
    rp = interleaved_record(directory, TWO_SWEEPS, images_per_file=images_per_file, geometry=GAPPED)
    for master in sorted(directory.glob("ilv_[0-9]*_master.h5")):  # a different mask per wedge: which one is read?
        with h5py.File(master, "r+") as f:
            mask = f[MASK_PATH]
            value = mask[()]
            value[2, 3] = 8 + 2 * int(master.name.split("_")[1])  # bit 3 and up: other flags
            mask[...] = value
            f["/entry/instrument/detector"].attrs["test_vector"] = np.array([1.0, 0.0, -1.0])  # not only strings
            f["/entry/instrument/detector/detectorSpecific"].attrs.create("test_count", 7, dtype=np.int16)
    return rp


def _edit_templates(directory: Path, change) -> None:
    for master in sorted(directory.glob("ilv_[0-9]*_master.h5")):
        with h5py.File(master, "r+") as f:
            change(f)


def _first_wedge_master(rp: Path, sweep: str) -> Path:
    rec = AcquisitionRecord.load(rp)
    first = min((w for w in rec.wedges if w.sweep == sweep), key=lambda w: w.sweep_first_frame)
    return rp.parent / first.source_master


@pytest.mark.parametrize("layout", LAYOUTS)
def test_both_mask_names_link_to_the_first_wedge_master(tmp_path, layout):
    rp = _collection(tmp_path, LAYOUTS[layout])
    res = repackage_record(rp, "after")
    assert [m.layout for m in res.masters] == [layout, layout]
    for m in res.masters:
        template = _first_wedge_master(rp, m.sweep)
        with h5py.File(m.master, "r") as f, h5py.File(template, "r") as t:
            for path in (MASK_PATH, NXMX_MASK_PATH):
                link = f.get(path, getlink=True)
                assert isinstance(link, h5py.ExternalLink)
                assert (link.filename, link.path) == (template.name, MASK_PATH)
                np.testing.assert_array_equal(f[path][()], t[MASK_PATH][()])
            assert int(f[MASK_PATH][2, 3]) == 8 + 2 * int(template.name.split("_")[1])
            assert int(f[MASK_PATH][7, 0]) == 1 and int(f[MASK_PATH][0, 11]) == 1
            # everything else of detectorSpecific is the sweep's, not the template's
            assert int(f["/entry/instrument/detector/detectorSpecific/nimages"][()]) == 8
            assert int(t["/entry/instrument/detector/detectorSpecific/nimages"][()]) == 4
            assert f["/entry/instrument/detector"].attrs["NX_class"] == t["/entry/instrument/detector"].attrs["NX_class"]
            assert sorted(f["/entry/instrument/detector/detectorSpecific"]) == sorted(
                t["/entry/instrument/detector/detectorSpecific"])
        assert stale_cached_groups(m.master) == []


def _attributes(obj) -> dict:
    out = {}
    for k in obj.attrs:
        tid = obj.attrs.get_id(k).get_type()
        kind = (tid.get_class(), tid.get_size(), tid.get_cset(), tid.get_strpad()) if isinstance(
            tid, h5py.h5t.TypeStringID) else (tid.get_class(), tid.get_size())
        out[k] = (kind, np.asarray(obj.attrs[k]).tolist())
    return out


def test_copied_groups_keep_every_attribute_with_its_stored_type(tmp_path):
    rp = _collection(tmp_path, 4)
    res = repackage_record(rp, "after")
    template = _first_wedge_master(rp, "A")
    with h5py.File(res.masters[0].master, "r") as f, h5py.File(template, "r") as t:
        for path in ("/entry/instrument", "/entry/instrument/detector", "/entry/instrument/detector/detectorSpecific",
                     "/entry/instrument/detector/x_pixel_size"):
            assert _attributes(f[path]) == _attributes(t[path]), path
        assert _attributes(f["/entry/instrument/detector"])["test_vector"][1] == [1.0, 0.0, -1.0]
        assert f["/entry/instrument/detector/detectorSpecific"].attrs["test_count"] == 7
        assert f["/entry/instrument/detector/x_pixel_size"][()] == t["/entry/instrument/detector/x_pixel_size"][()]


def test_links_in_the_template_stay_links(tmp_path):
    rp = _collection(tmp_path, 4)
    with h5py.File(tmp_path / "calibration.h5", "w") as c:
        c["gain"] = np.ones(3)

    def add_links(f):
        f["/entry/instrument/detector/nimages_alias"] = h5py.SoftLink("/entry/instrument/detector/detectorSpecific/nimages")
        f["/entry/instrument/detector/gain"] = h5py.ExternalLink("calibration.h5", "/gain")
        f["/entry/instrument/detector/mask_soft"] = h5py.SoftLink(MASK_PATH)  # a soft link stays one, even to the mask

    _edit_templates(tmp_path, add_links)
    res = repackage_record(rp, "after", output_subdir="processing")
    with h5py.File(res.masters[0].master, "r") as f:
        soft = f.get("/entry/instrument/detector/nimages_alias", getlink=True)
        assert isinstance(soft, h5py.SoftLink) and soft.path == "/entry/instrument/detector/detectorSpecific/nimages"
        assert int(f["/entry/instrument/detector/nimages_alias"][()]) == 8  # the sweep's, through the soft link
        ext = f.get("/entry/instrument/detector/gain", getlink=True)
        assert isinstance(ext, h5py.ExternalLink) and (ext.filename, ext.path) == ("../calibration.h5", "/gain")
        np.testing.assert_array_equal(f["/entry/instrument/detector/gain"][()], np.ones(3))
        assert f.get("/entry/instrument/detector/mask_soft", getlink=True).path == MASK_PATH
        assert int(f["/entry/instrument/detector/mask_soft"][7, 0]) == 1


def test_a_template_without_the_nxmx_alias_still_links_its_mask(tmp_path):
    rp = _collection(tmp_path, 4)
    _edit_templates(tmp_path, lambda f: f["/entry/instrument/detector"].pop("pixel_mask"))
    res = repackage_record(rp, "after")
    with h5py.File(res.masters[0].master, "r") as f:
        assert isinstance(f.get(MASK_PATH, getlink=True), h5py.ExternalLink)
        assert "pixel_mask" not in f["/entry/instrument/detector"]
    assert stale_cached_groups(res.masters[0].master) == []


def test_a_name_for_the_mask_in_instrument_itself_is_linked_too(tmp_path):
    rp = _collection(tmp_path, 4)
    _edit_templates(tmp_path, lambda f: f["/entry/instrument"].__setitem__("mask_alias", f[MASK_PATH]))
    res = repackage_record(rp, "after")
    template = _first_wedge_master(rp, "A")
    with h5py.File(res.masters[0].master, "r") as f:
        link = f.get("/entry/instrument/mask_alias", getlink=True)
        assert isinstance(link, h5py.ExternalLink) and (link.filename, link.path) == (template.name, MASK_PATH)
    assert stale_cached_groups(res.masters[0].master) == []


def test_a_template_without_a_mask_gives_a_master_without_one(tmp_path):
    rp = _collection(tmp_path, 4)

    def drop(f):
        del f["/entry/instrument/detector/pixel_mask"]
        del f[MASK_PATH]

    _edit_templates(tmp_path, drop)
    res = repackage_record(rp, "after")
    with h5py.File(res.masters[0].master, "r") as f:
        assert f.get(MASK_PATH, getlink=True) is None and "pixel_mask" not in f["/entry/instrument/detector"]
        assert "x_pixel_size" in f["/entry/instrument/detector"] and "beam" in f["/entry/instrument"]


def test_a_template_whose_mask_is_a_link_keeps_that_link(tmp_path):
    rp = _collection(tmp_path, 4)
    with h5py.File(tmp_path / "mask.h5", "w") as m:
        m["mask"] = GAPPED.pixel_mask()

    def relink(f):
        del f["/entry/instrument/detector/pixel_mask"]
        del f[MASK_PATH]
        f[MASK_PATH] = h5py.ExternalLink("mask.h5", "/mask")

    _edit_templates(tmp_path, relink)
    res = repackage_record(rp, "after")
    with h5py.File(res.masters[0].master, "r") as f:
        link = f.get(MASK_PATH, getlink=True)
        assert isinstance(link, h5py.ExternalLink) and (link.filename, link.path) == ("mask.h5", "/mask")
        assert int(f[MASK_PATH][7, 0]) == 1


def test_mask_problems_are_found_under_either_name(tmp_path):
    path = tmp_path / "x_master.h5"
    with h5py.File(path, "w") as f:
        f[MASK_PATH] = h5py.ExternalLink("gone_master.h5", MASK_PATH)
        problem = pixel_mask.mask_problem(f, GAPPED.shape)
        assert problem == (f"{MASK_PATH} (a link to gone_master.h5) cannot be read: keep the detector masters next "
                           "to the data files")
        del f[MASK_PATH]
        f[NXMX_MASK_PATH] = np.zeros((3, 3), np.uint32)  # only the NXmx name, and of another shape
        assert pixel_mask.mask_problem(f, GAPPED.shape) == (
            f"{NXMX_MASK_PATH} is not an integer mask of the frame's shape (16, 24) (it is uint32 (3, 3))")
        del f[NXMX_MASK_PATH]
        f.create_group(MASK_PATH)
        assert pixel_mask.mask_problem(f, GAPPED.shape).endswith("(it is a group)")


def test_build_sweep_master_links_by_default(tmp_path):
    from mxcubecore_interleave.nexus.plan import collection_from_record
    from mxcubecore_interleave.nexus.sweep_master import build_sweep_master

    rp = _collection(tmp_path, 4)
    _rec, coll = collection_from_record(rp, "after")
    sweep = coll.sweeps[0]
    with h5py.File(tmp_path / "core_master.h5", "w", driver="core", backing_store=False) as f:
        build_sweep_master(f, sweep, coll, "L", tmp_path, "{}", None, "2026-12-02T00:00:00")
        assert isinstance(f.get(MASK_PATH, getlink=True), h5py.ExternalLink)
    with h5py.File(tmp_path / "core_master2.h5", "w", driver="core", backing_store=False) as f:
        build_sweep_master(f, sweep, coll, "L", tmp_path, "{}", None, "2026-12-02T00:00:00", pixel_mask="copy")
        assert isinstance(f.get(MASK_PATH, getlink=True), h5py.HardLink)


def test_nxmx_reads_the_linked_mask(tmp_path):
    rp = _collection(tmp_path, 4)
    res = repackage_record(rp, "after")
    with h5py.File(res.masters[0].master, "r") as f:
        detector = nxmx.NXmx(f).entries[0].instruments[0].detectors[0]
        mask = np.asarray(detector.pixel_mask)
    assert mask.shape == GAPPED.shape and int(mask[7, 3]) == 1 and int(mask[2, 3]) == 8 + 2 * 1


def test_the_stale_cache_check_catches_a_mask_linked_after_the_group_was_filled(tmp_path, monkeypatch):
    """The order pixel_mask.py avoids: fill detectorSpecific, then link the mask. HDF5 then keeps
    the filled symbol table cached in the parent, which Neggia reads first."""
    def late(src, parent, name, mask, template_name, special):
        members = pixel_mask._members(src)
        dst = parent.create_group(name)
        pixel_mask._copy_attributes(src, dst)
        pixel_mask._copy_members(src, dst, members, mask, special)
        for bname, _kind, address in members:
            if address == mask:
                dst[bname.decode()] = h5py.ExternalLink(template_name, MASK_PATH)
        return dst

    monkeypatch.setattr(pixel_mask, "_group_linking_mask", late)
    rp = _collection(tmp_path, 4)
    res = repackage_record(rp, "after")
    assert stale_cached_groups(res.masters[0].master) == ["/entry/instrument/detector"]


def test_the_neggia_view_parses_every_object_header_as_hdf5_does(tmp_path):
    """A sweep master made from templates in the filewriter's format holds version-1 headers (the
    groups the writer makes) and version-2 ones (objects copied from the template): the stale-cache
    check reads both, and finds as many messages in each as HDF5 does."""
    res = repackage_record(_collection(tmp_path, 4), "after")
    view, versions = _File(res.masters[0].master), set()

    def compare(name, info):
        versions.add(info.hdr.version)
        assert len(list(view.messages(info.addr))) == info.hdr.nmesgs, name

    with h5py.File(res.masters[0].master, "r") as f:
        h5py.h5o.visit(f.id, compare, info=True)
    assert versions == {1, 2}


def test_a_configured_template_is_copied_with_its_mask(tmp_path):
    """Masters written before the data: the template is not a wedge master, so nothing links to it."""
    tpl = write_series(SeriesSpec(directory=tmp_path / "tpl", series="probe", n_images=1, images_per_file=1,
                                  omega_start=0, omega_increment=0.5, wavelength_A=0.9793, exposure_time=0.01,
                                  detector=GAPPED)).master
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=4, write=False, geometry=GAPPED)
    res = repackage_record(rp, "before", template=tpl, images_per_file=4)
    with h5py.File(res.masters[0].master, "r") as f:
        assert isinstance(f.get(MASK_PATH, getlink=True), h5py.HardLink)
        assert f[MASK_PATH].id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS  # as Neggia needs
        assert int(f[MASK_PATH][7, 5]) == 1
    assert stale_cached_groups(res.masters[0].master) == []


def test_copy_keeps_a_self_contained_master(tmp_path):
    """pixel_mask="copy": the master holds the template's mask (contiguous, as Neggia needs) and
    reads without any detector master."""
    rp = _collection(tmp_path, 4)
    res = repackage_record(rp, "after", pixel_mask="copy")
    for m in res.masters:
        with h5py.File(m.master, "r") as f:
            assert isinstance(f.get(MASK_PATH, getlink=True), h5py.HardLink)
            assert f[MASK_PATH].id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS
        assert stale_cached_groups(m.master) == []
    for master in tmp_path.glob("ilv_[0-9]*_master.h5"):
        master.unlink()
    with h5py.File(res.masters[0].master, "r") as f:
        assert int(f[MASK_PATH][7, 0]) == 1 and int(f[MASK_PATH][2, 3]) == 8 + 2 * 1
        assert int(f[NXMX_MASK_PATH][0, 11]) == 1


def test_the_command_line_copies_the_mask_when_asked(tmp_path):
    from mxcubecore_interleave.cli import main

    rp = _collection(tmp_path, 4)
    assert main(["repackage", "--record", str(rp), "--pixel-mask", "copy", "--no-progress"]) == 0
    with h5py.File(tmp_path / "ilv_A_master.h5", "r") as f:
        assert isinstance(f.get(MASK_PATH, getlink=True), h5py.HardLink)
    assert main(["repackage", "--record", str(rp), "--no-progress"]) == 0  # the default: a link again
    with h5py.File(tmp_path / "ilv_A_master.h5", "r") as f:
        assert isinstance(f.get(MASK_PATH, getlink=True), h5py.ExternalLink)


def test_an_unknown_policy_is_refused_before_anything_is_written(tmp_path):
    rp = _collection(tmp_path, 4)
    with pytest.raises(RepackageError, match="pixel_mask must be 'link' or 'copy', not 'links'"):
        repackage_record(rp, "after", pixel_mask="links")
    assert not list(tmp_path.glob("ilv_[AB]_master.h5"))


def test_the_link_is_relative_from_an_output_subdirectory(tmp_path):
    rp = _collection(tmp_path, 4)
    res = repackage_record(rp, "after", output_subdir="processing")
    with h5py.File(res.masters[0].master, "r") as f:
        assert f.get(MASK_PATH, getlink=True).filename == "../ilv_1_master.h5"
        assert int(f[MASK_PATH][7, 0]) == 1


def test_a_master_is_smaller_than_the_mask_it_names(tmp_path):
    """512 x 1028 frames: a 2 MB mask, which the sweep master must not hold."""
    big = DetectorGeometry(nx=1028, ny=512, detector_number="E-TEST")
    rp = interleaved_record(tmp_path, TWO_SWEEPS, images_per_file=4, geometry=big)
    res = repackage_record(rp, "after")
    mask_bytes = 512 * 1028 * 4
    for m in res.masters:
        assert m.master.stat().st_size < mask_bytes / 4


def test_a_missing_template_master_is_refused_in_one_line(tmp_path):
    rp = _collection(tmp_path, 4)
    res = repackage_record(rp, "after")
    master = res.masters[0].master
    sweep_template = _first_wedge_master(rp, res.masters[0].sweep)
    from mxcubecore_interleave.nexus.plan import collection_from_record

    _rec, coll = collection_from_record(rp, "after")
    sweep = next(s for s in coll.sweeps if s.id == res.masters[0].sweep)
    validate_master(master, sweep)  # passes with the template in place
    shutil.move(sweep_template, tmp_path / "moved.h5")
    with pytest.raises(RepackageError) as err:
        validate_master(master, sweep, use_nxmx=False)
    assert "\n" not in str(err.value)
    assert "ilv_1_master.h5" in str(err.value)


def test_a_mask_of_another_shape_is_refused(tmp_path):
    rp = _collection(tmp_path, 4)
    res = repackage_record(rp, "after")
    f = h5py.File(res.masters[0].master, "r")
    assert pixel_mask.mask_problem(f, GAPPED.shape) is None
    problem = pixel_mask.mask_problem(f, (GAPPED.ny + 1, GAPPED.nx))
    f.close()
    assert problem is not None and "(17, 24)" in problem and "(16, 24)" in problem


def test_a_float_mask_is_refused(tmp_path):
    path = tmp_path / "x_master.h5"
    with h5py.File(path, "w") as f:
        f[MASK_PATH] = np.zeros(GAPPED.shape, np.float32)
        assert "integer mask" in pixel_mask.mask_problem(f, GAPPED.shape)
        del f[MASK_PATH]
        assert pixel_mask.mask_problem(f, GAPPED.shape) is None  # no mask: nothing to check


# -- Neggia itself, where it is built (NEGGIA_PLUGIN=/path/to/dectris-neggia.so; docs/testing.md) --
NEGGIA = os.environ.get("NEGGIA_PLUGIN")


def _neggia_frames(plugin: str, master: Path, frames: list[int]) -> tuple[int, dict[int, np.ndarray]]:
    """The XDS plugin interface (plugin_open / get_header / get_data), as XDS calls it."""
    lib = ctypes.CDLL(plugin)
    info, err = (ctypes.c_int * 1024)(), ctypes.c_int(0)
    lib.plugin_open(os.fsencode(master), info, ctypes.byref(err))
    assert err.value == 0, f"plugin_open: {err.value}"
    nx, ny, nbytes, n = (ctypes.c_int() for _ in range(4))
    qx, qy = ctypes.c_float(), ctypes.c_float()
    lib.plugin_get_header(*(ctypes.byref(v) for v in (nx, ny, nbytes, qx, qy, n)), info, ctypes.byref(err))
    assert err.value == 0, f"plugin_get_header: {err.value}"
    out = {}
    for k in frames:
        buf = np.zeros(nx.value * ny.value, np.int32)
        lib.plugin_get_data(ctypes.byref(ctypes.c_int(k)), ctypes.byref(nx), ctypes.byref(ny),
                            buf.ctypes.data_as(ctypes.POINTER(ctypes.c_int)), info, ctypes.byref(err))
        assert err.value == 0, f"plugin_get_data {k}: {err.value}"
        out[k] = buf.reshape(ny.value, nx.value)
    lib.plugin_close(ctypes.byref(ctypes.c_int(0)))
    return n.value, out


@pytest.mark.skipif(not NEGGIA, reason="Neggia is not built here (NEGGIA_PLUGIN unset)")
def test_neggia_reads_frames_with_the_linked_mask_applied(tmp_path):
    rp = _collection(tmp_path, 4)
    res = repackage_record(rp, "after")
    for m in res.masters:
        n, frames = _neggia_frames(NEGGIA, m.master, [1, 4, 5, 8])
        assert n == 8
        with h5py.File(m.master, "r") as f:
            mask = f[MASK_PATH][()]
            stack = np.concatenate([f["/entry/data"][k][()] for k in sorted(f["/entry/data"])])
        for k, got in frames.items():
            want = stack[k - 1].astype(np.int32)
            want[(mask & 0x1e) != 0] = -2  # Neggia: bit 0 -> -1, bits 1-4 -> -2, others ignored
            want[(mask & 1) != 0] = -1
            np.testing.assert_array_equal(got, want)
        assert int(frames[1][7, 0]) == -1 and int(frames[1][2, 3]) == -2
