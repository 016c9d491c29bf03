"""The simulated Eiger's files against real DECTRIS files and third-party readers."""

import os
from pathlib import Path

import fabio
import h5py
import hdf5plugin  # noqa: F401  (registers the bitshuffle filter)
import numpy as np
import nxmx
import pytest

from mxcubecore_interleave.eiger import (
    DetectorGeometry,
    SeriesSpec,
    SeriesWriter,
    frame_tag,
    series_files,
    split_counts,
    synthetic_frame,
    write_series,
)
from mxcubecore_interleave.errors import DetectorError, OverwriteRefusedError

from .conftest import DECTRIS_DIR

REAL = sorted(DECTRIS_DIR.glob("*_data_*.h5"))

SMALL = DetectorGeometry(nx=64, ny=48, dead_rows=(20,), beam_center_x_px=31.5, beam_center_y_px=22.0)


def spec(tmp_path: Path, **kw) -> SeriesSpec:
    base = dict(directory=tmp_path, series="pfx_1", n_images=7, images_per_file=3, omega_start=10.0,
                omega_increment=0.5, wavelength_A=0.9793, exposure_time=0.01, detector=SMALL,
                first_image_number=101, kappa=20.0, phi=30.0)
    base.update(kw)
    return SeriesSpec(**base)


def fixed_ascii(attr_owner, name="NX_class") -> tuple[int, int]:
    t = attr_owner.attrs.get_id(name).get_type()
    assert isinstance(t, h5py.h5t.TypeStringID)
    assert not t.is_variable_str()
    return t.get_cset(), t.get_strpad()


def test_naming_and_split():
    assert split_counts(7, 3) == [3, 3, 1]
    assert split_counts(6, 3) == [3, 3]
    master, data = series_files("x_2", 7, 3)
    assert master == "x_2_master.h5"
    assert data == ["x_2_data_000001.h5", "x_2_data_000002.h5", "x_2_data_000003.h5"]


def test_frame_tag_round_trip_and_mask():
    mask = SMALL.pixel_mask()
    for n in (0, 1, 65535, 65536, 70000, 2**32 - 1):
        f = synthetic_frame(n, 3.0, SMALL.shape, mask=mask)
        assert frame_tag(f) == n
        assert (f[20, 2:] == 65535).all()  # masked row painted with the maximum
    a, b = synthetic_frame(5, 1.0, SMALL.shape), synthetic_frame(5, 40.0, SMALL.shape)
    assert not np.array_equal(a[1:], b[1:])  # spots move with omega
    with pytest.raises(ValueError):
        synthetic_frame(-1, 0.0, SMALL.shape)


@pytest.mark.skipif(not REAL and not os.environ.get("CI"), reason="real DECTRIS data files not available")
def test_layout_matches_real_dectris_data_files(tmp_path):
    real = h5py.File(REAL[0], "r")
    result = write_series(spec(tmp_path, detector=DetectorGeometry(nx=1028, ny=512), n_images=2, images_per_file=2))
    ours = h5py.File(result.data_files[0], "r")
    for f in (real, ours):
        ds = f["/entry/data/data"]
        assert ds.ndim == 3 and ds.dtype == np.uint16
        assert ds.chunks == (1, 512, 1028)
        filt = ds.id.get_create_plist().get_filter(0)
        assert filt[0] == 32008  # bitshuffle
        assert filt[2][2] == 2 and filt[2][4] == 2  # element size 2 bytes, LZ4
        assert ds.attrs["image_nr_low"].dtype == np.uint64 and ds.attrs["image_nr_high"].dtype == np.uint64
        assert ds.attrs["image_nr_low"] == 1 and ds.attrs["image_nr_high"] == 2
        assert fixed_ascii(f["/entry"]) == fixed_ascii(real["/entry"])
        assert fixed_ascii(f["/entry/data"]) == fixed_ascii(real["/entry/data"])
        assert f["/entry"].attrs["NX_class"] == b"NXentry"
        assert f["/entry/data"].attrs["NX_class"] == b"NXdata"
    assert set(real["/entry"]) == set(ours["/entry"]) == {"data"}
    assert hdf5_format(result.data_files[0]) == hdf5_format(REAL[0])


