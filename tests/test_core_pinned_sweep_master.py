"""sweep_master.py pinned: the exact values a sweep master holds, worked out from how the small
collection was made (not from the module), read back with h5py and with nxmx.

The collection and its masters are built once per module (tiny frames), so a pass takes seconds
and the mutation run of ``nexus/sweep_master.py`` fits the machine."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (the simulated detector's filter)
import numpy as np
import nxmx
import pytest

from mxcubecore_interleave.eiger import frame_tag
from mxcubecore_interleave.eiger.naming import series_files
from mxcubecore_interleave.errors import RepackageError
from mxcubecore_interleave.nexus import collection_from_record
from mxcubecore_interleave.nexus.model import Segment
from mxcubecore_interleave.nexus.sweep_master import (
    build_sweep_master,
    record_json_for_masters,
    rel,
    sweep_master_name,
)
from tests.repackage_helpers import SweepDef, interleaved_record

WEDGE, PER_FILE = 4, 2
SWEEPS = [SweepDef("A", 0.9793, 10.0, 0.5, 8, kappa=5.0, phi=20.0), SweepDef("B", 0.9537, 180.0, -1.0, 6)]
CREATED = "2026-12-02T00:00:00.000+00:00"
RECORD_JSON = '{"schema":"mxcube-interleaved/1","note":"pinned"}'
HC = 12.398419843320026  # keV·Å (CODATA hc)


def _plan() -> list[dict]:
    """The wedges as interleaved_record makes them (A1 B1 A2 B2 …), worked out independently."""
    out, order, g = [], 0, 1
    for k in range(2):
        for s in SWEEPS:
            first = k * WEDGE
            if first >= s.n_frames:
                continue
            n = min(WEDGE, s.n_frames - first)
            master, data = series_files(f"ilv_{order + 1}", n, PER_FILE)
            out.append(dict(order=order, sweep=s.id, first=first + 1, n=n, g=g, master=master, data=data))
            g += n
            order += 1
    return out


PLAN = _plan()


def _of(sid: str) -> list[dict]:
    return [w for w in PLAN if w["sweep"] == sid]


def _globals(sid: str) -> list[int]:
    return [w["g"] + i for w in _of(sid) for i in range(w["n"])]


class Built:
    """The collection on disk, its sweeps and the masters written from them."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.record = interleaved_record(base, SWEEPS, wedge_size=WEDGE, images_per_file=PER_FILE)
        _rec, self.coll = collection_from_record(self.record, "after")
        self.sweeps = {s.id: s for s in self.coll.sweeps}
        self.out = base / "proc"
        self.out.mkdir()
        with h5py.File(base / "calib.h5", "w") as f:
            f["gain"] = np.arange(3.0)
        self.masters = {(lay, sid): self.build(self.sweeps[sid], lay, f"{lay}_{sid}.h5")
                        for lay in "LV" for sid in self.sweeps}

    def build(self, sweep, layout: str, name: str, master_dir: Path | None = None) -> Path:
        master_dir = master_dir or self.out
        path = master_dir / name
        with h5py.File(path, "w") as f:
            build_sweep_master(f, sweep, self.coll, layout, master_dir, RECORD_JSON, self.record, CREATED)
        return path

    def template(self, name: str, change) -> Path:
        """A copy of the first wedge's detector master with ``change`` applied."""
        copy = self.base / name
        shutil.copyfile(self.base / PLAN[0]["master"], copy)
        copy.chmod(0o644)
        with h5py.File(copy, "r+") as f:
            change(f)
        return copy

    def from_template(self, name: str, change, layout: str = "L", sid: str = "A", **replace) -> Path:
        sweep = dataclasses.replace(self.sweeps[sid], template=self.template(f"t_{name}", change), **replace)
        return self.build(sweep, layout, name)


@pytest.fixture(scope="module")
def built_once(tmp_path_factory) -> Built:
    return Built(tmp_path_factory.mktemp("sweep_master"))


