"""MasterFileRepackager on the mockup beamline: the interface the interleaved queue entry calls."""

from __future__ import annotations

import h5py
import pytest

from mxcubecore_interleave.eiger import frame_tag
from mxcubecore_interleave.errors import RepackageError
from mxcubecore_interleave.record import AcquisitionRecord
from tests.repackage_helpers import TWO_SWEEPS, interleaved_record

pytestmark = pytest.mark.beamline


def _tags(master):
    with h5py.File(master, "r") as f:
        data = f["/entry/data"]
        return [frame_tag(data[k][i]) for k in sorted(data) for i in range(data[k].shape[0])]


def test_role_is_loaded_and_configured(beamline):
    ho = beamline.get_object_by_role("master_file_repackager")
    assert type(ho).__name__ == "MasterFileRepackager"
    assert (ho.layout, ho.write_before, ho.output_subdir, ho.template_master) == ("auto", True, "", None)
    assert ho.pixel_mask == "link"


def test_before_then_after(beamline, tmp_path):
    ho = beamline.get_object_by_role("master_file_repackager")
    seen = []

    def on_written(stage, paths):
        seen.append((stage, [p.name for p in paths]))

    ho.connect("sweepMastersWritten", on_written)
    d = tmp_path / "col"
    rp = interleaved_record(d, TWO_SWEEPS, images_per_file=4, write=False)
    before = ho.write_sweep_masters(rp, "before")
    assert [p.name for p in before] == ["ilv_A_master.h5", "ilv_B_master.h5"]
    with h5py.File(before[0], "r") as f:  # the header comes from the beamline's detector
        det = f["/entry/instrument/detector/detectorSpecific"]
        assert int(det["x_pixels_in_detector"][()]) == beamline.detector.get_geometry().nx
    rec = AcquisitionRecord.load(rp)
    assert [(s.master, s.layout) for s in rec.sweeps] == [("ilv_A_master.h5", "L"), ("ilv_B_master.h5", "L")]
    assert not list(d.glob(".sweep-template-*")) and not list(d.glob(".*.tmp"))

    (d / "ilv_acquisition.json").unlink()  # the collection now writes the wedges (small test frames)
    interleaved_record(d, TWO_SWEEPS, images_per_file=4)
    after = ho.write_sweep_masters(d / "ilv_acquisition.json", "after")
    assert after == before
    assert _tags(after[1]) == [5, 6, 7, 8, 13, 14, 15, 16]
    assert seen == [("before", ["ilv_A_master.h5", "ilv_B_master.h5"]), ("after", ["ilv_A_master.h5", "ilv_B_master.h5"])]
    assert AcquisitionRecord.load(d / "ilv_acquisition.json").sweeps[1].master == "ilv_B_master.h5"


def test_write_before_off_and_refusal(beamline, tmp_path):
    ho = beamline.get_object_by_role("master_file_repackager")
    rp = interleaved_record(tmp_path / "c", TWO_SWEEPS, images_per_file=4)
    ho.write_before = False
    assert ho.write_sweep_masters(rp, "before") == []
    failures = []

    def on_failed(stage, message):
        failures.append((stage, message))

    ho.connect("sweepMastersFailed", on_failed)
    (tmp_path / "c" / "ilv_2_data_000001.h5").unlink()
    text = rp.read_text()
    with pytest.raises(RepackageError, match="ilv_2_data_000001.h5 is missing"):
        ho.write_sweep_masters(rp, "after")
    assert rp.read_text() == text
    assert failures and failures[0][0] == "after"
    with pytest.raises(ValueError):
        ho.write_sweep_masters(rp, "during")


def _load_xml(directory, name: str, elements: str):
    """The repackager as a beamline's XML file declares it, loaded by mxcubecore's repository."""
    from mxcubecore import HardwareRepository as HWR

    (directory / f"{name}.xml").write_text(
        f'<object class="mxcubecore_interleave.hardware_objects.MasterFileRepackager">\n{elements}</object>\n')
    repo = HWR.get_hardware_repository()
    repo.server_address.append(str(directory))
    try:
        return repo.get_hardware_object(f"/{name}")
    finally:
        repo.server_address.remove(str(directory))


