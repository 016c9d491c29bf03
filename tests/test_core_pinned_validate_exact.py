"""validate.py pinned, part two: what nxmx reads from a master (each check of ``_check_nxmx``
tripped by a file written to trip it, and its tolerances at their bounds), the master checks'
tolerances and messages, and the exact results of the helpers (``_Direct``, ``_Stack``,
``_storage_text``, ``_source_lengths``). The masters are written once for the module; every
test changes a copy."""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import h5py
import hdf5plugin
import numpy as np
import pytest

from mxcubecore_interleave.errors import RepackageError
from mxcubecore_interleave.nexus import collection_from_record, repackage_record, validate_master
from mxcubecore_interleave.nexus.datafiles import one_open_per_file
from mxcubecore_interleave.nexus.model import Collection, DataFile, Segment, Sweep, Wedge
from mxcubecore_interleave.nexus.validate import (DURIN_FIRST_FILE_RULE, _check_nxmx, _Direct, _source_lengths,
                                                  _Stack, _storage_text, choose_layout, links_possible,
                                                  nxmx_available, validate_inputs)
from tests.repackage_helpers import TWO_SWEEPS, broken_copy, interleaved_record

T = "/entry/sample/transformations/"
WL = "/entry/instrument/beam/incident_wavelength"
# found by search: w + 1e-5·w and inc + 1e-6·inc are exact in binary, so the difference is the bound itself
WL_AT_BOUND = 0.9496642310313774
INC_AT_BOUND = 0.5677370465972942


@pytest.fixture(scope="module")
def masters(tmp_path_factory):
    """Sweep A's master in layout L (4 frames a file) and V (3), with its sweep; never changed."""
    out = {}
    for layout, per_file in (("L", 4), ("V", 3)):
        rp = interleaved_record(tmp_path_factory.mktemp(layout), TWO_SWEEPS, images_per_file=per_file)
        res = repackage_record(rp, "after")
        out[layout] = (res.masters[0].master, collection_from_record(rp, "after")[1].sweeps[0])
    return out


def _replace(path: str, values, dtype=None):
    """A change that rewrites one dataset with new values (optionally another dtype), attributes kept."""
    def change(f):
        attrs = dict(f[path].attrs)
        del f[path]
        f[path] = np.asarray(values, dtype=dtype)
        for k, v in attrs.items():
            f[path].attrs[k] = v
    return change


def _all(*changes):
    def change(f):
        for c in changes:
            c(f)
    return change


def _cut(n):
    """Every rotation axis of the sample (values and ends) cut to its first ``n`` frames."""
    def change(f):
        for name in ("omega", "omega_end", "kappa", "kappa_end", "phi", "phi_end"):
            _replace(T + name, f[T + name][()][:n])(f)
    return change


def _no_end(f):
    del f[T + "omega_end"]


def _nx(master, change=lambda f: None, n=8, **sweep):
    """_check_nxmx on a changed copy of ``master``, for a sweep of 0°, 0.5° steps, 0.9793 Å
    (sweep A) unless ``sweep`` says otherwise."""
    s = SimpleNamespace(**{"omega_start": 0.0, "omega_increment": 0.5, "wavelength_A": 0.9793, **sweep})
    copy = broken_copy(master, change)
    with h5py.File(copy, "r") as f:
        _check_nxmx(f, Path("m"), s, n)


def _nx_refuses(master, change, message, **kw):
    with pytest.raises(RepackageError, match=message):
        _nx(master, change, **kw)


# -- what nxmx reads --------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["L", "V"])
def test_nxmx_lets_the_written_masters_and_their_variants_through(masters, layout):
    master, _ = masters[layout]
    assert nxmx_available()
    _nx(master)
    _nx(master, _no_end)  # no omega_end: the step is the median of the differences
    _nx(master, _replace(T + "omega_end", np.arange(1, 8) * 0.5))  # an omega_end of other length: ignored
    # a sweep off 0°: the start compared is omega[0], the sweep's own
    _nx(master, _all(_replace(T + "omega", np.arange(8) * 0.5 + 10),
                     _replace(T + "omega_end", np.arange(1, 9) * 0.5 + 10)),
        omega_start=10.0)