@pytest.fixture
def built(built_once) -> Built:
    """The module's masters; each test also writes one master of each layout in memory, because
    mutmut runs for a mutant only the tests it saw call the mutated function (the module's
    masters are written in the first test's setup alone)."""
    for layout in "LV":
        with h5py.File(f"mem_{layout}.h5", "w", driver="core", backing_store=False) as f:
            build_sweep_master(f, built_once.sweeps["A"], built_once.coll, layout, built_once.out, RECORD_JSON,
                               built_once.record, CREATED)
    return built_once


def _ascii(ds_or_attrs, name=None) -> str:
    """A value stored as a fixed-length ASCII string (what durin and the DECTRIS layout expect)."""
    tid = (ds_or_attrs.id.get_type() if name is None else ds_or_attrs.get_id(name).get_type())
    assert isinstance(tid, h5py.h5t.TypeStringID) and tid.get_cset() == h5py.h5t.CSET_ASCII
    value = ds_or_attrs[()] if name is None else ds_or_attrs[name]
    return value.decode() if isinstance(value, bytes) else str(value)


def ds_shape_is_scalar(group, name: str) -> bool:
    """A scalar dataset (HDF5's scalar dataspace), not an array of one."""
    return group[name].id.get_space().get_simple_extent_type() == h5py.h5s.SCALAR


# -- omega, the other axes, wavelength, counts --------------------------------------------------
@pytest.mark.parametrize("layout", "LV")
@pytest.mark.parametrize("sdef", SWEEPS, ids=lambda s: s.id)
def test_omega_per_frame_in_both_goniometer_groups(built, layout, sdef):
    n = sdef.n_frames
    want = [sdef.omega_start + i * sdef.omega_increment for i in range(n)]
    with h5py.File(built.masters[layout, sdef.id]) as f:
        for group in ("/entry/sample/transformations", "/entry/sample/goniometer"):
            g = f[group]
            assert g["omega"].dtype == np.float64 and g["omega_end"].dtype == np.float64
            assert g["omega"][()].tolist() == pytest.approx(want, abs=1e-12)
            assert g["omega_end"][()].tolist() == pytest.approx([w + sdef.omega_increment for w in want], abs=1e-12)
        tr, gon = f["/entry/sample/transformations"], f["/entry/sample/goniometer"]
        for name in ("omega_range_average", "omega_range_total"):
            assert ds_shape_is_scalar(gon, name)
        assert ds_shape_is_scalar(tr, "omega_increment_set")
        assert float(tr["omega_increment_set"][()]) == sdef.omega_increment
        assert float(gon["omega_range_average"][()]) == sdef.omega_increment
        assert float(gon["omega_range_total"][()]) == pytest.approx(n * sdef.omega_increment)
        # the attributes the template gave omega are kept, with their stored types
        om = tr["omega"]
        assert _ascii(om.attrs, "depends_on") == "." and _ascii(om.attrs, "transformation_type") == "rotation"
        assert _ascii(om.attrs, "units") == "deg" and om.attrs["vector"].tolist() == [-1.0, 0.0, 0.0]
        assert _ascii(gon["omega"].attrs, "units") == "degree"
        assert _ascii(tr["kappa"].attrs, "depends_on") == "/entry/sample/transformations/omega"


@pytest.mark.parametrize("sdef", SWEEPS, ids=lambda s: s.id)
def test_other_axes_are_stretched_to_the_sweep_with_the_template_value(built, sdef):
    n = sdef.n_frames
    with h5py.File(built.masters["L", sdef.id]) as f:
        for group, dtype in (("/entry/sample/transformations", np.float64), ("/entry/sample/goniometer", np.float32)):
            g = f[group]
            for axis, value in (("kappa", sdef.kappa), ("phi", sdef.phi)):
                for name in (axis, f"{axis}_end"):
                    assert g[name].dtype == dtype
                    assert g[name][()].tolist() == [value] * n
        gon = f["/entry/sample/goniometer"]
        assert gon["kappa_range_total"].shape == ()  # scalars other than omega's are left as they are
        assert f["/entry/sample/transformations/kappa_increment_set"][()] == 0.0