def hdf5_format(path) -> tuple:
    """(superblock version, object header versions by name, B-tree v1 nodes, symbol-table nodes):
    what HDF5 format a file was written in, as a reader parsing its bytes meets it."""
    raw = Path(path).read_bytes()
    headers: dict[str, int] = {}

    def note(name: bytes, info) -> None:  # a visitor returning anything but None stops the visit
        headers[name.decode()] = info.hdr.version

    with h5py.File(path, "r") as f:
        headers["/"] = h5py.h5o.get_info(f.id).hdr.version
        h5py.h5o.visit(f.id, note, info=True)
    return raw[8], headers, raw.count(b"TREE"), raw.count(b"SNOD")


def test_files_are_written_in_the_filewriters_hdf5_format(tmp_path):
    """Superblock 2, version-2 (checksummed) object headers, groups of link messages and a
    version-1 B-tree chunk index: what the DECTRIS filewriter's files hold (compared with a real
    data file above, where ``../shared/data`` is present), not h5py's default version-0 format."""
    result = write_series(spec(tmp_path))
    for path in (result.master, *result.data_files):
        superblock, headers, _trees, snods = hdf5_format(path)
        assert superblock == 2 and snods == 0, path.name
        assert set(headers.values()) == {2}, path.name
    assert hdf5_format(result.data_files[0])[2] == 1  # the one chunked dataset's index


def test_series_readable_by_nxmx_fabio_h5py(tmp_path):
    result = write_series(spec(tmp_path))
    assert result.complete and result.n_written == 7
    assert [p.name for p in result.data_files] == ["pfx_1_data_000001.h5", "pfx_1_data_000002.h5", "pfx_1_data_000003.h5"]
    with h5py.File(result.master, "r") as f:
        links = f["/entry/data"]
        assert sorted(links) == ["data_000001", "data_000002", "data_000003"]
        for name in links:
            link = links.get(name, getlink=True)
            assert isinstance(link, h5py.ExternalLink) and not Path(link.filename).is_absolute()
        assert [links[n].shape[0] for n in sorted(links)] == [3, 3, 1]
        assert [int(links[n].attrs["image_nr_low"]) for n in sorted(links)] == [1, 4, 7]
        ds = f["/entry/instrument/detector/detectorSpecific"]
        assert int(ds["nimages"][()]) * int(ds["ntrigger"][()]) == 7
        assert ds["pixel_mask"].chunks is None and ds["pixel_mask"].dtype == np.uint32
        assert ds["pixel_mask"][20, 5] == 1
        assert b"simulated" in ds["eiger_fw_version"][()]
        for obj in (f["/entry"], f["/entry/instrument/detector"], f["/entry/sample/transformations/omega"]):
            fixed_ascii(obj) if "NX_class" in obj.attrs else fixed_ascii(obj, "units")
        # every frame, in order, with its image number
        tags = [frame_tag(links[n][i]) for n in sorted(links) for i in range(links[n].shape[0])]
        assert tags == list(range(101, 108))

        entry = nxmx.NXmx(f).entries[0]
        omega = entry.samples[0].depends_on.depends_on.depends_on
        assert omega.path == "/entry/sample/transformations/omega"
        assert np.allclose(omega[()].magnitude, 10.0 + 0.5 * np.arange(7))
        assert np.allclose(omega.end[()].magnitude, 10.5 + 0.5 * np.arange(7))
        assert entry.instruments[0].beams[0].incident_wavelength.to("angstrom").magnitude == pytest.approx(0.9793, rel=1e-6)
        det = entry.instruments[0].detectors[0]
        assert det.sensor_material == "Si"
        assert tuple(det.modules[0].data_size) == (48, 64)
        assert det.beam_center_x.magnitude == pytest.approx(31.5)
        kappa = entry.samples[0].depends_on.depends_on
        assert kappa.path.endswith("kappa") and np.allclose(kappa[()].magnitude, 20.0)
        phi = entry.samples[0].depends_on
        for axis, value in ((kappa, 20.0), (phi, 30.0)):  # they stand still: end = start, step 0
            assert np.allclose(axis.end[()].magnitude, value)
            assert axis.increment_set.magnitude == pytest.approx(0.0)
        assert np.allclose(omega.increment_set.magnitude, 0.5)
        gonio = f["/entry/sample/goniometer"]
        assert np.allclose(gonio["kappa_end"][()], 20.0) and np.allclose(gonio["phi_end"][()], 30.0)
        assert gonio["kappa_range_total"][()] == 0.0 and gonio["omega_range_total"][()] == pytest.approx(3.5)

    img = fabio.open(str(result.master))
    assert img.nframes == 7
    assert frame_tag(img.data) == 101 and frame_tag(img.getframe(6).data) == 107


