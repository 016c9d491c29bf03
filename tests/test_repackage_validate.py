"""The output checks of validate_master catch what a reader would silently get wrong."""

from __future__ import annotations


import h5py
import numpy as np
import pytest

from mxcubecore_interleave.errors import RepackageError
from mxcubecore_interleave.h5ascii import ascii_attr, nx_group
from mxcubecore_interleave.nexus import collection_from_record, repackage_record, validate_master
from mxcubecore_interleave.record import AcquisitionRecord
from tests.repackage_helpers import TWO_SWEEPS, broken_copy, interleaved_record


@pytest.fixture(params=[4, 3], ids=["L", "V"])
def written(request, tmp_path):
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=request.param)
    res = repackage_record(rp, "after")
    _rec, coll = collection_from_record(rp, "after")
    return res.masters[0].master, coll.sweeps[0], tmp_path


def test_the_written_master_passes(written):
    master, sweep, _ = written
    validate_master(master, sweep)


def test_neggia_and_yamtbx_details(written):
    master, _sweep, _ = written
    with h5py.File(master, "r") as f:
        mask = f["/entry/instrument/detector/detectorSpecific/pixel_mask"]
        assert mask.chunks is None  # Neggia needs the mask contiguous
        assert f["/entry/instrument/detector/pixel_mask"].id == mask.id  # still one dataset, hard-linked
        assert f.attrs["default"] == b"entry" and f["/entry"].attrs["default"] == b"data"
        data = f["/entry/data"]
        if "data_000001" in data and data["data_000001"].is_virtual:
            ds = data["data_000001"]
            assert (int(ds.attrs["image_nr_low"]), int(ds.attrs["image_nr_high"])) == (1, 8)
            assert ds.fillvalue == 2**16 - 1
            assert all(not vs.file_name.startswith("/") for vs in ds.virtual_sources())


@pytest.mark.parametrize("change, message", [
    (lambda f: nx_group(f["/entry"], "extra_data", "NXdata"), "exactly one NXdata"),
    (lambda f: f["/entry/instrument/detector/detectorSpecific/nimages"].write_direct(np.array(9, dtype=np.uint32)),
     "frame counts disagree"),
    (lambda f: f["/entry/sample/transformations/omega"].write_direct(np.array([0, .5, 1, 1.5, 2, 2.5, 3, 4.0])),
     "omega steps 1.0° between frames 7 and 8"),
    (lambda f: f["/entry/instrument/beam"].attrs.__setitem__("NX_class", "NXbeam"), "not a fixed-length ASCII"),
    # what only a reader that applies units and the depends_on chain sees (dxtbx through nxmx)
    (lambda f: ascii_attr(f["/entry/sample/transformations/omega"], "units", "rad"),
     r"nxmx reads an omega step of 28\.6\d*°, expected 0\.5°"),
    (lambda f: f["/entry/sample/transformations/kappa"].write_direct(np.linspace(0, 1, 8)),
     r"nxmx finds the scan axes \['kappa', 'omega'\], expected omega alone"),
    (lambda f: ascii_attr(f["/entry/sample/transformations/kappa"], "depends_on", "."),
     "nxmx finds no omega in the sample's depends_on chain"),
])
def test_broken_masters_are_refused(written, change, message):
    master, sweep, tmp_path = written
    with pytest.raises(RepackageError, match=message):
        validate_master(broken_copy(master, change), sweep)


def _rewrite_data_file(path, frames):
    """Put other frames into a data file (same dataset, compression and attributes)."""
    import hdf5plugin

    with h5py.File(path, "r") as f:
        attrs = dict(f["/entry/data/data"].attrs)
    path.chmod(0o644)
    path.unlink()
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("/entry/data/data", data=frames, chunks=(1, *frames.shape[1:]), **hdf5plugin.Bitshuffle())
        for k, v in attrs.items():
            ds.attrs[k] = v


def _frames(path):
    with h5py.File(path, "r") as f:
        return f["/entry/data/data"][()]


@pytest.mark.parametrize("a1, a2, message", [
    # A1's file gained a frame after the plan was made: dxtbx would sum 9 frames for 8 angles
    (lambda a1, a2: np.concatenate([a1, a1[-1:]]), lambda a1, a2: a2, "frame counts disagree: omega 8, data 9"),
    # 5 + 3 frames, still 8: dxtbx's lookup puts A2's first frame inside A1's file
    (lambda a1, a2: np.concatenate([a1, a1[-1:]]), lambda a1, a2: a2[1:],
     r"frame 5 \(ilv_3\) read through the sweep master differs from frame 1 of ilv_3_data_000001\.h5"),
], ids=["one-more-frame", "shifted-boundary"])
def test_frame_counts_are_the_linked_files_own(tmp_path, a1, a2, message):
    """Layout L: totals and frame offsets come from each linked dataset's shape[0], opened through
    its link (what dxtbx's EigerFilewriter reader sums), not from the plan."""
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=4)
    res = repackage_record(rp, "after")
    _rec, coll = collection_from_record(rp, "after")
    f1, f3 = tmp_path / "d" / "ilv_1_data_000001.h5", tmp_path / "d" / "ilv_3_data_000001.h5"
    one, three = _frames(f1), _frames(f3)
    _rewrite_data_file(f1, a1(one, three))
    _rewrite_data_file(f3, a2(one, three))
    with pytest.raises(RepackageError, match=message):
        validate_master(res.masters[0].master, coll.sweeps[0])