@pytest.mark.parametrize("sdef", SWEEPS, ids=lambda s: s.id)
def test_wavelength_counts_energy_and_times(built, sdef):
    with h5py.File(built.masters["V", sdef.id]) as f:
        wl = f["/entry/instrument/beam/incident_wavelength"]
        assert wl.dtype == np.float64 and wl.shape == () and wl[()] == sdef.wavelength_A
        assert ds_shape_is_scalar(f, "/entry/instrument/detector/detectorSpecific/photon_energy")
        assert _ascii(wl.attrs, "units") == "angstrom"
        ds = f["/entry/instrument/detector/detectorSpecific"]
        for name, value in (("nimages", sdef.n_frames), ("ntrigger", 1), ("nimages_planned", sdef.n_frames)):
            assert ds[name].dtype == np.uint32 and ds[name].shape == () and int(ds[name][()]) == value
        assert ds["photon_energy"].dtype == np.float32
        assert float(ds["photon_energy"][()]) == pytest.approx(HC / sdef.wavelength_A * 1000.0, rel=1e-6)
        # times from the chronologically first and last wedge of the sweep, as recorded
        rec = json.loads(built.record.read_text())
        mine = [w for w in rec["wedges"] if w["sweep"] == sdef.id]
        assert _ascii(f["/entry/start_time"]) == mine[0]["start_time"]
        assert _ascii(f["/entry/end_time"]) == mine[-1]["end_time"]
        assert _ascii(f["/entry/end_time_estimated"]) == mine[-1]["end_time"]
        assert _ascii(ds["data_collection_date"]) == mine[0]["start_time"]
        assert mine[0]["start_time"] != mine[-1]["end_time"]


def test_times_follow_the_acquisition_order_and_fall_back(built):
    a = built.sweeps["A"]
    first, last = a.wedges
    listed_backwards = dataclasses.replace(a, wedges=[last, first])
    with h5py.File(built.build(listed_backwards, "L", "times_backwards.h5")) as f:
        assert _ascii(f["/entry/start_time"]) == first.start_time
        assert _ascii(f["/entry/end_time"]) == last.end_time
    untimed = dataclasses.replace(a, wedges=[dataclasses.replace(w, start_time=None, end_time=None) for w in a.wedges])
    with h5py.File(built.build(untimed, "L", "times_none.h5")) as f:
        for name in ("start_time", "end_time", "end_time_estimated"):
            assert _ascii(f["/entry"][name]) == CREATED
        # the template's own date (its first wedge's start) is replaced too
        assert _ascii(f["/entry/instrument/detector/detectorSpecific/data_collection_date"]) == CREATED
    no_end = dataclasses.replace(a, wedges=[first, dataclasses.replace(last, end_time=None)])
    with h5py.File(built.build(no_end, "L", "times_no_end.h5")) as f:
        assert _ascii(f["/entry/end_time"]) == first.start_time


def test_energy_from_the_sweep_when_known(built):
    path = built.build(dataclasses.replace(built.sweeps["A"], energy_keV=12.7), "L", "energy.h5")
    with h5py.File(path) as f:
        assert float(f["/entry/instrument/detector/detectorSpecific/photon_energy"][()]) == pytest.approx(12700.0)


# -- /entry/data ----------------------------------------------------------------------------------
@pytest.mark.parametrize("sdef", SWEEPS, ids=lambda s: s.id)
def test_layout_l_links_every_data_file_in_sweep_order_relative_to_the_master(built, sdef):
    want_files = [d for w in _of(sdef.id) for d in w["data"]]
    with h5py.File(built.masters["L", sdef.id]) as f:
        data = f["/entry/data"]
        assert _ascii(data.attrs, "NX_class") == "NXdata"
        assert list(data) == [f"data_{i + 1:06d}" for i in range(len(want_files))]
        for i, name in enumerate(data):
            link = data.get(name, getlink=True)
            assert isinstance(link, h5py.ExternalLink)
            assert (link.filename, link.path) == (f"../{want_files[i]}", "/entry/data/data")
        tags = [frame_tag(fr) for name in data for fr in data[name][()]]
    assert tags == _globals(sdef.id)