def test_loads_from_xml(beamline, tmp_path):
    """XML configuration: class="…hardware_objects.MasterFileRepackager" (module name == class name)."""
    ho = _load_xml(tmp_path, "repackager_xml", "  <output_subdir>processing</output_subdir>\n  <layout>V</layout>\n"
                   "  <pixel_mask>copy</pixel_mask>\n  <write_before>False</write_before>\n")
    assert type(ho).__name__ == "MasterFileRepackager"
    assert (ho.output_subdir, ho.layout, ho.write_before) == ("processing", "V", False)
    rp = interleaved_record(tmp_path / "x", TWO_SWEEPS, images_per_file=4)
    (a, _b) = ho.write_sweep_masters(rp, "after")
    assert a == tmp_path / "x" / "processing" / "ilv_A_master.h5"
    assert AcquisitionRecord.load(rp).sweep("A").layout == "V"
    with h5py.File(a, "r") as f:  # pixel_mask: copy, a self-contained master
        assert isinstance(f.get("/entry/instrument/detector/detectorSpecific/pixel_mask", getlink=True), h5py.HardLink)


def test_an_unknown_pixel_mask_policy_is_refused_at_load(beamline, tmp_path):
    ho = _load_xml(tmp_path, "repackager_bad", "  <pixel_mask>links</pixel_mask>\n")
    assert ho is None  # init() refused it: mxcubecore does not hand out a half-configured object


def test_gevent_loop_keeps_running_while_masters_are_written(beamline, tmp_path):
    import gevent

    ho = beamline.get_object_by_role("master_file_repackager")
    rp = interleaved_record(tmp_path / "g", TWO_SWEEPS, images_per_file=3)
    ticks = []

    def ticker():
        while True:
            ticks.append(1)
            gevent.sleep(0.005)

    g = gevent.spawn(ticker)
    try:
        ho.write_sweep_masters(rp, "after")
        assert ticks, "the gevent loop was blocked while the sweep masters were written"
    finally:
        g.kill()


def test_before_probes_each_sweep_at_its_wavelength(beamline, tmp_path):
    ho = beamline.get_object_by_role("master_file_repackager")
    rp = interleaved_record(tmp_path / "e", TWO_SWEEPS, images_per_file=4, write=False)
    a, b = ho.write_sweep_masters(rp, "before")
    assert ho.last_result.warnings == []
    for master, sweep in ((a, TWO_SWEEPS[0]), (b, TWO_SWEEPS[1])):
        with h5py.File(master, "r") as f:
            energy = float(f["/entry/instrument/detector/detectorSpecific/photon_energy"][()])
            threshold = float(f["/entry/instrument/detector/threshold_energy"][()])
        assert energy == pytest.approx(12398.42 / sweep.wavelength_A, rel=1e-5)
        assert threshold == pytest.approx(energy / 2, rel=1e-5)  # the simulated detector's threshold


def test_missing_record_is_a_record_error(beamline, tmp_path):
    from mxcubecore_interleave.errors import RecordError

    ho = beamline.get_object_by_role("master_file_repackager")
    failures = []

    def on_failed(stage, message):
        failures.append(message)

    ho.connect("sweepMastersFailed", on_failed)
    with pytest.raises(RecordError, match="no acquisition record"):
        ho.write_sweep_masters(tmp_path / "nothing_acquisition.json", "after")
    assert failures and "no acquisition record" in failures[0]


def test_first_thread_pool_run_under_mxcubecore_monkey_patch():
    """mxcubecore patches with ``patch_all(thread=False)``: the validation's first nxmx import,
    made in a pool thread, ran a gevent subprocess there and raised TypeError. In a fresh process
    (nothing imported yet) the import made in the loop first lets the pool thread's run pass."""
    import subprocess
    import sys

    code = """
from gevent import monkey; monkey.patch_all(thread=False)
import sys, gevent
def work():
    import nxmx
    return "ok"
if sys.argv[1] == "prepared":
    from mxcubecore_interleave.hardware_objects.MasterFileRepackager import import_checks_in_loop
    import_checks_in_loop()
try:
    print(gevent.get_hub().threadpool.apply(work))
except TypeError as exc:
    print("TypeError", exc)
"""
    out = {k: subprocess.run([sys.executable, "-c", code, k], capture_output=True, text=True, timeout=120).stdout
           for k in ("bare", "prepared")}
    assert out["prepared"].strip().splitlines()[-1] == "ok"
    assert "TypeError" in out["bare"]  # the failure this guards against is real here
