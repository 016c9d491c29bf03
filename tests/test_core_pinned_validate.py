"""validate.py pinned: every refusal provoked by an input or a master file made to trigger it
(matched by what the message means), and the checks that must let a good input through."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest

from mxcubecore_interleave.errors import RepackageError
from mxcubecore_interleave.nexus import collection_from_record, repackage_record, validate_master
from mxcubecore_interleave.nexus.model import Collection, DataFile, Segment, Sweep, Wedge
from mxcubecore_interleave.nexus.validate import VDS_BLIND_READERS, choose_layout, links_possible, validate_inputs
from tests.repackage_helpers import TWO_SWEEPS, broken_copy, interleaved_record

SHAPE = (4, 6)


# -- inputs, built from models and tiny data files ---------------------------------------------
def _data_file(path: Path, n: int, *, shape=SHAPE, dtype="uint16", compression: dict | None = None) -> DataFile:
    frames = np.arange(n * shape[0] * shape[1], dtype=dtype).reshape(n, *shape)
    with h5py.File(path, "w") as f:
        f.create_dataset("/entry/data/data", data=frames, chunks=(1, *shape), **(compression or {}))
    return DataFile(path, n)


def _wedge(order, sweep, first_global, omega_start, files, *, inc=1.0, wavelength=1.0, n=None, start=0):
    segs = [Segment(f, start, f.n - start) for f in files]
    return Wedge(order=order, sweep=sweep, first_global=first_global, n=sum(s.count for s in segs) if n is None else n,
                 omega_start=omega_start, omega_increment=inc, wavelength_A=wavelength, segments=segs,
                 name=f"{sweep}{order}")


def _sweep(sid, wedges, *, shape=SHAPE, dtype="uint16", index=0):
    s = Sweep(id=sid, index=index, wedges=wedges, wavelength_A=wedges[0].wavelength_A, frame_shape=shape,
              dtype=np.dtype(dtype))
    s.number()
    return s


def _collection(*sweeps):
    return Collection(acquisition_id="t", prefix="p", base_dir=Path("."), sweeps=list(sweeps))


@pytest.fixture
def files(tmp_path):
    """Four data files of 2 frames, bitshuffle/LZ4 as the detector writes them."""
    return [_data_file(tmp_path / f"f{i}.h5", 2, compression=hdf5plugin.Bitshuffle()) for i in range(4)]


def _good(files, inc=1.0):
    a = _sweep("A", [_wedge(0, "A", 1, 0.0, files[:1], inc=inc), _wedge(2, "A", 5, 2 * inc, files[2:3], inc=inc)])
    b = _sweep("B", [_wedge(1, "B", 3, 0.0, files[1:2], inc=inc), _wedge(3, "B", 7, 2 * inc, files[3:4], inc=inc)],
               index=1)
    return _collection(a, b)


@pytest.mark.parametrize("inc", [1.0, 0.5, -1.0])
def test_a_good_collection_passes_without_warnings(files, inc):
    assert validate_inputs(_good(files, inc)) == []


def test_uncompressed_files_raise_no_warning_and_gzip_one(tmp_path):
    plain = _data_file(tmp_path / "plain.h5", 2)
    gz = _data_file(tmp_path / "gz.h5", 2, compression={"compression": "gzip"})
    lz4 = _data_file(tmp_path / "lz4.h5", 2, compression=hdf5plugin.LZ4())
    coll = _collection(_sweep("A", [_wedge(0, "A", 1, 0.0, [plain]), _wedge(1, "A", 3, 2.0, [gz]),
                                    _wedge(2, "A", 5, 4.0, [lz4])]))
    warnings = validate_inputs(coll)
    assert len(warnings) == 1
    assert "gz.h5" in warnings[0] and "[1]" in warnings[0] and "32008" in warnings[0]


def test_a_truncated_data_file_is_refused(tmp_path, files):
    coll = _good(files)
    _data_file(files[2].path, 1, compression=hdf5plugin.Bitshuffle())  # the record says 2 frames
    with pytest.raises(RepackageError, match=r"f2\.h5 holds 1 frames; sweep A needs frame 2 of it \(truncated"):
        validate_inputs(coll)
    assert validate_inputs(coll, check_files=False) == []  # the file is opened only when asked


def test_a_data_file_of_other_frames_is_refused(tmp_path, files):
    coll = _good(files)
    _data_file(files[3].path, 2, shape=(4, 5))
    with pytest.raises(RepackageError, match=r"f3\.h5 holds uint16 frames of \(4, 5\); sweep B expects"):
        validate_inputs(coll)
    _data_file(files[3].path, 2, dtype="int32")
    with pytest.raises(RepackageError, match=r"f3\.h5 holds int32 frames"):
        validate_inputs(coll)


def test_a_missing_data_file_is_refused(files):
    coll = _good(files)
    files[1].path.unlink()
    with pytest.raises(RepackageError, match=r"f1\.h5"):
        validate_inputs(coll)


def _refused(coll, message):
    with pytest.raises(RepackageError, match=message):
        validate_inputs(coll, check_files=False)


def test_a_zero_step_sweep_is_refused(files):
    _refused(_collection(_sweep("A", [_wedge(0, "A", 1, 0.0, files[:1], inc=0.0)])),
             "sweep A has an omega increment of 0: not a rotation sweep")


def test_wedges_of_another_step_or_wavelength_are_refused(files):
    _refused(_collection(_sweep("A", [_wedge(0, "A", 1, 0.0, files[:1]),
                                      _wedge(1, "A", 3, 2.0, files[1:2], inc=1.001)])),
             r"sweep A: A1 steps omega by 1\.001°, the sweep by 1\.0°")
    _refused(_collection(_sweep("A", [_wedge(0, "A", 1, 0.0, files[:1]),
                                      _wedge(1, "A", 3, 2.0, files[1:2], wavelength=1.0001)])),
             r"sweep A: A1 was collected at 1\.00010 Å, the sweep at 1\.00000 Å \(frame 3\)")
    # within the tolerances: the same sweep
    validate_inputs(_collection(_sweep("A", [_wedge(0, "A", 1, 0.0, files[:1]),
                                             _wedge(1, "A", 3, 2.0, files[1:2], inc=1.0 + 1e-8,
                                                    wavelength=1.0 + 1e-7)])), check_files=False)


@pytest.mark.parametrize("inc, start2, kind", [(1.0, 2.5, "gap"), (1.0, 1.5, "overlap"),
                                               (-1.0, -2.5, "gap"), (-1.0, -1.5, "overlap")])
def test_omega_gaps_and_overlaps_are_refused(files, inc, start2, kind):
    coll = _collection(_sweep("A", [_wedge(0, "A", 1, 0.0, files[:1], inc=inc),
                                    _wedge(1, "A", 3, start2, files[1:2], inc=inc)]))
    _refused(coll, rf"sweep A: omega {kind} between frame 2 \(A0, ends at {2 * inc:g}°\) and frame 3 \(A1, "
                   rf"starts at {start2:g}°\)")


def test_wedge_and_files_must_agree_on_the_frame_count(files):
    _refused(_collection(_sweep("A", [_wedge(0, "A", 1, 0.0, files[:2], n=3)])),
             "A0: its data files give 4 frames, the wedge 3")


def test_global_numbers_and_orders_must_be_disjoint(files):
    a = _sweep("A", [_wedge(0, "A", 1, 0.0, files[:1])])
    _refused(_collection(a, _sweep("B", [_wedge(0, "B", 3, 0.0, files[1:2])])), "wedge 0 belongs to sweeps A and B")
    _refused(_collection(a, _sweep("B", [_wedge(1, "B", 2, 0.0, files[1:2])])),
             r"global images 2\.\.2 belong to both A0 and B1")


def test_sweeps_must_share_frame_shape_and_dtype(files):
    a = _sweep("A", [_wedge(0, "A", 1, 0.0, files[:1])])
    _refused(_collection(a, _sweep("B", [_wedge(1, "B", 3, 0.0, files[1:2])], shape=(4, 5))),
             r"sweep B has uint16 frames of \(4, 5\), sweep A uint16 frames of \(4, 6\)")
    _refused(_collection(a, _sweep("B", [_wedge(1, "B", 3, 0.0, files[1:2])], dtype="int32")),
             "sweep B has int32 frames")


# -- layout --------------------------------------------------------------------------------------
def _layout_sweep(tmp_path, counts, *, start=0, file_n=None):
    ws, om = [], 0.0
    for i, c in enumerate(counts):
        f = DataFile(tmp_path / f"s{i}.h5", file_n[i] if file_n else c)
        ws.append(Wedge(order=i, sweep="A", first_global=1 + i * 10, n=c, omega_start=om, omega_increment=1.0,
                        wavelength_A=1.0, segments=[Segment(f, start if i == 0 else 0, c)]))
        om += c
    return _sweep("A", ws)


@pytest.mark.parametrize("counts", [[2, 2, 2], [2, 2, 1], [3]])
def test_links_fit_whole_files_of_equal_size(tmp_path, counts):
    s = _layout_sweep(tmp_path, counts)
    assert links_possible(s) is None
    assert choose_layout(s) == ("L", None) == choose_layout(s, "L")


@pytest.mark.parametrize("counts, file_n, start, reason", [
    ([2, 2], [3, 2], 0, r"wedge frames 1\.\.2 of s0\.h5 are not a whole data file"),
    ([2, 2], [3, 2], 1, r"wedge frames 2\.\.3 of s0\.h5 are not a whole data file"),
    ([2, 1, 2], None, 0, r"s1\.h5 holds 1 frames, s0\.h5 2: links need data files of equal size"),
    ([2, 3], None, 0, r"s1\.h5 holds 3 frames, s0\.h5 2"),
])
def test_links_refuse_partial_or_unequal_files(tmp_path, counts, file_n, start, reason):
    s = _layout_sweep(tmp_path, counts, start=start, file_n=file_n)
    assert re.search(reason, links_possible(s))
    layout, warning = choose_layout(s)
    assert layout == "V" and "virtual dataset" in warning and VDS_BLIND_READERS in warning
    with pytest.raises(RepackageError, match="cannot be written as links only.*" + reason.split(":")[0]):
        choose_layout(s, "L")


def test_layout_v_by_configuration_warns(tmp_path):
    layout, warning = choose_layout(_layout_sweep(tmp_path, [2, 2]), "V")
    assert layout == "V" and "by configuration" in warning and VDS_BLIND_READERS in warning


# -- written masters, each broken one way ---------------------------------------------------------
@pytest.fixture(params=[4, 3], ids=["L", "V"])
def written(request, tmp_path):
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=request.param)
    res = repackage_record(rp, "after")
    _rec, coll = collection_from_record(rp, "after")
    return res.masters[0].master, coll.sweeps[0]


def _is_v(master):
    with h5py.File(master, "r") as f:
        return f["/entry/data"].get("data_000001", getlink=True).__class__ is h5py.HardLink


def _rebuild_vds(sweep, *, absolute=False, drop_last=False, skip_name=None):
    """A new data_000001 mapping the sweep's segments (optionally absolute, or one frame short)."""
    def change(f):
        old = f["/entry/data/data_000001"]
        shape, dtype, fill = old.shape, old.dtype, old.fillvalue
        del f["/entry/data/data_000001"]
        layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
        k = 0
        segs = sweep.segments()
        for i, seg in enumerate(segs):
            count = seg.count - (1 if drop_last and i == len(segs) - 1 else 0)
            name = str(seg.file.path.resolve()) if absolute else seg.file.path.name
            if skip_name and seg.file.path.name == skip_name:
                name = "not-there.h5"
            src = h5py.VirtualSource(name, seg.file.dataset, shape=(seg.file.n, *shape[1:]))
            layout[k:k + count] = src[seg.start:seg.start + count]
            k += seg.count
        f.create_virtual_dataset("/entry/data/data_000001", layout, fillvalue=fill)
    return change


