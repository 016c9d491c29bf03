"""Sweep masters written from the acquisition record, read frame-exactly by third-party readers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import fabio
import h5py
import hdf5plugin  # noqa: F401
import numpy as np
import nxmx
import pytest

from mxcubecore_interleave.eiger import frame_tag
from mxcubecore_interleave.errors import RepackageError
from mxcubecore_interleave.nexus import repackage_record, semantic_digest
from mxcubecore_interleave.record import AcquisitionRecord
from tests.repackage_helpers import TWO_SWEEPS, SweepDef, interleaved_record

BIN = Path(sys.executable).parent
# wedges of 4 frames: 4 per file -> whole files (layout L); 3 per file -> 3+1 (layout V)
LAYOUTS = {"L": 4, "V": 3}


def expected_globals(sweep_index: int, n_sweeps: int = 2, wedge: int = 4, n_frames: int = 8) -> list[int]:
    """Global image numbers of a sweep's frames when wedges alternate A1 B1 A2 B2."""
    out = []
    for k in range(n_frames // wedge):
        first = (k * n_sweeps + sweep_index) * wedge + 1
        out += list(range(first, first + wedge))
    return out


def eiger_filewriter_frames(master: Path) -> list[int]:
    """dxtbx FormatNXmxEigerFilewriter's rule (src/dxtbx/format/FormatNXmxEigerFilewriter.py):
    data_\\d{6} in sorted order, frame k found by subtracting each block's shape[0]."""
    with h5py.File(master, "r") as f:
        data = f["/entry/data"]
        names = sorted(k for k in data if re.fullmatch(r"data_\d{6}", k))
        assert names, "no data_NNNNNN: dxtbx would raise UnboundLocalError"
        total = sum(data[k].shape[0] for k in names)
        tags = []
        for g in range(total):
            k = g
            for name in names:
                if k < data[name].shape[0]:
                    tags.append(frame_tag(data[name][k]))
                    break
                k -= data[name].shape[0]
        return tags


def nxmx_signal_frames(master: Path) -> list[int]:
    """dxtbx FormatNXmx / nxmx rule (src/dxtbx/nexus/__init__.py:get_raw_data): nxdata[signal],
    else the first child of NXdata."""
    with h5py.File(master, "r") as f:
        nxdata = nxmx.NXmx(f).entries[0].data[0]
        signal = nxdata.signal
        name = signal.decode() if isinstance(signal, bytes) else signal
        ds = nxdata[name] if name else next(iter(nxdata.values()))
        return [frame_tag(ds[i]) for i in range(ds.shape[0])]


@pytest.fixture(params=sorted(LAYOUTS))
def packed(request, tmp_path):
    layout = request.param
    rp = interleaved_record(tmp_path / "data", TWO_SWEEPS, images_per_file=LAYOUTS[layout])
    result = repackage_record(rp, "after", output_subdir="processing")
    return layout, rp, result


def test_layout_and_frames_through_every_reader(packed):
    layout, rp, result = packed
    assert [m.layout for m in result.masters] == [layout, layout]
    for i, m in enumerate(result.masters):
        want = expected_globals(i)
        assert m.master.name == f"ilv_{m.sweep}_master.h5"
        assert m.master.parent.name == "processing"
        with h5py.File(m.master, "r") as f:
            assert list(f["/entry/acquisition_order/global_image_number"][()]) == want
            data = f["/entry/data"]
            names = sorted(data)
            assert all(re.fullmatch(r"data_\d{6}", n) for n in names)
            if layout == "V":
                assert names == ["data_000001"] and data["data_000001"].is_virtual
                assert data.attrs["signal"] == b"data_000001"
            else:
                assert all(isinstance(data.get(n, getlink=True), h5py.ExternalLink) for n in names)
                assert not any(os.path.isabs(data.get(n, getlink=True).filename) for n in names)
            ds = f["/entry/instrument/detector/detectorSpecific"]
            assert int(ds["nimages"][()]) == 8 and int(ds["ntrigger"][()]) == 1
            assert "eiger_fw_version" in ds
        assert eiger_filewriter_frames(m.master) == want
        via_signal = nxmx_signal_frames(m.master)
        if layout == "V":
            assert via_signal == want
        else:  # links carry no signal: nxmx sees the first block only (NXmx reference §3)
            assert via_signal == want[: len(via_signal)]
        img = fabio.open(str(m.master))
        assert img.nframes == 8
        assert [frame_tag(img.getframe(k).data) for k in range(8)] == want


def test_nxmx_scan_and_wavelength(packed):
    _layout, _rp, result = packed
    for m, sweep in zip(result.masters, TWO_SWEEPS):
        with h5py.File(m.master, "r") as f:
            entry = nxmx.NXmx(f).entries[0]
            sample = entry.samples[0]
            axes = nxmx.get_rotation_axes(nxmx.get_dependency_chain(sample.depends_on))
            assert list(axes.names[axes.is_scan_axis]) == ["omega"]
            omega = f["/entry/sample/transformations/omega"][()]
            omega_end = f["/entry/sample/transformations/omega_end"][()]
            assert omega[0] == sweep.omega_start
            assert np.allclose(np.diff(omega), sweep.omega_increment)
            assert np.median(omega_end - omega) == pytest.approx(sweep.omega_increment)  # dxtbx's step
            wl = entry.instruments[0].beams[0].incident_wavelength.to("angstrom").magnitude
            assert float(np.ravel(wl)[0]) == pytest.approx(sweep.wavelength_A)
            g = f["/entry/sample/goniometer"]
            assert float(g["omega_range_total"][()]) == pytest.approx(8 * sweep.omega_increment)
            assert len(f["/entry/sample/transformations/kappa"][()]) == 8


def unresolved_links(master: Path) -> list[str]:
    """The data_NNNNNN external links that h5py cannot open from the sweep master (layout L has no
    virtual dataset, so hdf5-vds-check has nothing to look at there)."""
    bad = []
    with h5py.File(master, "r") as f:
        data = f["/entry/data"]
        for k in sorted(data):
            assert isinstance(data.get(k, getlink=True), h5py.ExternalLink), k
            try:
                ok = data[k].ndim == 3 and data[k].shape[0] > 0
            except KeyError:  # h5py's answer to a dangling external link
                ok = False
            if not ok:
                bad.append(k)
    return bad


def test_sources_resolve_and_nxvalidate(packed):
    layout, rp, result = packed
    for m in result.masters:
        if layout == "V":
            out = subprocess.run([BIN / "hdf5-vds-check", m.master], capture_output=True, text=True)
            assert out.returncode == 0, out.stdout + out.stderr
            assert "All virtual data sources accessible" in out.stdout
        else:
            assert unresolved_links(m.master) == []
            with h5py.File(m.master, "r") as f:
                assert len(f["/entry/data"]) == 2  # one whole data file per wedge
    # nxvalidate: no error in the sweep master (the detector's own master, with NXsource only
    # under NXinstrument as DECTRIS writes it, has one: the sweep master links it into NXentry)
    def errors(p: Path) -> int:
        out = subprocess.run([BIN / "nxvalidate", "-a", "NXmx", "-e", p], capture_output=True, text=True)
        found = re.search(r"Total number of errors: (\d+)", re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr))
        assert found, out.stdout + out.stderr
        return int(found.group(1))

    assert errors(rp.parent / "ilv_1_master.h5") == 1, "nxvalidate finds what it should (NXsource)"
    for m in result.masters:
        assert errors(m.master) == 0, m.master