@pytest.mark.parametrize("sdef", SWEEPS, ids=lambda s: s.id)
def test_layout_v_maps_every_frame_from_relative_sources(built, sdef):
    n = sdef.n_frames
    want_files = [d for w in _of(sdef.id) for d in w["data"]]
    counts = [min(PER_FILE, w["n"] - PER_FILE * j) for w in _of(sdef.id) for j in range(len(w["data"]))]
    with h5py.File(built.masters["V", sdef.id]) as f:
        data = f["/entry/data"]
        assert list(data) == ["data_000001"]
        assert _ascii(data.attrs, "signal") == "data_000001"
        ds = data["data_000001"]
        assert ds.is_virtual and ds.shape == (n, 16, 24) and ds.dtype == np.uint16
        assert ds.fillvalue == np.iinfo(np.uint16).max
        for k in ("image_nr_low", "image_nr_high"):
            assert ds.attrs[k].dtype == np.uint64
        assert (int(ds.attrs["image_nr_low"]), int(ds.attrs["image_nr_high"])) == (1, n)
        sources = ds.virtual_sources()
        assert [s.file_name for s in sources] == [f"../{x}" for x in want_files]
        assert {s.dset_name for s in sources} == {"/entry/data/data"}
        starts = np.cumsum([0, *counts])
        for s, k0, c in zip(sources, starts, counts):
            assert s.vspace.get_select_bounds() == ((k0, 0, 0), (k0 + c - 1, 15, 23))
            assert s.src_space.get_select_bounds() == ((0, 0, 0), (c - 1, 15, 23))
            assert s.src_space.shape == (c, 16, 24)
        assert [frame_tag(fr) for fr in ds[()]] == _globals(sdef.id)


def test_layout_v_merges_only_contiguous_pieces_of_one_file(built):
    a = built.sweeps["A"]
    w0 = a.wedges[0]
    f1, f2 = w0.segments[0].file, w0.segments[1].file
    # file 1 in two contiguous halves (one source), then file 2 backwards (two sources)
    pieces = [Segment(f1, 0, 1), Segment(f1, 1, 1), Segment(f2, 1, 1), Segment(f2, 0, 1)]
    sweep = dataclasses.replace(a, wedges=[dataclasses.replace(w0, segments=pieces)])
    with h5py.File(built.build(sweep, "V", "merged.h5")) as f:
        ds = f["/entry/data/data_000001"]
        sources = ds.virtual_sources()
        assert [s.src_space.get_select_bounds()[0][0] for s in sources] == [0, 1, 0]
        assert [s.vspace.get_select_bounds()[0][0] for s in sources] == [0, 2, 3]
        assert [s.src_space.get_select_bounds()[1][0] for s in sources] == [1, 1, 0]
        g = _of("A")[0]["g"]
        assert [frame_tag(fr) for fr in ds[()]] == [g, g + 1, g + 3, g + 2]


# -- acquisition order, notes, defaults, source ----------------------------------------------------
@pytest.mark.parametrize("sdef", SWEEPS, ids=lambda s: s.id)
def test_acquisition_order_table(built, sdef):
    mine = _of(sdef.id)
    with h5py.File(built.masters["L", sdef.id]) as f:
        g = f["/entry/acquisition_order"]
        assert _ascii(g.attrs, "NX_class") == "NXcollection"
        assert _ascii(g["schema"]) == "mxcube-interleaved/1"
        assert _ascii(g["acquisition_id"]) == "test-acq-1"
        assert _ascii(g["sweep_id"]) == sdef.id
        assert g["sweep_index"].dtype == np.int32 and int(g["sweep_index"][()]) == SWEEPS.index(sdef)
        assert g["global_image_number"].dtype == np.int64
        assert g["global_image_number"][()].tolist() == _globals(sdef.id)
        assert g["wedge_index"].dtype == np.int32
        assert g["wedge_index"][()].tolist() == [w["order"] for w in mine for _ in range(w["n"])]
        masters = [f"../{w['master']}" for w in mine]
        assert g["source_master"].dtype == np.dtype(f"S{max(len(m) for m in masters)}")
        assert [m.decode() for m in g["source_master"][()]] == masters
        assert g["wedge_first_frame"].dtype == np.int32
        assert g["wedge_first_frame"][()].tolist() == [w["first"] for w in mine]
        assert _ascii(g["record"]) == f"../{built.record.name}"