def test_v_refuses_absolute_sources_unmapped_frames_missing_sources_and_pixels(written):
    master, sweep = written
    if not _is_v(master):
        pytest.skip("layout V only")
    validate_master(broken_copy(master, _rebuild_vds(sweep)), sweep)  # the rebuilt one is fine
    with pytest.raises(RepackageError, match="source path .* is not a relative file name"):
        validate_master(broken_copy(master, _rebuild_vds(sweep, absolute=True)), sweep)
    with pytest.raises(RepackageError, match="data_000001 maps 7 of its 8 frames"):
        validate_master(broken_copy(master, _rebuild_vds(sweep, drop_last=True)), sweep)
    first = sweep.segments()[0].file.path.name
    with pytest.raises(RepackageError, match="maps frames from not-there.h5, which does not exist"):
        validate_master(broken_copy(master, _rebuild_vds(sweep, skip_name=first)), sweep)

    def pixels(f):
        data = f["/entry/data/data_000001"][()]
        del f["/entry/data/data_000001"]
        f["/entry/data/data_000001"] = data
    with pytest.raises(RepackageError, match="holds pixel data"):
        validate_master(broken_copy(master, pixels), sweep)


def _relink(name, filename=None, dataset=None):
    def change(f):
        lk = f["/entry/data"].get(name, getlink=True)
        del f[f"/entry/data/{name}"]
        f[f"/entry/data/{name}"] = h5py.ExternalLink(filename or lk.filename, dataset or lk.path)
    return change