def test_nxmx_wavelength_within_1e5_of_the_sweep(masters):
    master, _ = masters["L"]
    _nx(master, _replace(WL, 0.9793 * (1 + 5e-6)))
    # 1e-5 Å off at 0.9793 Å is beyond 1e-5 x 0.9793 (inside 1e-5 / 0.9793)
    _nx_refuses(master, _replace(WL, 0.9793 + 1e-5), r"^m: nxmx reads wavelength \[0\.97931\d*\] Å, expected 0\.9793$")
    _nx_refuses(master, _replace(WL, 0.9793 - 1e-5), r"nxmx reads wavelength \[0\.97929\d*\] Å")
    # the bound itself is inside
    _nx(master, _replace(WL, WL_AT_BOUND + 1e-5 * WL_AT_BOUND), wavelength_A=WL_AT_BOUND)


def test_nxmx_scan_length_and_scan_axes(masters):
    master, _ = masters["L"]
    _nx_refuses(master, lambda f: None, r"^m: nxmx reads 8 omega angles \(dxtbx's scan length\) for 7 frames$", n=7)
    # one frame: no axis moves, nothing scans, and that is right
    _nx(master, _cut(1), n=1)

    def kappa_moves(f):
        _cut(2)(f)
        f[T + "kappa"][...] = [0.0, 1.0]
    _nx_refuses(master, kappa_moves, r"^m: nxmx finds the scan axes \[.*'kappa'.*\], expected omega alone$", n=2)


def test_nxmx_scan_start(masters):
    master, _ = masters["L"]
    _nx_refuses(master, lambda f: None, r"^m: nxmx reads scan start 0\.0°, expected 0\.25°$", omega_start=0.25)
    # within 1e-6 of the step, the bound included
    _nx(master, omega_start=1e-6 * 0.5)
    _nx_refuses(master, lambda f: None, "scan start", omega_start=1.1e-6 * 0.5)
    # float32 angles near 300° carry ~1.5e-5° of rounding: the tolerance grows with them
    f32 = _all(_replace(T + "omega", np.arange(8) * 0.5 + 300.1, np.float32),
               _replace(T + "omega_end", np.arange(1, 9) * 0.5 + 300.1, np.float32))
    _nx(master, f32, omega_start=300.1)


def test_nxmx_omega_step(masters):
    master, _ = masters["L"]
    step = r"^m: nxmx reads an omega step of 0\.6\d*°, expected 0\.5°$"
    # from omega_end - omega when omega_end is there, even though the differences are right
    _nx_refuses(master, _replace(T + "omega_end", np.arange(8) * 0.5 + 0.6), step)
    # from the differences without omega_end, or with one of another length
    spread = _replace(T + "omega", np.arange(8) * 0.6)
    _nx_refuses(master, _all(spread, _no_end), step)
    _nx_refuses(master, _all(spread, _replace(T + "omega_end", np.arange(7) * 0.6 + 0.5)), step)
    _nx_refuses(master, _all(_cut(2), _no_end, _replace(T + "omega", [0.0, 0.6])), step, n=2)
    # one frame without omega_end: the sweep's step stands (no median of nothing, no warning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _nx(master, _all(_cut(1), _no_end), n=1)
    # the bound itself is inside
    _nx(master, _all(_cut(1), _replace(T + "omega", [0.0]),
                     _replace(T + "omega_end", [INC_AT_BOUND + 1e-6 * INC_AT_BOUND])),
        n=1, omega_increment=INC_AT_BOUND)


def test_nxmx_signal_length_of_a_virtual_dataset(masters):
    master, _ = masters["V"]
    _nx_refuses(master, _cut(7), r"^m: nxmx's signal .*data_000001.* holds 8 frames, expected 7$", n=7)
    # no NXdata at all (validate_master refuses that before): no signal to compare, no error
    _nx(master, lambda f: f["/entry/data"].attrs.__setitem__("NX_class", np.bytes_("NXcollection")))


# -- validate_master: tolerances, the goniometer copy, the name in messages --------------------
def _moved(sweep: Sweep, by: float = 0.0, **kw) -> Sweep:
    return dataclasses.replace(sweep, wedges=[dataclasses.replace(w, omega_start=w.omega_start + by)
                                              for w in sweep.wedges], **kw)


def _both(name, values, dtype=None):
    return _all(*(_replace(f"/entry/sample/{g}/{name}", values, dtype) for g in ("transformations", "goniometer")))