def test_vds_check_catches_missing_source(tmp_path):
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=3)
    res = repackage_record(rp, "after")
    (tmp_path / "d" / "ilv_3_data_000002.h5").unlink()
    out = subprocess.run([BIN / "hdf5-vds-check", res.masters[0].master], capture_output=True, text=True)
    assert out.returncode != 0


def test_missing_linked_file_is_detected(tmp_path):
    from mxcubecore_interleave.nexus import collection_from_record, validate_master

    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=4)
    res = repackage_record(rp, "after")
    _rec, coll = collection_from_record(rp, "after")
    (tmp_path / "d" / "ilv_3_data_000001.h5").unlink()  # the only file of wedge A2
    assert unresolved_links(res.masters[0].master) == ["data_000002"]
    with pytest.raises(RepackageError, match=r"data_000002 points to ilv_3_data_000001\.h5, which does not exist"):
        validate_master(res.masters[0].master, coll.sweeps[0])


def test_acquisition_order_and_record(packed):
    _layout, rp, result = packed
    rec = AcquisitionRecord.load(rp)
    assert [s.master for s in rec.sweeps] == ["processing/ilv_A_master.h5", "processing/ilv_B_master.h5"]
    assert {s.layout for s in rec.sweeps} == {result.masters[0].layout}
    with h5py.File(result.masters[1].master, "r") as f:
        ao = f["/entry/acquisition_order"]
        assert ao.attrs["NX_class"] == b"NXcollection"
        assert ao["schema"][()] == b"mxcube-interleaved/1"
        assert ao["sweep_id"][()] == b"B"
        assert list(ao["wedge_index"][()]) == [1] * 4 + [3] * 4
        assert [s.decode() for s in ao["source_master"][()]] == ["../ilv_2_master.h5", "../ilv_4_master.h5"]
        note = f["/entry/notes"]
        assert note.attrs["NX_class"] == b"NXnote"
        embedded = AcquisitionRecord.loads(note["data"][()].decode())
        assert embedded.acquisition_id == rec.acquisition_id and len(embedded.wedges) == 4
        assert embedded.sweep("B").master == "processing/ilv_B_master.h5"