def test_l_refuses_links_to_the_wrong_place(written):
    master, sweep = written
    if _is_v(master):
        pytest.skip("layout L only")
    other = sweep.segments()[1].file.path.name
    with pytest.raises(RepackageError, match=rf"data_000001 points to {other}:/entry/data/data, expected "):
        validate_master(broken_copy(master, _relink("data_000001", filename=other)), sweep)
    with pytest.raises(RepackageError, match=r"data_000001 points to .*:/entry/data/other, expected"):
        validate_master(broken_copy(master, _relink("data_000001", dataset="/entry/data/other")), sweep)
    with pytest.raises(RepackageError, match="points to missing.h5"):
        validate_master(broken_copy(master, _relink("data_000002", filename="missing.h5")), sweep)
    with pytest.raises(RepackageError, match="1 links for 2 data files of sweep A"):
        validate_master(broken_copy(master, lambda f: f["/entry/data"].__delitem__("data_000002")), sweep)
    with pytest.raises(RepackageError, match="without gaps"):
        validate_master(broken_copy(master, lambda f: f["/entry/data"].move("data_000002", "data_000003")), sweep)
    with pytest.raises(RepackageError, match="only data_NNNNNN names"):
        validate_master(broken_copy(master, lambda f: f["/entry/data"].move("data_000002", "data_2")), sweep)