def test_acquisition_order_without_record_or_source_masters(built):
    a = built.sweeps["A"]
    sweep = dataclasses.replace(a, wedges=[dataclasses.replace(w, source_master=None) for w in a.wedges])
    path = built.out / "no_record.h5"
    with h5py.File(path, "w") as f:
        build_sweep_master(f, sweep, built.coll, "L", built.out, RECORD_JSON, None, CREATED)
    with h5py.File(path) as f:
        g = f["/entry/acquisition_order"]
        assert "record" not in g
        assert g["source_master"].dtype == np.dtype("S1") and g["source_master"][()].tolist() == [b"", b""]


def test_notes_defaults_and_source(built):
    with h5py.File(built.masters["V", "B"]) as f:
        notes = f["/entry/notes"]
        assert _ascii(notes.attrs, "NX_class") == "NXnote"
        assert _ascii(notes["type"]) == "application/json"
        assert _ascii(notes["data"]) == RECORD_JSON
        assert _ascii(notes["description"]) == ("acquisition record (mxcube-interleaved/1): every sweep and wedge "
                                                "in acquisition order")
        assert _ascii(f.attrs, "default") == "entry" and _ascii(f["/entry"].attrs, "default") == "data"
        # one NXsource group, hard-linked into NXentry (current NXmx) and NXinstrument (DECTRIS)
        assert f["/entry/source"] == f["/entry/instrument/source"]
        assert isinstance(f["/entry"].get("source", getlink=True), h5py.HardLink)
        assert _ascii(f["/entry/definition"]) == "NXmx"


def test_source_linked_only_when_it_is_an_nxsource(built):
    def plain(f):
        f["/entry/instrument/source"].attrs["NX_class"] = "NXsource"  # a variable-length string

    def other(f):
        f["/entry/instrument/source"].attrs["NX_class"] = np.bytes_("NXother")

    def own(f):
        f.create_group("/entry/source").attrs["NX_class"] = np.bytes_("NXsource")
        f["/entry/source/name"] = np.bytes_("mine")

    with h5py.File(built.from_template("src_plain.h5", plain)) as f:
        assert f["/entry/source"] == f["/entry/instrument/source"]
    with h5py.File(built.from_template("src_other.h5", other)) as f:
        assert "source" not in f["/entry"]
    with h5py.File(built.from_template("src_own.h5", own)) as f:
        assert f["/entry/source/name"][()] == b"mine" and f["/entry/source"] != f["/entry/instrument/source"]