def test_master_tolerances_at_their_bounds(masters):
    master, sweep = masters["L"]
    ok = dict(use_nxmx=False)
    validate_master(master, _moved(sweep, 1e-6 * 0.5), **ok)  # the start's bound is inside
    with pytest.raises(RepackageError, match="omega starts at 0.0°"):
        validate_master(master, _moved(sweep, 1.1e-6 * 0.5), **ok)
    validate_master(broken_copy(master, _replace(WL, WL_AT_BOUND + 1e-5 * WL_AT_BOUND)),
                    dataclasses.replace(sweep, wavelength_A=WL_AT_BOUND), **ok)
    with pytest.raises(RepackageError, match=r"incident_wavelength is \[0\.97931\d*\], sweep A is at 0\.9793 Å"):
        validate_master(broken_copy(master, _replace(WL, 0.9793 + 1e-5)), sweep, **ok)


def test_master_float32_angles_near_300_degrees(masters):
    """The tolerance follows the stored float type of omega and of omega_end, each."""
    master, sweep = masters["L"]
    later = _moved(sweep, 300.1)
    om, end = np.arange(8) * 0.5 + 300.1, np.arange(1, 9) * 0.5 + 300.1
    validate_master(broken_copy(master, _all(_both("omega", om), _both("omega_end", end))), later)
    # float32 omega, no omega_end: the start is 300.1 within float32's rounding
    no_end = _all(*(lambda f, g=g: f.__delitem__(f"/entry/sample/{g}/omega_end")
                    for g in ("transformations", "goniometer")))
    validate_master(broken_copy(master, _all(_both("omega", om, np.float32), no_end)), later, use_nxmx=False)
    # exact omega, float32 omega_end: the spans are 0.5 within float32's rounding
    validate_master(broken_copy(master, _all(_both("omega", om), _both("omega_end", end, np.float32))), later,
                    use_nxmx=False)


def test_master_reads_the_goniometer_copy_when_transformations_has_none(masters):
    master, sweep = masters["L"]

    def only_goniometer(f):
        for name in ("omega", "omega_end"):
            del f[T + name]
    validate_master(broken_copy(master, only_goniometer), sweep, use_nxmx=False)
    bent = _all(only_goniometer,
                lambda f: f["/entry/sample/goniometer/omega_end"].write_direct(np.arange(8) * 0.5 + 0.6))
    with pytest.raises(RepackageError,
                       match=r"/entry/sample/goniometer/omega_end is not omega \+ 0\.5° for every frame"):
        validate_master(broken_copy(master, bent), sweep, use_nxmx=False)


def test_master_messages_name_the_file(masters):
    master, sweep = masters["L"]
    copy = broken_copy(master, _replace(T + "kappa", np.arange(8.0)))
    with pytest.raises(RepackageError, match=rf"^{re.escape(str(copy))}: nxmx finds the scan axes"):
        validate_master(copy, sweep)
    copy = broken_copy(master, lambda f: f["/entry/instrument"].attrs.__setitem__("NX_class", "NXinstrument"))
    with pytest.raises(RepackageError, match=rf"^{re.escape(str(copy))}: NX_class of /entry/instrument"):
        validate_master(copy, sweep)
    w0 = sweep.wedges[0]
    later = dataclasses.replace(sweep, wedges=[dataclasses.replace(w0, segments=[Segment(w0.segments[0].file, 1, 4)]),
                                               *sweep.wedges[1:]])
    with pytest.raises(RepackageError, match=rf"^{re.escape(str(master))}: frame 1 \(.*\) read through the sweep"):
        validate_master(master, later)


@pytest.mark.parametrize("dtype", [h5py.string_dtype("ascii"), h5py.string_dtype("utf-8", 12)],
                         ids=["variable-length ascii", "fixed-length utf-8"])
def test_nx_class_must_be_fixed_length_and_ascii_both(masters, dtype):
    master, sweep = masters["L"]

    def change(f):
        g = f["/entry/instrument"]
        del g.attrs["NX_class"]
        g.attrs.create("NX_class", "NXinstrument", dtype=dtype)
    with pytest.raises(RepackageError, match="NX_class of /entry/instrument is not a fixed-length ASCII string"):
        validate_master(broken_copy(master, change), sweep)