def test_links_before_the_data_exist_count_as_planned(written):
    master, sweep = written
    if _is_v(master):
        pytest.skip("layout L only")
    gone = broken_copy(master, _relink("data_000002", filename=sweep.segments()[1].file.path.name))
    validate_master(gone, sweep, read_frames=False)
    with pytest.raises(RepackageError, match="points to missing.h5"):
        validate_master(broken_copy(master, _relink("data_000002", filename="missing.h5")), sweep, read_frames=False)


@pytest.mark.parametrize("change, message", [
    (lambda f: f.__delitem__("/entry/data"), "no /entry/data group"),
    (lambda f: (f.__delitem__("/entry/sample/transformations/omega"), f.__delitem__("/entry/sample/goniometer/omega")),
     r"no omega angles"),
    (lambda f: f.__delitem__("/entry/instrument/detector/detectorSpecific/ntrigger"), "nimages and ntrigger"),
    (lambda f: f["/entry/instrument/beam/incident_wavelength"].write_direct(np.array(1.5)), "incident_wavelength is"),
    (lambda f: f.__delitem__("/entry/instrument/beam/incident_wavelength"), "incident_wavelength is None"),
])
def test_broken_masters_are_refused(written, change, message):
    master, sweep = written
    with pytest.raises(RepackageError, match=message):
        validate_master(broken_copy(master, change), sweep, use_nxmx=False)


def _shift(name, by, frames=slice(None)):
    def change(f):
        for group in ("transformations", "goniometer"):
            p = f"/entry/sample/{group}/{name}"
            if p in f:
                v = f[p][()]
                v[frames] += by
                f[p].write_direct(v)
    return change


def test_omega_refusals(written):
    master, sweep = written
    with pytest.raises(RepackageError, match=r"omega starts at 0\.25°, sweep A at 0\.0°"):
        validate_master(broken_copy(master, _shift("omega", 0.25)), sweep, use_nxmx=False)
    with pytest.raises(RepackageError, match=r"omega_end is not omega \+ 0\.5° for every frame"):
        validate_master(broken_copy(master, _shift("omega_end", 0.1, slice(3, 4))), sweep, use_nxmx=False)


def test_the_name_and_the_wedges_are_checked_first(written, tmp_path):
    master, sweep = written
    with pytest.raises(RepackageError, match="must end in _master.h5"):
        validate_master(master, sweep, target=tmp_path / "sweep_A.h5")
    empty = Sweep(id="A", index=0, wedges=[], wavelength_A=1.0, frame_shape=SHAPE, dtype=np.dtype("uint16"))
    with pytest.raises(RepackageError, match="sweep A has no wedges"):
        validate_master(master, empty)
    target = master.parent / "later_master.h5"
    with pytest.raises(RepackageError, match=r"later_master\.h5 \(not written\): no /entry/data group"):
        validate_master(broken_copy(master, lambda f: f.__delitem__("/entry/data")), sweep, target=target)


def test_tolerances_scale_with_the_step_and_the_wavelength(files):
    """Relative tolerances (1e-6 of the step, 1e-5 of the wavelength), checked off 1.0 where a
    product and a quotient differ."""
    def two(inc2, wl2, inc=0.5, wl=0.5):
        return _collection(_sweep("A", [_wedge(0, "A", 1, 0.0, files[:1], inc=inc, wavelength=wl),
                                        _wedge(1, "A", 3, 2 * inc, files[1:2], inc=inc2, wavelength=wl2)]))
    validate_inputs(two(0.5 + 2e-7, 0.5), check_files=False)  # within 1e-6 x 0.5
    _refused(two(0.5 + 1e-6, 0.5), "steps omega by")  # beyond 5e-7, inside 1e-6 / 0.5
    validate_inputs(two(0.5, 0.5 + 2e-6), check_files=False)  # within 1e-5 x 0.5
    _refused(two(0.5, 0.5 + 1e-5), "one wavelength per sweep")  # beyond 5e-6, inside 1e-5 / 0.5


# -- the whole tree, the blocks, the frames and nxmx: each refusal from a master made for it -----
def _sweep_layout(f, segs, order=lambda s: None):
    """Delete the master's virtual dataset and map the sweep's segments again, in sweep order:
    a segment's frames as one piece, or one by one in ``order(segment)`` (indices into it) when
    that is not None. Returns the layout (for a test to spoil further) and the fill value."""
    old = f["/entry/data/data_000001"]
    shp, fill = old.shape, old.fillvalue
    del f["/entry/data/data_000001"]
    layout = h5py.VirtualLayout(shape=shp, dtype=old.dtype)
    k = 0
    for s in segs:
        src = h5py.VirtualSource(s.file.path.name, s.file.dataset, shape=(s.file.n, *shp[1:]))
        picked = order(s)
        if picked is None:
            layout[k:k + s.count, :, :] = src[s.start:s.start + s.count, :, :]
        else:
            for j, i in enumerate(picked):
                layout[k + j] = src[s.start + i]
        k += s.count
    return layout, fill