def test_moved_tree_still_reads(packed, tmp_path):
    layout, rp, result = packed
    moved = tmp_path / "elsewhere" / "tree"
    shutil.move(str(rp.parent), moved)
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)  # a different working directory
        master = moved / "processing" / "ilv_A_master.h5"
        assert eiger_filewriter_frames(master) == expected_globals(0)
    finally:
        os.chdir(cwd)


def test_template_external_links_follow_the_master(tmp_path):
    """A link the detector master has outside /entry/data (here a calibration file) is rewritten
    relative to the sweep master, which sits in a sub-directory."""
    from mxcubecore_interleave.nexus import collection_from_record, validate_master

    d = tmp_path / "d"
    rp = interleaved_record(d, TWO_SWEEPS, images_per_file=4)
    with h5py.File(d / "calib.h5", "w") as f:
        f["gain"] = np.arange(3.0)
    for m in d.glob("ilv_?_master.h5"):
        m.chmod(0o644)
        with h5py.File(m, "r+") as f:
            f["/entry/instrument/detector/calibration"] = h5py.ExternalLink("calib.h5", "/gain")
    res = repackage_record(rp, "after", output_subdir="processing")
    for m in res.masters:
        with h5py.File(m.master, "r") as f:
            assert f["/entry/instrument/detector"].get("calibration", getlink=True).filename == "../calib.h5"
            assert list(f["/entry/instrument/detector/calibration"][()]) == [0.0, 1.0, 2.0]
    (d / "calib.h5").unlink()
    _rec, coll = collection_from_record(rp, "after")
    with pytest.raises(RepackageError, match=r"/entry/instrument/detector/calibration links to \.\./calib\.h5, which "
                                             "does not exist"):
        validate_master(res.masters[0].master, coll.sweeps[0])


def test_rerun_is_identical_and_leaves_the_file_alone(packed):
    _layout, rp, result = packed
    before = {m.master: (semantic_digest(m.master), m.master.stat().st_ino) for m in result.masters}
    again = repackage_record(rp, "after", output_subdir="processing")
    assert [m.status for m in again.masters] == ["unchanged", "unchanged"]
    for m in again.masters:
        assert (semantic_digest(m.master), m.master.stat().st_ino) == before[m.master]
        assert oct(m.master.stat().st_mode & 0o777) == "0o644"


def test_a_different_layout_replaces_the_master(tmp_path):
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=4)
    first = repackage_record(rp, "after")
    digest = semantic_digest(first.masters[0].master)
    second = repackage_record(rp, "after", layout="V")
    assert [m.status for m in second.masters] == ["replaced", "replaced"]
    assert semantic_digest(second.masters[0].master) != digest
    assert AcquisitionRecord.load(rp).sweeps[0].layout == "V"
    assert eiger_filewriter_frames(second.masters[0].master) == expected_globals(0)


def test_layout_L_refused_when_wedges_split_files(tmp_path):
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=3)
    with pytest.raises(RepackageError, match="cannot be written as links only"):
        repackage_record(rp, "after", layout="L")
    assert not list((tmp_path / "d").glob("ilv_[AB]_master.h5"))


# -- refusals: nothing written, nothing touched -------------------------------------------------
def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