def test_absolute_link_is_refused(tmp_path):
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=4)
    res = repackage_record(rp, "after")
    _rec, coll = collection_from_record(rp, "after")

    def absolute(f):
        link = f["/entry/data"].get("data_000001", getlink=True)
        del f["/entry/data/data_000001"]
        f["/entry/data/data_000001"] = h5py.ExternalLink(str(tmp_path / "d" / link.filename), link.path)

    with pytest.raises(RepackageError, match="is not a relative file name"):
        validate_master(broken_copy(res.masters[0].master, absolute), coll.sweeps[0])


def test_before_names_planned_files_from_the_source_master(tmp_path):
    """A planned wedge that lists only its detector master: data file names follow DECTRIS naming."""
    from mxcubecore_interleave.eiger import SeriesSpec, write_series
    from tests.repackage_helpers import SMALL

    tpl = write_series(SeriesSpec(directory=tmp_path / "tpl", series="probe", n_images=1, images_per_file=1,
                                  omega_start=0, omega_increment=0.5, wavelength_A=1.0, exposure_time=0.01,
                                  detector=SMALL)).master
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=3, write=False)
    rec = AcquisitionRecord.load(rp)
    for w in rec.wedges:
        w.data_files = []
    rec.save(rp)
    with pytest.raises(RepackageError, match="images_per_file is needed"):
        repackage_record(rp, "before", template=tpl)
    res = repackage_record(rp, "before", template=tpl, images_per_file=3)
    with h5py.File(res.masters[1].master, "r") as f:
        ds = f["/entry/data/data_000001"]
        names = sorted({vs.file_name for vs in ds.virtual_sources()})
    assert names == ["ilv_2_data_000001.h5", "ilv_2_data_000002.h5", "ilv_4_data_000001.h5", "ilv_4_data_000002.h5"]
    files = {d.file: d.n for d in AcquisitionRecord.load(rp).data_files}
    assert files["ilv_2_data_000001.h5"] == 3 and files["ilv_2_data_000002.h5"] == 1


def test_old_firmware_template_without_nxmx_fields(tmp_path):
    """A "nearly NeXus" master (no definition, no NXtransformations): the sweep master keeps that
    flavour (no definition added) and rewrites the DECTRIS goniometer fields."""
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=4)
    for m in (tmp_path / "d").glob("ilv_?_master.h5"):
        m.chmod(0o644)
        with h5py.File(m, "r+") as f:
            del f["/entry/definition"]
            del f["/entry/sample/transformations"]
    res = repackage_record(rp, "after")
    with h5py.File(res.masters[1].master, "r") as f:
        assert "definition" not in f["/entry"]
        assert list(f["/entry/sample/goniometer/omega"][()]) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
        assert float(f["/entry/sample/goniometer/omega_range_total"][()]) == 4.0
        assert "transformations" not in f["/entry/sample"]


# -- the source series: what the detector stored must be the regular scan the master will state --
def _edit(master, change):
    master.chmod(0o644)
    with h5py.File(master, "r+") as f:
        change(f)


def _set(path, values):
    def change(f):
        for group in ("transformations", "goniometer"):
            f[f"/entry/sample/{group}/{path}"].write_direct(np.asarray(values, dtype=np.float64))
    return change


@pytest.mark.parametrize("change, message", [
    # frame 3 of wedge A1 at 1.2° instead of 1.0°: omega[0] and the declared step alone look fine
    (_set("omega", [0.0, 0.5, 1.2, 1.5]), r"ilv_1_master\.h5: omega steps 0\.7° between frames 2 and 3"),
    # the whole wedge steps 1.0°, its omega_increment_set says 0.5°
    (lambda f: (_set("omega", [0.0, 1.0, 2.0, 3.0])(f), _set("omega_end", [1.0, 2.0, 3.0, 4.0])(f)),
     r"ilv_1_master\.h5: omega steps 1° between frames 1 and 2 .*declares 0\.5°"),
    # the angles are regular but every frame's exposure spans 1.0° (omega_end - omega)
    (_set("omega_end", [1.0, 1.5, 2.0, 2.5]), r"ilv_1_master\.h5: frame 1 spans 1° .*declares 0\.5°"),
])
def test_irregular_source_omega_is_refused(tmp_path, change, message):
    from mxcubecore_interleave.nexus import repackage_series

    d = tmp_path / "d"
    rp = interleaved_record(d, TWO_SWEEPS, images_per_file=4)
    _edit(d / "ilv_1_master.h5", change)
    with pytest.raises(RepackageError, match=message):
        repackage_record(rp, "after")
    with pytest.raises(RepackageError, match=message):  # the command line's path: series found on disk
        repackage_series([d], dry_run=True)
    assert not list(d.glob("ilv_[AB]_master.h5"))