def _first_frames(name, n):
    """A change that keeps only the first ``n`` values of the goniometer's ``name`` (both copies)."""
    def change(f):
        for g in ("transformations", "goniometer"):
            v = f[f"/entry/sample/{g}/{name}"][()][:n]
            del f[f"/entry/sample/{g}/{name}"]
            f[f"/entry/sample/{g}/{name}"] = v
    return change


def _refuses(master, sweep, change, message, **kw):
    with pytest.raises(RepackageError, match=message):
        validate_master(broken_copy(master, change), sweep, **kw)


def test_the_written_masters_pass_as_they_are(written):
    master, sweep = written
    validate_master(master, sweep)
    validate_master(master, sweep, read_frames=False)


def test_the_tree_is_checked_whole(written):
    master, sweep = written

    def utf8_class(f):
        g = f["/entry/instrument"]
        del g.attrs["NX_class"]
        g.attrs["NX_class"] = "NXinstrument"  # variable-length
    _refuses(master, sweep, utf8_class, r"NX_class of /entry/instrument is not a fixed-length ASCII string")

    def absolute(f):
        f["/entry/instrument/calibration"] = h5py.ExternalLink(str(master.parent / "calib.h5"), "/gain")
    _refuses(master, sweep, absolute, r"/entry/instrument/calibration is an external link to '/.*calib\.h5', not a "
                                      "relative file name")

    def dangling(f):
        f["/entry/instrument/calibration"] = h5py.ExternalLink("calib.h5", "/gain")
    _refuses(master, sweep, dangling, r"/entry/instrument/calibration links to calib\.h5, which does not exist next "
                                      "to the sweep master")
    with h5py.File(master.parent / "calib.h5", "w") as f:
        f["gain"] = np.arange(3.0)
    validate_master(broken_copy(master, dangling), sweep)  # now it resolves

    def second_nxdata(f):
        g = f.create_group("/entry/more")
        g.attrs["NX_class"] = np.bytes_("NXdata")
    _refuses(master, sweep, second_nxdata, r"needs exactly one NXdata and one NXdetector, has \['entry/data', "
                                           r"'entry/more'\] and \['entry/instrument/detector'\]")

    def no_detector(f):
        f["/entry/instrument/detector"].attrs["NX_class"] = np.bytes_("NXcollection")
    _refuses(master, sweep, no_detector, r"needs exactly one NXdata and one NXdetector, has \['entry/data'\] and \[\]")


def test_frame_counts_and_steps(written):
    master, sweep = written

    def nimages(f):
        f["/entry/instrument/detector/detectorSpecific/nimages"][()] = 7
    _refuses(master, sweep, nimages, r"frame counts disagree: omega 8, data 8, nimages\*ntrigger 7, sweep 8")

    def ntrigger(f):
        f["/entry/instrument/detector/detectorSpecific/ntrigger"][()] = 2
    _refuses(master, sweep, ntrigger, r"nimages\*ntrigger 16")

    _refuses(master, sweep, _first_frames("omega", 7), r"frame counts disagree: omega 7, data 8", use_nxmx=False)
    _refuses(master, sweep, _shift("omega", 0.1, slice(5, None)), r"omega steps 0\.6\d*° between frames 5 and 6, "
             r"expected 0\.5°", use_nxmx=False)
    _refuses(master, sweep, _shift("omega", -0.1, slice(5, None)), r"omega steps 0\.(4|39)\d*° between frames 5 and 6",
             use_nxmx=False)

    _refuses(master, sweep, _first_frames("omega_end", 7), r"omega_end is not omega \+ 0\.5° for every frame", use_nxmx=False)

    def no_end(f):
        for g in ("transformations", "goniometer"):
            del f[f"/entry/sample/{g}/omega_end"]
    validate_master(broken_copy(master, no_end), sweep, use_nxmx=False)  # omega_end is optional
    # within the tolerance (1e-6 of the step) the start is the sweep's
    validate_master(broken_copy(master, _shift("omega", 1e-8)), sweep, use_nxmx=False)
    _refuses(master, sweep, _shift("omega", -0.25), r"omega starts at -0\.25°", use_nxmx=False)
    ok = broken_copy(master, lambda f: f["/entry/instrument/beam/incident_wavelength"].write_direct(
        np.array(sweep.wavelength_A * (1 + 5e-6))))
    validate_master(ok, sweep, use_nxmx=False)
    _refuses(master, sweep, lambda f: f["/entry/instrument/beam/incident_wavelength"].write_direct(
        np.array(sweep.wavelength_A * (1 - 2e-5))), "incident_wavelength is", use_nxmx=False)