@pytest.mark.parametrize("damage, message", [
    ("missing", r"ilv_3_data_000001\.h5 is missing"),
    ("truncated", r"cannot read data file .*ilv_3_data_000001\.h5"),
    ("foreign", r"ilv_3_data_000002\.h5 .*starts at image 1 but the series expects image 4|belongs to another series"),
])
def test_damaged_data_file_is_refused(tmp_path, damage, message):
    d = tmp_path / "d"
    rp = interleaved_record(d, TWO_SWEEPS, images_per_file=3)
    victim = d / ("ilv_3_data_000002.h5" if damage == "foreign" else "ilv_3_data_000001.h5")
    victim.chmod(0o644)
    if damage == "missing":
        victim.unlink()
    elif damage == "truncated":
        raw = victim.read_bytes()
        victim.write_bytes(raw[: len(raw) // 2])
    else:  # another series' first file in its place
        shutil.copyfile(d / "ilv_1_data_000001.h5", victim)
    snap = _snapshot(d)
    with pytest.raises(RepackageError, match=message):
        repackage_record(rp, "after")
    assert _snapshot(d) == snap  # no master, no temporary file, record untouched


def test_existing_masters_survive_a_refusal(tmp_path):
    d = tmp_path / "d"
    rp = interleaved_record(d, TWO_SWEEPS, images_per_file=4)
    res = repackage_record(rp, "after")
    snap = _snapshot(d)
    (d / "ilv_4_data_000001.h5").unlink()
    with pytest.raises(RepackageError, match="ilv_4_data_000001.h5 is missing"):
        repackage_record(rp, "after")
    after = _snapshot(d)
    assert after == {k: v for k, v in snap.items() if k != "ilv_4_data_000001.h5"}
    assert res.masters[0].master.exists()


def _moving_kappa(master: Path) -> None:
    """Make a detector master's kappa move during its series: the sweep master cannot use it as
    its template (only omega scans), a refusal found while writing that sweep, not before."""
    master.chmod(0o644)
    with h5py.File(master, "r+") as f:
        for p in ("/entry/sample/transformations/kappa", "/entry/sample/goniometer/kappa"):
            ds = f[p]
            ds.write_direct(np.linspace(0.0, 0.3, ds.shape[0]).astype(ds.dtype))


def test_a_refusal_in_one_sweep_writes_no_master_at_all(tmp_path):
    d = tmp_path / "d"
    rp = interleaved_record(d, TWO_SWEEPS, images_per_file=4)
    _moving_kappa(d / "ilv_2_master.h5")  # sweep B's template; sweep A is fine
    snap = _snapshot(d)
    with pytest.raises(RepackageError, match=r"template master .*ilv_2_master\.h5: .*kappa changes during"):
        repackage_record(rp, "after", output_subdir="processing")
    assert _snapshot(d) == snap  # the record is untouched
    assert not (d / "processing").exists()  # no master of A, no temporary file, no new directory


def test_a_refusal_in_one_sweep_leaves_every_existing_master(tmp_path):
    d = tmp_path / "d"
    rp = interleaved_record(d, TWO_SWEEPS, images_per_file=4)
    repackage_record(rp, "after")
    _moving_kappa(d / "ilv_2_master.h5")
    snap = _snapshot(d)
    with pytest.raises(RepackageError, match="kappa changes during"):
        repackage_record(rp, "after", layout="V")  # A's master would be replaced, B's is refused
    assert _snapshot(d) == snap
    assert not list(d.glob(".*.tmp"))


def test_omega_gap_is_refused_naming_the_frame(tmp_path):
    # wedge 0 (A1) aborted after 2 of 4 frames, A2 collected: omega jumps from 1.0 to 2.0
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=4, partial={0: 2})
    with pytest.raises(RepackageError, match=r"sweep A: omega gap between frame 2 .* and frame 3"):
        repackage_record(rp, "after")


@pytest.mark.parametrize("ipf, layout", [(4, "L"), (2, "L"), (3, "V")])
def test_partial_last_wedge_is_packed(tmp_path, ipf, layout):
    # A2 (order 2) stopped after 3 frames, B2 never collected: A has 7 frames, B 4
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=ipf, partial={2: 3}, skip={3})
    res = repackage_record(rp, "after")
    assert [(m.sweep, m.n_frames) for m in res.masters] == [("A", 7), ("B", 4)]
    assert res.masters[0].layout == layout
    assert eiger_filewriter_frames(res.masters[0].master) == [1, 2, 3, 4, 9, 10, 11]
    rec = AcquisitionRecord.load(rp)
    assert sum(d.n for d in rec.data_files) == 11  # stored frames only
    assert not any(d.file.startswith("ilv_4_") for d in rec.data_files)  # B2 never wrote a file


def neggia_frames(master: Path) -> list[int]:
    """Neggia's rule (dectris/neggia src/dectris/neggia/plugin/H5ToXds.cpp): frame count
    nimages*ntrigger, block = frame // dim0(data_000001), index = frame % dim0; it cannot read a
    virtual dataset (layout class 3)."""
    with h5py.File(master, "r") as f:
        ds = f["/entry/instrument/detector/detectorSpecific"]
        total = int(ds["nimages"][()]) * int(ds["ntrigger"][()])
        first = f["/entry/data/data_000001"]
        assert not first.is_virtual, "Neggia would abort on a virtual dataset"
        assert f["/entry/instrument/detector/detectorSpecific/pixel_mask"].chunks is None
        block = first.shape[0]
        return [frame_tag(f[f"/entry/data/data_{k // block + 1:06d}"][k % block]) for k in range(total)]