# -- helpers, exact ----------------------------------------------------------------------------
@pytest.fixture
def stack_file(tmp_path):
    """Three frames of 4 x 6 (one chunk each) in /entry/data/data, two in /entry/data/other."""
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("/entry/data/data", data=np.arange(72, dtype="uint16").reshape(3, 4, 6), chunks=(1, 4, 6))
        f.create_dataset("/entry/data/other", data=np.zeros((2, 4, 6), "uint16"))
    return path


def test_stack_indexes_frames_from_zero_and_names_them_from_one(stack_file):
    with h5py.File(stack_file, "r") as f:
        st = _Stack(f["/entry/data/data"].id)
        data = f["/entry/data/data"][()]
        assert st.shape == (3, 4, 6) and st.dtype == np.uint16
        assert st.frame_chunks is True and st.filters == ()  # asked once, kept
        plain = _Stack(f["/entry/data/other"].id)
        assert plain.frame_chunks is False and plain.filters == ()
        for i in (0, 2):
            st.check_index(i)
        for i, text in ((3, "frame 4 of 3"), (-1, "frame 0 of 3")):
            with pytest.raises(IndexError, match=f"^{text}$"):
                st.check_index(i)
        got = st.frame(1)
        assert got.dtype == np.uint16 and np.array_equal(got, data[1])
        assert st.raw(2) == (0, data[2].tobytes())  # one frame per chunk, stored as it is
        with pytest.raises(IndexError, match="^frame 4 of 3$"):
            st.raw(3)


def test_direct_outside_a_run_opens_each_dataset_once_and_closes_it(stack_file):
    d = _Direct()
    assert d.run is None
    st = d.get(stack_file, "/entry/data/data")
    assert isinstance(st, _Stack) and st.shape == (3, 4, 6)
    assert d.get(stack_file, "/entry/data/data") is st
    assert d.get(stack_file, "/entry/data/other").shape == (2, 4, 6)
    fid, kept = d.own[(stack_file, "/entry/data/data")]
    assert kept is st and fid.valid
    with pytest.raises(KeyError):
        d.get(stack_file, "/entry/data/none")
    assert (stack_file, "/entry/data/none") not in d.own
    d.close()
    assert not st.id.valid and not fid.valid and d.own == {} and d.stacks == {}


def test_direct_uses_the_linked_dataset_when_it_is_that_very_file(stack_file, tmp_path, monkeypatch):
    other = tmp_path / "b.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("/entry/data/data", data=np.zeros((3, 4, 6), "uint16"))
    with h5py.File(stack_file, "r") as fa, h5py.File(other, "r") as fb:
        via = _Stack(fa["/entry/data/data"].id)
        d = _Direct()
        assert d.get(tmp_path / "." / "a.h5", "/entry/data/data", via) is via
        assert d.stacks == {} and d.own == {}  # not kept: the link's open closes it
        for path, dataset, v in ((stack_file, "/entry/data/other", via),       # another dataset of the file
                                 (stack_file, "/entry/data/data", _Stack(fb["/entry/data/data"].id))):  # another file
            st = d.get(path, dataset, v)
            assert st is not v and (path, dataset) in d.own
        d.close()
        monkeypatch.setenv("HDF5_EXT_PREFIX", str(tmp_path))  # links may lead elsewhere: open the file itself
        st = d.get(stack_file, "/entry/data/data", via)
        assert st is not via and d.stacks == {(stack_file, "/entry/data/data"): st}
        d.close()
        assert via.id.valid


def test_direct_inside_a_run_uses_the_runs_open_dataset(stack_file):
    with one_open_per_file() as run:
        dsid, kept = run.open(stack_file, "/entry/data/data")
        assert kept
        d = _Direct()
        assert d.run is run
        with h5py.File(stack_file, "r") as f:
            via = _Stack(f["/entry/data/data"].id)
            st = d.get(stack_file, "/entry/data/data", via)
        assert st is not via and st.id is dsid and d.own == {}
        assert d.get(stack_file, "/entry/data/other").id is not dsid  # not in the run: opened here
        d.close()
        assert dsid.valid  # the run's, not closed here


def test_storage_text_names_every_filter_in_order():
    assert _storage_text(("<u2", (32008, 32004, 1, 2, 307), (1, 16, 24))) == \
        "uint16, bitshuffle-LZ4+LZ4+deflate+shuffle+307, chunks (1, 16, 24)"
    assert _storage_text(("<i4", (), None)) == "int32, no filter, chunks None"