def _other_frames(path: Path) -> Path:
    """A data file beside ``path`` of the same shape and type whose frames are all different."""
    other = path.parent / f"other_{path.name}"
    with h5py.File(path, "r") as f:
        data = f["/entry/data/data"][()]
    with h5py.File(other, "w") as f:
        f.create_dataset("/entry/data/data", data=data + 1, chunks=(1, *data.shape[1:]))
    return other


def test_l_blocks_are_opened_and_their_frames_compared(written, monkeypatch):
    master, sweep = written
    if _is_v(master):
        pytest.skip("layout L only")
    segs = sweep.segments()
    second = segs[1].file.path

    def group(f):
        lk = f["/entry/data"].get("data_000002", getlink=True)
        del f["/entry/data/data_000002"]
        f["/entry/data/data_000002"] = h5py.ExternalLink(lk.filename, "/entry/data")
    # the dataset name is checked first: a link to a group of the right file is a wrong place
    _refuses(master, sweep, group, r"data_000002 points to .*:/entry/data, expected")
    for make, message in [
        (lambda d: d[:, 0], r"data_000002 \(.*\) is not a 3-D image stack"),
        (lambda d: d[:, :, :5], r"data_000002 \(.*\) holds uint16 frames of \(16, 5\), sweep A uint16 frames of "
                                r"\(16, 24\)"),
        (lambda d: d.astype(np.int32), r"data_000002 \(.*\) holds int32 frames of \(16, 24\)"),
        (lambda d: d[:3], r"frame counts disagree: omega 8, data 7"),
    ]:
        with h5py.File(second, "r") as f:
            data = f["/entry/data/data"][()]
        backup = second.read_bytes()
        second.chmod(0o644)
        with h5py.File(second, "w") as f:
            f["/entry/data/data"] = make(data)
        with pytest.raises(RepackageError, match=message):
            validate_master(master, sweep)
        second.write_bytes(backup)
    validate_master(master, sweep)

    def unopenable(f):
        lk = f["/entry/data"].get("data_000002", getlink=True)
        (master.parent / "broken.h5").write_text("not HDF5")
        del f["/entry/data/data_000002"]
        f["/entry/data/data_000002"] = h5py.ExternalLink("broken.h5", lk.path)
    seg = segs[1]
    wrong = dataclasses_replace_file(sweep, 1, master.parent / "broken.h5")
    with pytest.raises(RepackageError, match=r"data_000002 cannot be opened through its link to broken\.h5"):
        validate_master(broken_copy(master, unopenable), wrong)
    assert seg.file.path == second


    # HDF5_EXT_PREFIX sends the link to another file of that name: its frames are not the data file's
    elsewhere = master.parent / "elsewhere"
    elsewhere.mkdir()
    _other_frames(second).rename(elsewhere / second.name)
    k = sweep.wedges[0].n + 1 if len(sweep.wedges[0].segments) == 1 else 3
    monkeypatch.setenv("HDF5_EXT_PREFIX", str(elsewhere))
    with pytest.raises(RepackageError, match=rf"frame {k} \(.*\) read through the sweep master differs from "
                                             rf"frame 1 of {second.name}"):
        validate_master(master, sweep)


def dataclasses_replace_file(sweep, i: int, path: Path):
    """The sweep with its i-th segment's data file renamed (the master made to point there)."""
    import dataclasses

    segs = [s for w in sweep.wedges for s in w.segments]
    target = segs[i]
    wedges = []
    for w in sweep.wedges:
        new = [Segment(DataFile(path, s.file.n, s.file.dataset), s.start, s.count) if s is target else s
               for s in w.segments]
        wedges.append(dataclasses.replace(w, segments=new))
    return dataclasses.replace(sweep, wedges=wedges)