# -- what is taken from the template, and how -----------------------------------------------------
def test_the_template_header_is_copied_and_its_links_follow_the_master(built):
    def change(f):
        f.attrs["creator"] = np.bytes_("pinned-test")
        e = f["/entry"]
        e.attrs.create("title", np.bytes_(b"hello"), dtype=h5py.string_dtype("utf-8", 5))
        e.attrs["run"] = np.int32(7)
        e.attrs["comment"] = "variable"  # a variable-length string: kept variable-length
        e.attrs["acquisition_status"] = np.bytes_("aborted")
        e.create_group("acquisition_order")["schema"] = np.bytes_("template's own")
        e.create_group("notes")["data"] = np.bytes_("template's own")
        e["alias"] = h5py.SoftLink("/entry/instrument")
        e["ext"] = h5py.ExternalLink("calib.h5", "/gain")
        e["abs"] = h5py.ExternalLink(str(built.base / "calib.h5"), "/gain")
        f["/entry/instrument/detector/calibration"] = h5py.ExternalLink("calib.h5", "/gain")
        f["/entry/sample/goniometer/dangling"] = h5py.ExternalLink("missing.h5", "/x")
        f["/entry/sample/transformations"].create_group("sub")

    path = built.from_template("header.h5", change)
    with h5py.File(path) as f:
        assert f.attrs["creator"] == b"pinned-test"
        e = f["/entry"]
        assert _ascii(e.attrs, "title") == "hello"  # fixed-length UTF-8 in the template: ASCII here
        assert e.attrs["run"] == 7 and e.attrs["run"].dtype == np.int32
        assert e.attrs.get_id("comment").get_type().is_variable_str() and e.attrs["comment"] == "variable"
        assert "acquisition_status" not in e.attrs
        assert _ascii(e["acquisition_order/schema"]) == "mxcube-interleaved/1"
        assert _ascii(e["notes/data"]) == RECORD_JSON
        assert e.get("alias", getlink=True).path == "/entry/instrument"
        for name in ("ext", "abs", "instrument/detector/calibration"):
            link = e.get(name, getlink=True)
            assert (link.filename, link.path) == ("../calib.h5", "/gain")
            assert e[name][()].tolist() == [0.0, 1.0, 2.0]
        assert e["sample/goniometer"].get("dangling", getlink=True).filename == "../missing.h5"  # kept, relinked
        assert isinstance(e["sample/transformations/sub"], h5py.Group)
    # beside the template, a relative link stays as it was
    t = built.base / "t_header.h5"
    same_dir = built.build(dataclasses.replace(built.sweeps["A"], template=t), "L", "beside.h5", built.base)
    with h5py.File(same_dir) as f:
        assert f["/entry"].get("ext", getlink=True).filename == "calib.h5"
        assert f["/entry"].get("abs", getlink=True).filename == "calib.h5"


def test_fixed_length_utf8_attributes_of_rewritten_datasets_become_ascii(built):
    def change(f):
        om = f["/entry/sample/transformations/omega"]
        om.attrs.create("long_name", np.bytes_(b"omega"), dtype=h5py.string_dtype("utf-8", 5))
        om.attrs.create("offset_units", "deg")  # variable length: kept as it is

    with h5py.File(built.from_template("utf8.h5", change)) as f:
        om = f["/entry/sample/transformations/omega"]
        assert _ascii(om.attrs, "long_name") == "omega"
        assert om.attrs.get_id("offset_units").get_type().is_variable_str()
        assert om.attrs["offset_units"] == "deg"


def test_single_precision_omega_stays_single_and_missing_ends_are_added(built):
    def change(f):
        g = f["/entry/sample/goniometer"]
        values = g["omega"][()]
        del g["omega"]
        g.create_dataset("omega", data=values.astype(np.float32))
        tr = f["/entry/sample/transformations"]
        del tr["omega_end"], tr["omega_increment_set"]

    with h5py.File(built.from_template("single.h5", change, sid="B")) as f:
        om = f["/entry/sample/goniometer/omega"]
        assert om.dtype == np.float32
        assert om[()].tolist() == [180.0 - i for i in range(6)]
        assert f["/entry/sample/goniometer/omega_end"].dtype == np.float64
        tr = f["/entry/sample/transformations"]
        assert tr["omega_end"][()].tolist() == [179.0 - i for i in range(6)]
        assert tr["omega_increment_set"][()] == -1.0 and tr["omega_increment_set"].dtype == np.float64
        assert _ascii(tr["omega_end"].attrs, "units") == "deg"
        assert _ascii(tr["omega_increment_set"].attrs, "units") == "deg"