def _file(path: Path, n: int, compression: dict | None = None) -> DataFile:
    with h5py.File(path, "w") as f:
        f.create_dataset("/entry/data/data", data=np.arange(n * 24, dtype="uint16").reshape(n, 4, 6), chunks=(1, 4, 6),
                         **(compression or {}))
    return DataFile(path, n)


def _one_sweep(files, sid="A"):
    ws = [Wedge(order=i, sweep=sid, first_global=1 + 2 * i, n=2, omega_start=2.0 * i, omega_increment=1.0,
                wavelength_A=1.0, segments=[Segment(f, 0, 2)], name=f"{sid}{i}") for i, f in enumerate(files)]
    s = Sweep(id=sid, index=0, wedges=ws, wavelength_A=1.0, frame_shape=(4, 6), dtype=np.dtype("uint16"))
    s.number()
    return s


def test_mixed_storage_is_told_exactly_and_leads_to_layout_v(tmp_path):
    bs = _file(tmp_path / "f0.h5", 2, hdf5plugin.Bitshuffle())
    gz = _file(tmp_path / "f1.h5", 2, {"compression": "gzip"})
    lz = _file(tmp_path / "f2.h5", 2, hdf5plugin.LZ4())
    s = _one_sweep([bs, gz, lz])
    warns = validate_inputs(Collection(acquisition_id="t", prefix="p", base_dir=tmp_path, sweeps=[s]))
    assert warns == ["f1.h5 uses HDF5 filter(s) [1]: Neggia and durin read only bitshuffle/LZ4 (32008) and LZ4 (32004)"]
    # the first file that differs is named (not the later LZ4 one), against the first
    assert s.mixed_storage == ("f1.h5 is stored as uint16, deflate, chunks (1, 4, 6), the sweep's first data file "
                               f"f0.h5 as uint16, bitshuffle-LZ4, chunks (1, 4, 6): {DURIN_FIRST_FILE_RULE}")
    assert links_possible(s) == s.mixed_storage
    layout, warning = choose_layout(s)
    assert layout == "V" and s.mixed_storage in warning
    with pytest.raises(RepackageError, match=r"cannot be written as links only: f1\.h5 is stored as .*\. write the "
                                             r"sweep as layout V \(--layout auto or V\)$"):
        choose_layout(s, "L")
    # each sweep is compared with its own first file
    s2 = _one_sweep([_file(tmp_path / f"g{i}.h5", 2, hdf5plugin.LZ4()) for i in range(2)], "B")
    s2.index = 1
    for w in s2.wedges:
        w.order += 10
        w.first_global += 10
    validate_inputs(Collection(acquisition_id="t", prefix="p", base_dir=tmp_path, sweeps=[_one_sweep([bs]), s2]))
    assert s2.mixed_storage is None


def test_a_missing_data_file_is_named_with_its_sweep(tmp_path):
    s = _one_sweep([_file(tmp_path / "f0.h5", 2), DataFile(tmp_path / "gone.h5", 2)])
    with pytest.raises(RepackageError, match=r"gone\.h5 is missing \(sweep A\)"):
        validate_inputs(Collection(acquisition_id="t", prefix="p", base_dir=tmp_path, sweeps=[s]))


def test_source_lengths_reads_each_source_once_from_its_own_dataset(tmp_path, stack_file):
    runs = [(0, 2, str(stack_file), "/entry/data/other", 0), (2, 3, str(stack_file), "/entry/data/data", 0),
            (5, 1, str(stack_file), "/entry/data/other", 1)]
    sweep = SimpleNamespace(id="A")
    assert _source_lengths(runs, sweep) == {(str(stack_file), "/entry/data/other"): 2,
                                            (str(stack_file), "/entry/data/data"): 3}
    with pytest.raises(RepackageError, match=r"gone\.h5 is missing \(sweep A\)"):
        _source_lengths([(0, 1, str(tmp_path / "gone.h5"), "/entry/data/data", 0)], sweep)