def test_v_mapping_is_checked_frame_by_frame(written):
    master, sweep = written
    if not _is_v(master):
        pytest.skip("layout V only")
    segs = sweep.segments()

    def rebuild(mapping, shape=None, dtype=None):
        """data_000001 from (master first, count, segment, file first) pieces."""
        def change(f):
            old = f["/entry/data/data_000001"]
            shp, dt, fill = shape or old.shape, dtype or old.dtype, old.fillvalue
            del f["/entry/data/data_000001"]
            layout = h5py.VirtualLayout(shape=shp, dtype=dt)
            for k, count, seg, start in mapping:
                src = h5py.VirtualSource(seg.file.path.name, seg.file.dataset, shape=(seg.file.n, *old.shape[1:]))
                layout[k:k + count] = src[start:start + count]
            f.create_virtual_dataset("/entry/data/data_000001", layout, fillvalue=fill)
        return change

    good = []
    k = 0
    for s in segs:
        good.append((k, s.count, s, s.start))
        k += s.count
    validate_master(broken_copy(master, rebuild(good)), sweep)
    # the first two pieces swapped: the first frame of the sweep comes from the wrong file
    a, b = good[0], good[1]
    if a[1] == b[1]:
        swapped = [(a[0], a[1], b[2], b[3]), (b[0], b[1], a[2], a[3]), *good[2:]]
        _refuses(master, sweep, rebuild(swapped), rf"frame 1 \(.*\) read through the sweep master differs from "
                                                  rf"frame 1 of {a[2].file.path.name}")
    # a piece shifted by one frame inside its file (the last wanted frame maps one further)
    last = good[-1]
    if last[1] > 1 and last[3] == 0:
        shifted = [*good[:-1], (last[0], last[1] - 1, last[2], 1), (last[0] + last[1] - 1, 1, last[2], 0)]
        _refuses(master, sweep, rebuild(shifted), r"read through the sweep master differs from frame")
    with pytest.raises(RepackageError, match=r"data_000001 holds uint16 frames of \(16, 24\), sweep A int32"):
        import dataclasses
        validate_master(master, dataclasses.replace(sweep, dtype=np.dtype("int32")))

    def partial_frames(f):
        layout, fill = _sweep_layout(f, segs)
        shp = layout.shape
        src = h5py.VirtualSource(segs[0].file.path.name, segs[0].file.dataset, shape=(segs[0].file.n, *shp[1:]))
        layout[0:1, :, :12] = src[0:1, :, 12:]  # half a frame from elsewhere
        f.create_virtual_dataset("/entry/data/data_000001", layout, fillvalue=fill)
    _refuses(master, sweep, partial_frames, r"maps parts of frames, not whole frames|maps \d+ of its 8 frames")


def test_mixed_or_strange_data_groups_are_refused(written):
    master, sweep = written

    def mixed(f):
        f["/entry/data/data_000009"] = h5py.SoftLink("/entry/data/data_000001")
    _refuses(master, sweep, mixed, r"without gaps|must be external links only")

    def soft_first(f):
        lk = f["/entry/data"].get("data_000001", getlink=True)
        if isinstance(lk, h5py.HardLink):
            f["/entry/keep"] = f["/entry/data/data_000001"]
        else:
            f["/entry/keep"] = h5py.ExternalLink(lk.filename, lk.path)
        del f["/entry/data/data_000001"]
        f["/entry/data/data_000001"] = h5py.SoftLink("/entry/keep")
    _refuses(master, sweep, soft_first, r"/entry/data must be external links only \(layout L\) or one virtual "
                                        r"dataset data_000001 \(layout V\), has \['data_000001'")

    def extra(f):
        f["/entry/data/data_x"] = np.zeros(1)
    _refuses(master, sweep, extra, r"/entry/data holds \[.*'data_x'\]; only data_NNNNNN names are allowed")

    def empty(f):
        for k in list(f["/entry/data"]):
            del f["/entry/data"][k]
    _refuses(master, sweep, empty, r"/entry/data holds \[\]; only data_NNNNNN")

    def other_names(f):
        f["/entry/data/frames_dark"] = np.zeros(1)  # not data*: let through
    validate_master(broken_copy(master, other_names), sweep, use_nxmx=False)


def test_what_nxmx_reads_is_checked_too(written):
    master, sweep = written

    def nm(f):
        wl = f["/entry/instrument/beam/incident_wavelength"]
        wl.attrs["units"] = np.bytes_("nm")
    _refuses(master, sweep, nm, r"nxmx reads wavelength \[9\.79\d*\] Å, expected 0\.9793")
    validate_master(broken_copy(master, nm), sweep, use_nxmx=False)  # our own check reads the number only

    def rad(f):
        for name in ("omega", "omega_end"):
            f[f"/entry/sample/transformations/{name}"].attrs["units"] = np.bytes_("rad")
    _refuses(master, sweep, rad, r"nxmx reads an omega step of 28\.6\d*°, expected 0\.5°")

    def kappa_moves(f):
        k = f["/entry/sample/transformations/kappa"]
        k[...] = np.arange(k.shape[0], dtype=k.dtype)
    _refuses(master, sweep, kappa_moves, r"nxmx finds the scan axes \['omega', 'kappa'\]|scan axes .*kappa")

    def no_omega(f):
        chi = f.create_dataset("/entry/sample/transformations/chi", data=np.zeros(8))
        for k, v in (("depends_on", "."), ("transformation_type", "rotation"), ("units", "deg")):
            chi.attrs[k] = np.bytes_(v)
        chi.attrs["vector"] = np.array([1.0, 0.0, 0.0])
        del f["/entry/sample/depends_on"]
        f["/entry/sample/depends_on"] = np.bytes_("/entry/sample/transformations/chi")
    _refuses(master, sweep, no_omega, r"nxmx finds no omega in the sample's depends_on chain \(chi\)")

    def nowhere(f):
        del f["/entry/sample/depends_on"]
        f["/entry/sample/depends_on"] = np.bytes_("/entry/sample/nowhere")
    _refuses(master, sweep, nowhere, r"the nxmx reader cannot parse it")

    def other_definition(f):
        del f["/entry/definition"]
        f["/entry/definition"] = np.bytes_("NXtomo")
    _refuses(master, sweep, other_definition, r"nxmx finds no NXmx entry")

    def no_definition(f):
        del f["/entry/definition"]
    validate_master(broken_copy(master, no_definition), sweep)  # "nearly NeXus": nothing for nxmx to check

    def start_in_transformations(f):
        for name in ("omega", "omega_end"):
            v = f[f"/entry/sample/transformations/{name}"][()]
            f[f"/entry/sample/transformations/{name}"].write_direct(v + 0.25)
    _refuses(master, sweep, start_in_transformations, r"omega starts at 0\.25°")