def test_neggia_reads_layout_L(tmp_path):
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=2)  # 2 files per wedge
    res = repackage_record(rp, "after")
    assert {m.layout for m in res.masters} == {"L"}
    assert neggia_frames(res.masters[0].master) == expected_globals(0)
    assert neggia_frames(res.masters[1].master) == expected_globals(1)


def test_wavelength_change_inside_a_sweep_is_refused(tmp_path):
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=4)
    rec = AcquisitionRecord.load(rp)
    rec.sweep("A").wavelength_A = 1.2  # the record now disagrees with what the detector stored
    rec.save(rp)
    with pytest.raises(RepackageError, match=r"ilv_1_master.h5 was collected at 0.97930 Å, sweep A is at 1.20000 Å"):
        repackage_record(rp, "after")


def test_sweep_master_never_replaces_a_detector_file(tmp_path):
    d = tmp_path / "d"
    rp = interleaved_record(d, TWO_SWEEPS, images_per_file=4)
    (d / "ilv_A_master.h5").write_bytes(b"someone else's file")
    with pytest.raises(RepackageError, match="is not a sweep master; refusing to overwrite"):
        repackage_record(rp, "after")
    assert (d / "ilv_A_master.h5").read_bytes() == b"someone else's file"


# -- before the experiment ------------------------------------------------------------------------
def test_before_masters_become_valid_as_wedges_arrive(tmp_path):
    from mxcubecore_interleave.eiger import SeriesSpec, write_series
    from tests.repackage_helpers import SMALL

    tpl = write_series(SeriesSpec(directory=tmp_path / "tpl", series="probe", n_images=1, images_per_file=1,
                                  omega_start=0, omega_increment=0.5, wavelength_A=1.0, exposure_time=0.01,
                                  detector=SMALL)).master
    d = tmp_path / "d"
    for ipf, layout in ((4, "L"), (3, "V")):
        sub = d / layout
        rp = interleaved_record(sub, TWO_SWEEPS, images_per_file=ipf, write=False)
        res = repackage_record(rp, "before", template=tpl, images_per_file=ipf, output_subdir="processing")
        assert [m.layout for m in res.masters] == [layout, layout]
        assert not list(sub.glob("*_data_*.h5"))  # nothing collected yet
        with h5py.File(res.masters[0].master, "r") as f:
            assert f["/entry/sample/transformations/omega"].shape == (8,)
        # now the detector writes the wedges, under the same names
        (sub / "ilv_acquisition.json").unlink()
        interleaved_record(sub, TWO_SWEEPS, images_per_file=ipf)
        assert eiger_filewriter_frames(res.masters[0].master) == expected_globals(0)
        assert eiger_filewriter_frames(res.masters[1].master) == expected_globals(1)
        after = repackage_record(sub / "ilv_acquisition.json", "after", output_subdir="processing")
        assert [m.status for m in after.masters] == ["replaced", "replaced"]  # real headers and times


def test_inverse_beam_negative_step(tmp_path):
    sweeps = [SweepDef("A", 0.9793, 0.0, 0.5, 8), SweepDef("Ai", 0.9793, 184.0, -0.5, 8)]
    rp = interleaved_record(tmp_path / "d", sweeps, images_per_file=4)
    res = repackage_record(rp, "after")
    with h5py.File(res.masters[1].master, "r") as f:
        omega = f["/entry/sample/transformations/omega"][()]
    assert omega[0] == 184.0 and np.allclose(np.diff(omega), -0.5)


def test_template_at_another_wavelength_is_reported(tmp_path):
    from mxcubecore_interleave.eiger import SeriesSpec, write_series
    from tests.repackage_helpers import SMALL

    tpl = write_series(SeriesSpec(directory=tmp_path / "tpl", series="probe", n_images=1, images_per_file=1,
                                  omega_start=0, omega_increment=0.5, wavelength_A=0.9793, exposure_time=0.01,
                                  detector=SMALL)).master
    rp = interleaved_record(tmp_path / "d", TWO_SWEEPS, images_per_file=4, write=False)
    res = repackage_record(rp, "before", template=tpl, images_per_file=4)
    assert len(res.warnings) == 1 and "sweep B: threshold_energy is copied from probe_master.h5" in res.warnings[0]
    with h5py.File(res.masters[1].master, "r") as f:
        assert float(f["/entry/instrument/beam/incident_wavelength"][()]) == pytest.approx(0.9537)
        assert float(f["/entry/instrument/detector/detectorSpecific/photon_energy"][()]) == pytest.approx(
            12398.42 / 0.9537, rel=1e-5)