def test_overwrite_refused_and_nothing_lost(tmp_path):
    first = write_series(spec(tmp_path))
    before = {p: p.read_bytes() for p in [first.master, *first.data_files]}
    with pytest.raises(OverwriteRefusedError, match="refusing to overwrite"):
        write_series(spec(tmp_path, first_image_number=999))
    assert {p: p.read_bytes() for p in before} == before
    # a single clashing data file is enough to refuse the whole series
    (tmp_path / "other_1_data_000002.h5").write_bytes(b"precious")
    with pytest.raises(OverwriteRefusedError, match="other_1_data_000002"):
        write_series(spec(tmp_path, series="other_1"))
    assert (tmp_path / "other_1_data_000002.h5").read_bytes() == b"precious"
    assert not (tmp_path / "other_1_data_000001.h5").exists()


def test_abort_keeps_acquired_frames_and_leaves_no_temporary_file(tmp_path):
    class Abort(Exception):
        pass

    def on_frame(i):
        if i == 4:
            raise Abort

    with pytest.raises(Abort):
        write_series(spec(tmp_path), on_frame=on_frame)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["pfx_1_data_000001.h5", "pfx_1_data_000002.h5", "pfx_1_master.h5"]
    with h5py.File(tmp_path / "pfx_1_master.h5", "r") as f:
        assert f["/entry"].attrs["acquisition_status"] == b"aborted"
        assert int(f["/entry/instrument/detector/detectorSpecific/nimages"][()]) == 5
        assert int(f["/entry/instrument/detector/detectorSpecific/nimages_planned"][()]) == 7
        d2 = f["/entry/data/data_000002"]
        assert d2.shape[0] == 2 and int(d2.attrs["image_nr_high"]) == 5
        assert len(f["/entry/sample/transformations/omega"]) == 5
    assert fabio.open(str(tmp_path / "pfx_1_master.h5")).nframes == 5


def test_abort_before_first_frame_writes_nothing(tmp_path):
    w = SeriesWriter(spec(tmp_path))
    result = w.close(aborted=True)
    assert result.master is None and result.n_written == 0 and result.aborted
    assert list(tmp_path.iterdir()) == []


def test_bad_specs_and_frames_refused(tmp_path):
    with pytest.raises(DetectorError, match="at least one image"):
        spec(tmp_path, n_images=0)
    with pytest.raises(DetectorError, match="wavelength"):
        spec(tmp_path, wavelength_A=0)
    with pytest.raises(DetectorError, match="compression"):
        spec(tmp_path, compression="gzip9")
    w = SeriesWriter(spec(tmp_path, n_images=1))
    with pytest.raises(DetectorError, match="does not match"):
        w.write(np.zeros((3, 3), np.uint16))
    w.write(synthetic_frame(1, 0.0, SMALL.shape))
    with pytest.raises(DetectorError, match="holds 1 images"):
        w.write(synthetic_frame(2, 0.0, SMALL.shape))
    w.close()
    with pytest.raises(DetectorError, match="already closed"):
        w.close()


def test_uint32_and_lz4(tmp_path):
    geo = DetectorGeometry(nx=32, ny=16, bit_depth=32)
    r = write_series(spec(tmp_path, detector=geo, compression="lz4", n_images=2))
    with h5py.File(r.data_files[0], "r") as f:
        ds = f["/entry/data/data"]
        assert ds.dtype == np.uint32
        assert ds.id.get_create_plist().get_filter(0)[0] == 32004
        assert frame_tag(ds[1]) == 102