def _rewrite(path: Path, frames: np.ndarray) -> None:
    path.chmod(0o644)
    with h5py.File(path, "w") as f:
        f.create_dataset("/entry/data/data", data=frames, chunks=(1, *frames.shape[1:]))


def test_l_frames_are_compared_at_the_index_the_sweep_names(written, monkeypatch):
    master, sweep = written
    if _is_v(master):
        pytest.skip("layout L only")
    import dataclasses

    w0 = sweep.wedges[0]
    s0 = w0.segments[0]
    # the sweep says its first frame is the data file's second: the link's first frame is not it
    later = dataclasses.replace(sweep, wedges=[dataclasses.replace(w0, segments=[Segment(s0.file, 1, s0.count)]),
                                               *sweep.wedges[1:]])
    with pytest.raises(RepackageError, match=rf"frame 1 \(.*\) read through the sweep master differs from frame 2 "
                                             rf"of {s0.file.path.name}"):
        validate_master(master, later)
    # a link redirected (HDF5_EXT_PREFIX) while the data file itself is gone: unreadable, named
    second = sweep.segments()[1].file.path
    elsewhere = master.parent / "elsewhere"
    elsewhere.mkdir()
    shutil.copyfile(second, elsewhere / second.name)
    second.rename(master.parent / "moved.h5")
    monkeypatch.setenv("HDF5_EXT_PREFIX", str(elsewhere))
    k = w0.n + 1
    with pytest.raises(RepackageError, match=rf"frame {k} \(.*\) cannot be read through the sweep master or from "
                                             rf"{second.name} \(frame 1\): "):
        validate_master(master, sweep)


def test_v_whole_mapping_and_source_lengths(written):
    master, sweep = written
    if not _is_v(master):
        pytest.skip("layout V only")
    segs = sweep.segments()
    first = segs[0]
    assert first.count == 3  # 3 frames per file: the wanted frames are the file's first only

    def middle_swapped(f):
        layout, fill = _sweep_layout(f, segs, lambda s: [0, 2, 1] if s is first else None)
        f.create_virtual_dataset("/entry/data/data_000001", layout, fillvalue=fill)
    name = first.file.path.name
    _refuses(master, sweep, middle_swapped, rf"data_000001 maps frames 1\.\.1 to {name} 1\.\.; sweep A has frames "
                                            rf"1\.\.3 from {name} 1\.\.$")
    with h5py.File(first.file.path, "r") as f:
        frames = f["/entry/data/data"][()]
    _rewrite(first.file.path, frames[:2])
    with pytest.raises(RepackageError, match=rf"data_000001 maps frames 1\.\.3 of {name}, which holds 2 \(the rest "
                                             r"would read as fill values\)"):
        validate_master(master, sweep)


def test_merge_joins_only_runs_that_continue_in_both_the_sweep_and_the_same_source():
    from mxcubecore_interleave.nexus.validate import _merge

    assert _merge([]) == []
    a, b = ("a.h5", "/entry/data/data"), ("b.h5", "/entry/data/data")
    # given out of order; 0..2 and 3..4 continue in the sweep and in a.h5 (source 10..12, 13..14)
    runs = [(3, 2, *a, 13), (0, 3, *a, 10), (5, 1, *a, 20), (6, 2, *b, 0), (8, 1, *b, 2), (10, 1, *b, 3)]
    assert _merge(runs) == [(0, 5, *a, 10),   # joined
                            (5, 1, *a, 20),   # continues the sweep, not the source
                            (6, 3, *b, 0),    # joined across the file change of the sweep
                            (10, 1, *b, 3)]   # continues the source, not the sweep (frame 9 missing)
    # the same frames in another dataset of the same file, or another file, are not joined
    assert _merge([(0, 1, "a.h5", "/x", 0), (1, 1, "a.h5", "/y", 1)]) == [(0, 1, "a.h5", "/x", 0),
                                                                         (1, 1, "a.h5", "/y", 1)]
    assert _merge([(0, 1, "a.h5", "/x", 0), (1, 1, "c.h5", "/x", 1)]) == [(0, 1, "a.h5", "/x", 0),
                                                                         (1, 1, "c.h5", "/x", 1)]
    # three in a row become one, counts added
    assert _merge([(0, 2, *a, 0), (2, 3, *a, 2), (5, 4, *a, 5)]) == [(0, 9, *a, 0)]