def test_a_template_without_counts_beam_or_times_gets_them(built):
    def change(f):
        ds = f["/entry/instrument/detector/detectorSpecific"]
        for name in ("nimages", "ntrigger", "nimages_planned", "photon_energy", "data_collection_date"):
            del ds[name]
        del f["/entry/instrument/beam"]

    with h5py.File(built.from_template("bare.h5", change)) as f:
        ds = f["/entry/instrument/detector/detectorSpecific"]
        assert ds["nimages"].dtype == np.uint32 and int(ds["nimages"][()]) == 8
        assert ds["ntrigger"].dtype == np.uint32 and int(ds["ntrigger"][()]) == 1
        assert not {"nimages_planned", "photon_energy", "data_collection_date"} & set(ds)
        beam = f["/entry/instrument/beam"]
        assert _ascii(beam.attrs, "NX_class") == "NXbeam"
        assert beam["incident_wavelength"][()] == 0.9793
        assert _ascii(beam["incident_wavelength"].attrs, "units") == "angstrom"


def test_counts_of_another_type_keep_their_type(built):
    def change(f):
        ds = f["/entry/instrument/detector/detectorSpecific"]
        for name in ("nimages", "ntrigger"):
            del ds[name]
            ds[name] = np.int64(99)

    with h5py.File(built.from_template("int64.h5", change)) as f:
        ds = f["/entry/instrument/detector/detectorSpecific"]
        assert ds["nimages"].dtype == np.int64 and ds["ntrigger"].dtype == np.int64
        assert (int(ds["nimages"][()]), int(ds["ntrigger"][()])) == (8, 1)


def test_a_template_with_only_the_legacy_goniometer(built):
    def change(f):
        del f["/entry/sample/transformations"]

    with h5py.File(built.from_template("legacy.h5", change)) as f:
        assert "transformations" not in f["/entry/sample"]
        assert f["/entry/sample/goniometer/omega"][()].tolist() == [10.0 + 0.5 * i for i in range(8)]
        assert f["/entry/sample/goniometer/kappa"][()].tolist() == [5.0] * 8


# -- refusals -------------------------------------------------------------------------------------
def _refusal(built, sweep, layout="L") -> str:
    with h5py.File("refused.h5", "w", driver="core", backing_store=False) as f:
        with pytest.raises(RepackageError) as err:
            build_sweep_master(f, sweep, built.coll, layout, built.out, RECORD_JSON, built.record, CREATED)
    return str(err.value)


def test_refusals(built):
    a = built.sweeps["A"]
    assert _refusal(built, dataclasses.replace(a, template=None)) == "sweep A has no template master"
    text = built.base / "not_hdf5.h5"
    text.write_text("plain text")
    assert _refusal(built, dataclasses.replace(a, template=text)).startswith(f"cannot read the template master {text}: ")
    empty = built.base / "empty.h5"
    with h5py.File(empty, "w") as f:
        f["other"] = 1
    assert _refusal(built, dataclasses.replace(a, template=empty)) == f"template master {empty} has no /entry"

    def moving(f):
        k = f["/entry/sample/transformations/kappa"]
        k[...] = np.arange(k.shape[0], dtype=k.dtype)

    moved = built.template("t_moving.h5", moving)
    msg = _refusal(built, dataclasses.replace(a, template=moved), "V")
    assert msg == (f"template master {moved}: /entry/sample/transformations/kappa changes during its series "
                   "(0 to 3); only omega scans are supported, nothing was written")


def test_an_axis_of_another_length_is_left_alone(built):
    def change(f):
        g = f["/entry/sample/goniometer"]
        del g["phi"]
        g["phi"] = np.arange(3, dtype=np.float32)  # not the template's frame count: not per frame
        tr = f["/entry/sample/transformations"]
        tr["omega"][...] = [1.0, 2.0, 3.0, 4.0][: tr["omega"].shape[0]]

    with h5py.File(built.from_template("odd.h5", change)) as f:
        assert f["/entry/sample/goniometer/phi"][()].tolist() == [0.0, 1.0, 2.0]
        assert f["/entry/sample/goniometer/kappa"][()].tolist() == [5.0] * 8


