"""locate pinned field by field against an independent walk over the wedges, both ways as an
identity (hypothesis), and each refusal provoked by a record or file made to trigger it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxcubecore_interleave.eiger import frame_tag
from mxcubecore_interleave.errors import RecordError, RepackageError
from mxcubecore_interleave.nexus import Lookup, locate_frame, locate_global
from mxcubecore_interleave.record import AcquisitionRecord, DataFileRecord, SweepRecord, WedgeRecord
from tests.repackage_helpers import SweepDef, interleaved_record

SWEEPS = [SweepDef("A", 0.9793, 10.0, 0.5, 8), SweepDef("B", 0.9537, -5.0, 0.25, 6)]


def _expected(sweeps, wedge_size, ipf, partial, exposure=0.01):
    """Every frame of interleaved_record's layout (A1 B1 A2 B2 ...), worked out from its rules:
    (global, sweep, frame in sweep, omega, wedge order, data file, index in file, i in wedge)."""
    out, g, order, taken = [], 1, 0, {s.id: 0 for s in sweeps}
    for k in range(max(-(-s.n_frames // wedge_size) for s in sweeps)):
        for s in sweeps:
            first = k * wedge_size
            if first >= s.n_frames:
                continue
            n = partial.get(order, min(wedge_size, s.n_frames - first))
            for i in range(n):
                out.append((g, s.id, taken[s.id] + 1, s.omega_start + (first + i) * s.omega_increment, order,
                            f"ilv_{order + 1}_data_{i // ipf + 1:06d}.h5", i % ipf, i, s.omega_increment))
                g += 1
                taken[s.id] += 1
            order += 1
    return out


@pytest.fixture(scope="module")
def cut_short(tmp_path_factory):
    """Two sweeps, wedges of 3, files of 2 frames; wedge 2 (A's second) stopped after 1 frame."""
    return interleaved_record(tmp_path_factory.mktemp("loc") / "d", SWEEPS, wedge_size=3, images_per_file=2,
                              partial={2: 1})


def test_every_field_of_every_frame(cut_short):
    lk = Lookup.load(cut_short)
    want = _expected(SWEEPS, 3, 2, {2: 1})
    assert len(want) == 12  # 8 + 6 planned, 2 never taken
    for g, sweep, frame, omega, order, data_file, index, i, inc in want:
        loc = lk.by_global(g)
        assert (loc.global_index, loc.sweep, loc.frame, loc.wedge) == (g, sweep, frame, order)
        assert loc.omega == pytest.approx(omega) and loc.omega_end == pytest.approx(omega + inc)
        assert (loc.data_file, loc.index_in_file, loc.dataset) == (data_file, index, "/entry/data/data")
        assert loc.collected is True
        w = lk.record.wedges[order]
        t0 = dt.datetime.fromisoformat(w.start_time)
        assert dt.datetime.fromisoformat(loc.time) - t0 == dt.timedelta(seconds=0.01 * i)
        with h5py.File(cut_short.parent / loc.data_file, "r") as f:  # the frame there is image g
            assert frame_tag(f[loc.dataset][loc.index_in_file]) == g
        assert lk.by_frame(sweep, frame) == loc
        assert lk.by_omega(sweep, omega + 0.5 * inc) == loc
        assert loc.as_dict()["global_index"] == g


def test_refusals_name_the_range(cut_short):
    lk = Lookup.load(cut_short)
    with pytest.raises(RepackageError, match=r"global image 13 .*outside.*1\.\.12"):
        lk.by_global(13)
    with pytest.raises(RepackageError, match=r"outside"):
        lk.by_global(0)
    with pytest.raises(RepackageError, match=r"sweep A has frames 1\.\.6; frame 7 does not exist"):
        lk.by_frame("A", 7)
    with pytest.raises(RepackageError, match=r"frame 0 does not exist"):
        lk.by_frame("A", 0)
    # A: wedge 1 at 10..11.5°, wedge 2 (one frame) at 11.5..12°, wedge 3 (two frames) at 13..14°: a hole at 12..13°
    with pytest.raises(RepackageError, match=r"12\.5° falls in a gap of sweep A.*10°\.\.11\.5°, 11\.5°\.\.12°, 13°\.\.14°\)"):
        lk.by_omega("A", 12.5)
    with pytest.raises(RepackageError, match=r"omega 14\.0° is outside sweep A \(10\.0°\.\.14\.0°\)"):
        lk.by_omega("A", 14.0)
    with pytest.raises(RepackageError, match=r"outside sweep A"):
        lk.by_omega("A", 9.99)
    assert lk.by_omega("A", 10.0).frame == 1 and lk.by_omega("A", 13.99).frame == 6


def test_locate_frame_needs_exactly_one_of_frame_and_omega(cut_short):
    assert locate_frame(cut_short, "B", frame=2).global_index == 5
    assert locate_frame(cut_short, "B", omega=-4.75).global_index == 5
    assert locate_global(cut_short, 5).frame == 2
    for kwargs in ({}, {"frame": 2, "omega": -4.75}):
        with pytest.raises(RepackageError, match="either a frame number or an omega"):
            locate_frame(cut_short, "B", **kwargs)


# -- records made to trigger each case ----------------------------------------------------------
def _record(wedges, sweeps=None, data_files=()):
    rec = AcquisitionRecord(acquisition_id="t", prefix="p",
                            sweeps=sweeps or [SweepRecord(id="A", wavelength_A=1.0, omega_start=0.0,
                                                          omega_increment=1.0, n_frames=8, exposure_time=0.5)],
                            wedges=wedges, data_files=list(data_files))
    rec.renumber()
    return rec


def _wedge(order, first, n, status="complete", n_collected=None, **kw):
    if n_collected is None:
        n_collected = n if status in ("complete", "partial") else 0
    return WedgeRecord(order=order, sweep="A", sweep_first_frame=first, n=n, n_collected=n_collected, first_global=1,
                       omega_start=float(first - 1), status=status, **kw)


def test_a_wedge_still_running_reports_no_frame_as_collected(tmp_path):
    rec = _record([_wedge(0, 1, 4), _wedge(1, 5, 4, status="running", n_collected=2)])
    lk = Lookup(rec, tmp_path)
    assert [lk.by_global(g).collected for g in range(1, 9)] == [True] * 4 + [False] * 4
    partial = Lookup(_record([_wedge(0, 1, 4, status="partial", n_collected=3), _wedge(1, 5, 4, "planned")]),
                     tmp_path)
    assert [partial.by_global(g).collected for g in range(1, 8)] == [True] * 3 + [False] * 4
    assert [partial.by_global(g).frame for g in range(1, 8)] == [1, 2, 3, 4, 5, 6, 7]
    short = Lookup(_record([_wedge(0, 1, 4, n_collected=3)]), tmp_path)  # complete, 3 of 4 frames held
    assert short.by_global(3).frame == 3
    with pytest.raises(RepackageError, match=r"global image 4 is outside this acquisition \(1\.\.3\)"):
        short.by_global(4)


def test_time_is_the_start_plus_exposures_or_the_start_as_given(tmp_path):
    rec = _record([_wedge(0, 1, 4, start_time="2026-03-01T10:00:00.000+00:00"),
                   _wedge(1, 5, 2, start_time="not a time"), _wedge(2, 7, 2)])
    lk = Lookup(rec, tmp_path)
    assert lk.by_global(4).time == "2026-03-01T10:00:01.500+00:00"
    assert lk.by_global(6).time == "not a time"
    assert lk.by_global(7).time is None
    rec.sweeps[0].exposure_time = None
    assert lk.by_global(4).time == "2026-03-01T10:00:00.000+00:00"


def test_files_the_record_lists_are_taken_from_it(tmp_path):
    rec = _record([_wedge(0, 1, 5, data_files=["x_1.h5", "x_2.h5"])],
                  data_files=[DataFileRecord(file="x_1.h5", dataset="/entry/data/frames", first_global=1, n=2),
                              DataFileRecord(file="x_2.h5", first_global=3, n=3)])
    lk = Lookup(rec, tmp_path)  # neither file exists: the record's counts stand
    got = [(lk.by_global(g).data_file, lk.by_global(g).index_in_file, lk.by_global(g).dataset) for g in (1, 2, 3, 5)]
    assert got == [("x_1.h5", 0, "/entry/data/frames"), ("x_1.h5", 1, "/entry/data/frames"),
                   ("x_2.h5", 0, "/entry/data/data"), ("x_2.h5", 2, "/entry/data/data")]


def test_a_missing_data_file_gives_no_file_and_a_broken_one_is_refused(tmp_path):
    rec = _record([_wedge(0, 1, 2, data_files=["gone.h5"]), _wedge(1, 3, 2, data_files=["junk.h5"]),
                   _wedge(2, 5, 2, data_files=["empty.h5"])])
    (tmp_path / "junk.h5").write_bytes(b"this is not HDF5")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.create_group("entry/data")
    lk = Lookup(rec, tmp_path)
    loc = lk.by_global(1)
    assert (loc.data_file, loc.index_in_file, loc.dataset) == (None, None, None)
    with pytest.raises(RepackageError, match=r"cannot read data file .*junk\.h5"):
        lk.by_global(3)
    with pytest.raises(RepackageError, match=r"empty\.h5 has no dataset /entry/data/data.*no detector master links no other"):
        lk.by_global(5)


def test_a_sweep_without_frames_is_refused_by_omega(tmp_path):
    sweeps = [SweepRecord(id="A", wavelength_A=1.0, omega_start=0.0, omega_increment=1.0, n_frames=2),
              SweepRecord(id="E", wavelength_A=1.0, omega_start=0.0, omega_increment=1.0, n_frames=2)]
    lk = Lookup(_record([_wedge(0, 1, 2)], sweeps=sweeps), tmp_path)
    with pytest.raises(RepackageError, match="sweep E has no frames"):
        lk.by_omega("E", 0.5)
    with pytest.raises(RepackageError, match=r"sweep E has frames 1\.\.0"):
        lk.by_frame("E", 1)


def test_a_falling_omega_sweep(tmp_path):
    sweeps = [SweepRecord(id="A", wavelength_A=1.0, omega_start=0.0, omega_increment=-0.5, n_frames=4)]
    ws = [WedgeRecord(order=0, sweep="A", sweep_first_frame=1, n=4, n_collected=4, first_global=1, omega_start=0.0,
                      status="complete")]
    lk = Lookup(_record(ws, sweeps=sweeps), tmp_path)
    loc = lk.by_omega("A", -0.75)  # frame 2 covers [-0.5, -1.0)
    assert (loc.frame, loc.omega, loc.omega_end) == (2, -0.5, -1.0)
    with pytest.raises(RepackageError, match="outside sweep A"):
        lk.by_omega("A", 0.25)


def test_loading_refuses_what_is_not_a_sweep_master(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not HDF5 at all")
    with pytest.raises(RepackageError, match=r"cannot read .*junk\.h5"):
        Lookup.load(junk)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f.create_group("entry")
    with pytest.raises(RepackageError, match="not a sweep master.*acquisition record"):
        Lookup.load(plain)


def test_a_master_without_the_record_path_is_read_where_it_is(tmp_path):
    rec = _record([_wedge(0, 1, 2, data_files=["d_1.h5"])],
                  data_files=[DataFileRecord(file="d_1.h5", first_global=1, n=2)])
    m = tmp_path / "sub" / "m_master.h5"
    m.parent.mkdir()
    with h5py.File(m, "w") as f:
        f["/entry/notes/data"] = rec.dumps()
    lk = Lookup.load(m)
    assert lk.base == m.parent and lk.by_global(2).data_file == "d_1.h5"


# -- both ways is the identity -----------------------------------------------------------------
@st.composite
def records(draw):
    n_sweeps = draw(st.integers(1, 3))
    sweeps, wedges = [], []
    for j in range(n_sweeps):
        n_frames, size = draw(st.integers(1, 12)), draw(st.integers(1, 5))
        inc = draw(st.sampled_from([0.1, 0.5, -0.25, 1.0]))
        start = draw(st.sampled_from([0.0, 33.3, -90.0]))
        sweeps.append(SweepRecord(id=f"s{j}", wavelength_A=1.0, omega_start=start, omega_increment=inc,
                                  n_frames=n_frames))
        for first in range(1, n_frames + 1, size):
            n = min(size, n_frames - first + 1)
            status = draw(st.sampled_from(["complete", "partial", "planned"]))
            got = n if status == "complete" else (draw(st.integers(1, n)) if status == "partial" else 0)
            wedges.append(WedgeRecord(order=0, sweep=f"s{j}", sweep_first_frame=first, n=n, n_collected=got,
                                      first_global=1, omega_start=start + (first - 1) * inc, status=status))
    order = draw(st.permutations(range(len(wedges))))
    wedges = [wedges[i] for i in order]
    # collected wedges first, as the record keeps them
    wedges.sort(key=lambda w: w.status == "planned")
    rec = AcquisitionRecord(acquisition_id="h", prefix="p", sweeps=sweeps, wedges=wedges)
    rec.renumber()
    return rec


@settings(max_examples=150, deadline=None)
@given(records())
def test_locate_both_ways_is_the_identity(rec):
    lk = Lookup(rec, Path("/nonexistent-locate-base"))
    total = sum(w.n_collected if w.status in ("complete", "partial") else w.n for w in rec.wedges)
    seen = set()
    for g in range(1, total + 1):
        loc = lk.by_global(g)
        assert loc.global_index == g
        seen.add((loc.sweep, loc.frame))
        inc = rec.sweep(loc.sweep).omega_increment
        assert loc.omega_end == pytest.approx(loc.omega + inc)
        assert lk.by_frame(loc.sweep, loc.frame) == loc
        assert lk.by_omega(loc.sweep, loc.omega + inc / 2) == loc
    for s in rec.sweeps:  # and from the sweep's side: frames 1..n, each a global image
        n = sum(1 for sw, _ in seen if sw == s.id)
        assert {f for sw, f in seen if sw == s.id} == set(range(1, n + 1))
        for f in range(1, n + 1):
            assert lk.by_global(lk.by_frame(s.id, f).global_index).frame == f
    with pytest.raises(RepackageError):
        lk.by_global(total + 1)


def test_a_sweep_master_points_to_the_record_directory(tmp_path):
    from mxcubecore_interleave.nexus import repackage_record
    from tests.repackage_helpers import TWO_SWEEPS

    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=4)
    res = repackage_record(rp, "after", output_subdir="processing")
    lk = Lookup.load(res.masters[0].master)
    assert lk.base.resolve() == rp.parent.resolve()  # where the record's relative paths start, not the master's directory
    assert lk.by_global(5).data_file == "ilv_2_data_000001.h5"


def test_a_broken_record_inside_a_master_names_where_it_was(tmp_path):
    m = tmp_path / "x_master.h5"
    with h5py.File(m, "w") as f:
        f["/entry/notes/data"] = '{"not": "a record"}'
    with pytest.raises(RecordError, match=r"x_master\.h5:/entry/notes/data is not a valid acquisition record"):
        Lookup.load(m)


def test_a_detector_master_without_entry_data_leaves_the_dectris_dataset(tmp_path):
    with h5py.File(tmp_path / "w_master.h5", "w") as f:
        f.create_group("entry")
    with h5py.File(tmp_path / "w_data_000001.h5", "w") as f:
        f.create_dataset("/entry/data/data", data=np.zeros((2, 3, 3), dtype="uint16"))
    rec = _record([_wedge(0, 1, 2, data_files=["w_data_000001.h5"], source_master="w_master.h5")])
    loc = Lookup(rec, tmp_path).by_global(2)
    assert (loc.data_file, loc.dataset, loc.index_in_file) == ("w_data_000001.h5", "/entry/data/data", 1)


def test_a_falling_sweep_ends_where_its_last_frame_ends(tmp_path):
    """Frames of a falling sweep cover (end, start]: omega at the end is outside, not in a gap."""
    sweeps = [SweepRecord(id="A", wavelength_A=1.0, omega_start=0.0, omega_increment=-0.5, n_frames=4)]
    ws = [WedgeRecord(order=0, sweep="A", sweep_first_frame=1, n=4, n_collected=4, first_global=1, omega_start=0.0,
                      status="complete")]
    lk = Lookup(_record(ws, sweeps=sweeps), tmp_path)
    assert lk.by_omega("A", -1.99).frame == 4
    with pytest.raises(RepackageError, match=r"omega -2\.0° is outside sweep A"):
        lk.by_omega("A", -2.0)