def _two_wedges(tmp_path, *, inc=1.0, inc2=None, wl=1.0, wl2=None, start2=None):
    """Sweep A of a 1-frame wedge and a 2-frame wedge (files not opened)."""
    f0, f1 = DataFile(tmp_path / "x0.h5", 1), DataFile(tmp_path / "x1.h5", 2)
    w0 = Wedge(order=0, sweep="A", first_global=1, n=1, omega_start=0.0, omega_increment=inc, wavelength_A=wl,
               segments=[Segment(f0, 0, 1)], name="A0")
    w1 = Wedge(order=1, sweep="A", first_global=2, n=2, omega_start=inc if start2 is None else start2,
               omega_increment=inc if inc2 is None else inc2, wavelength_A=wl if wl2 is None else wl2,
               segments=[Segment(f1, 0, 2)], name="A1")
    s = Sweep(id="A", index=0, wedges=[w0, w1], wavelength_A=wl, frame_shape=(4, 6), dtype=np.dtype("uint16"))
    s.number()
    return Collection(acquisition_id="t", prefix="p", base_dir=tmp_path, sweeps=[s])


def test_input_tolerances_include_their_bounds(tmp_path):
    i, w = INC_AT_BOUND, WL_AT_BOUND
    ok = dict(check_files=False)
    assert validate_inputs(_two_wedges(tmp_path, inc=i, inc2=i + 1e-6 * i), **ok) == []
    assert validate_inputs(_two_wedges(tmp_path, wl=w, wl2=w + 1e-5 * w), **ok) == []
    assert validate_inputs(_two_wedges(tmp_path, inc=i, start2=i + 1e-6 * i), **ok) == []  # the first ends at i
    with pytest.raises(RepackageError, match=r"omega gap between frame 1 \(A0, ends at 0\.567737°\) and frame 2"):
        validate_inputs(_two_wedges(tmp_path, inc=i, start2=i + 2e-6 * i), **ok)


def test_data_files_are_read_at_their_own_dataset(tmp_path):
    """A data file whose frames are not at /entry/data/data is read where its record says."""
    path = tmp_path / "own.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("/entry/data/frames", data=np.zeros((2, 4, 6), "uint16"), chunks=(1, 4, 6),
                         **hdf5plugin.LZ4())
    s = _one_sweep([DataFile(path, 2, "/entry/data/frames"), _file(tmp_path / "f1.h5", 2, hdf5plugin.LZ4())])
    assert validate_inputs(Collection(acquisition_id="t", prefix="p", base_dir=tmp_path, sweeps=[s])) == []
    assert s.mixed_storage is None  # both LZ4 in frame chunks: the same storage


def test_layout_messages_exact(tmp_path):
    f0, f1 = DataFile(tmp_path / "s0.h5", 2), DataFile(tmp_path / "s1.h5", 3)
    ws = [Wedge(order=i, sweep="A", first_global=1 + 5 * i, n=f.n, omega_start=2.0 * i, omega_increment=1.0,
                wavelength_A=1.0, segments=[Segment(f, 0, f.n)]) for i, f in enumerate((f0, f1))]
    s = Sweep(id="A", index=0, wedges=ws, wavelength_A=1.0, frame_shape=(4, 6), dtype=np.dtype("uint16"))
    reason = ("s1.h5 holds 3 frames, s0.h5 2: links need data files of equal size (only the sweep's last may be "
              "shorter)")
    assert choose_layout(s) == ("V", f"sweep A is written as a virtual dataset ({reason}); Neggia (XDS plugin) and "
                                     "eiger2cbf/H5ToXds cannot read it: use durin, DIALS or xia2")
    with pytest.raises(RepackageError) as exc:
        choose_layout(s, "L")
    assert str(exc.value) == (f"sweep A cannot be written as links only: {reason}. Set nimages_per_file to the wedge "
                              "size, or allow layout V")


def test_box_is_whole_frames_only():
    from mxcubecore_interleave.nexus.validate import _box

    space = h5py.h5s.create_simple((5, 4, 6))
    space.select_hyperslab((1, 0, 0), (2, 4, 6))
    assert _box(space, (4, 6)) == (1, 2)
    space.select_hyperslab((1, 0, 0), (1, 4, 3))
    assert _box(space, (4, 6)) is None  # half a frame
    space.select_none()
    assert _box(space, (4, 6)) is None
    # as many points as a 4 x 6 frame, but 3 x 8 of a source of other frames: not a frame
    other = h5py.h5s.create_simple((2, 3, 8))
    other.select_hyperslab((0, 0, 0), (1, 3, 8))
    assert _box(other, (4, 6)) is None