# -- the small public helpers ----------------------------------------------------------------------
def test_names_relative_paths_and_the_embedded_record(tmp_path):
    assert sweep_master_name("ilv", "A") == "ilv_A_master.h5"
    assert rel(Path("/d/a/x.h5"), Path("/d/a")) == "x.h5"
    assert rel(Path("/d/a/x.h5"), Path("/d/a/proc")) == os.path.join("..", "x.h5")
    assert rel(Path("/d/b/x.h5"), Path("/d/a/p")) == os.path.join("..", "..", "b", "x.h5")
    assert rel(Path("/d/a/x.h5"), Path("/d")) == os.path.join("a", "x.h5")
    assert rel(Path("a/x.h5"), Path("a")) == "x.h5"
    assert rel(Path("x.h5"), Path("p")) == os.path.join("..", "x.h5")
    d = {"schema": "s", "updated": "now", "status": "running", "name": "é", "n": [1, 2.5]}
    assert record_json_for_masters(d) == '{"schema":"s","name":"\\u00e9","n":[1,2.5]}'
    with pytest.raises(ValueError):
        record_json_for_masters({"x": math.nan})


# -- a third-party reader ----------------------------------------------------------------------------
@pytest.mark.parametrize("layout", "LV")
@pytest.mark.parametrize("sdef", SWEEPS, ids=lambda s: s.id)
def test_nxmx_reads_the_scan_axis_wavelength_and_frames(built, layout, sdef):
    with h5py.File(built.masters[layout, sdef.id]) as f:
        entry = nxmx.NXmx(f).entries[0]
        sample = entry.samples[0]
        axes = nxmx.get_rotation_axes(nxmx.get_dependency_chain(sample.depends_on))
        assert list(axes.names[axes.is_scan_axis]) == ["omega"]
        assert axes.angles[list(axes.names).index("kappa")] == sdef.kappa
        wl = entry.instruments[0].beams[0].incident_wavelength.to("angstrom").magnitude
        assert float(np.ravel(wl)[0]) == pytest.approx(sdef.wavelength_A)
        assert entry.start_time is not None and entry.definition == "NXmx"
        frames = entry.data[0][entry.data[0].signal or "data_000001"]
        assert frame_tag(frames[0]) == _globals(sdef.id)[0]


@pytest.mark.parametrize("dtype, fill", [("int32", np.iinfo(np.int32).max), ("uint32", np.iinfo(np.uint32).max),
                                         ("float32", None)])
def test_layout_v_fill_value_is_the_type_maximum_or_nan(built, dtype, fill):
    sweep = dataclasses.replace(built.sweeps["A"], dtype=np.dtype(dtype))
    with h5py.File(built.build(sweep, "V", f"fill_{dtype}.h5")) as f:
        data = f["/entry/data"]
        assert _ascii(data.attrs, "NX_class") == "NXdata"
        ds = data["data_000001"]
        assert ds.dtype == np.dtype(dtype)
        if fill is None:
            assert np.isnan(ds.fillvalue)
        else:
            assert ds.fillvalue == fill


def test_rewritten_datasets_carry_no_modification_times(built, monkeypatch):
    """Re-runs must give the same bytes: the datasets the writer replaces are made without HDF5's
    object times (the property list is cached per process; start from none)."""
    from mxcubecore_interleave.nexus import sweep_master

    monkeypatch.setattr(sweep_master, "_DCPL", None, raising=False)
    path = built.build(built.sweeps["B"], "L", "times_off.h5")
    with h5py.File(path, "r+") as f:
        f.create_dataset("/entry/with_times", data=1, track_times=True)  # for contrast: h5py's times are seen
        assert h5py.h5g.get_objinfo(f.id, b"/entry/with_times").mtime > 0
        for name in ("/entry/instrument/detector/detectorSpecific/nimages", "/entry/sample/transformations/omega",
                     "/entry/instrument/beam/incident_wavelength"):
            assert h5py.h5g.get_objinfo(f.id, name.encode()).mtime == 0

