"""An ordinary DataCollection through mxcubecore's queue writes real files through the simulated Eiger."""

import copy
from pathlib import Path

import fabio
import gevent
import h5py
import hdf5plugin  # noqa: F401
import numpy as np
import nxmx
import pytest

from mxcubecore_interleave.eiger import frame_tag
from mxcubecore_interleave.eiger.written import read_written
from mxcubecore_interleave.headless import HeadlessQueue
from mxcubecore_interleave.testing import wait_until

pytestmark = pytest.mark.beamline


class Recorder:
    """Signal slots must be bound methods of live objects (PyDispatcher holds them weakly)."""

    def __init__(self):
        self.events = []

    def image_taken(self, *args):
        self.events.append(("image", args))

    def finished(self, *args):
        self.events.append(("finished", args))

    def failed(self, *args):
        self.events.append(("failed", args))

    def of(self, kind):
        return [a for k, a in self.events if k == kind]


def connect(collect, rec):
    collect.connect("collectImageTaken", rec.image_taken)
    collect.connect("collectOscillationFinished", rec.finished)
    collect.connect("collectOscillationFailed", rec.failed)


def test_data_collection_queue_entry_writes_readable_files(beamline):
    q = HeadlessQueue(beamline)
    rec = Recorder()
    connect(beamline.collect, rec)
    sid = q.add_sample()
    params = q.data_collection_parameters(prefix="lys", subdir="ordinary", num_images=8, osc_start=30.0,
                                          osc_range=0.25, energy=12.4, transmission=50.0, resolution=2.0)
    node = q.add_task(sid, "DataCollection", params)
    model, _entry = q.entry(node)
    pt = model.acquisitions[0].path_template
    assert Path(pt.get_image_path()).name == "lys_1_master.h5"
    assert q.execute(timeout=60)

    master = Path(pt.directory) / "lys_1_master.h5"
    # the filewriter closes the series after collect() has returned, as a DECTRIS one does
    assert beamline.detector.wait_closed(10) and master.is_file()
    assert [a[0] for a in rec.of("image")] == list(range(8))  # 0-based, as the mockups
    assert len(rec.of("finished")) == 1 and not rec.of("failed")  # once, not twice

    wavelength = 12.398419843320026 / 12.4
    with h5py.File(master, "r") as f:
        entry = nxmx.NXmx(f).entries[0]
        omega = entry.samples[0].depends_on.depends_on.depends_on
        assert np.allclose(omega[()].magnitude, 30.0 + 0.25 * np.arange(8))
        beam = entry.instruments[0].beams[0]
        assert beam.incident_wavelength.to("angstrom").magnitude == pytest.approx(wavelength, rel=1e-4)
        frames = [f["/entry/data/data_000001"][i] for i in range(8)]
    assert [frame_tag(fr) for fr in frames] == list(range(1, 9))
    img = fabio.open(str(master))
    assert img.nframes == 8
    assert np.array_equal(img.getframe(7).data, frames[7])

    # LIMS got one group and one collection linked to it, updated at the end
    lims = beamline.lims.recorded
    assert len(lims["groups"]) == 1 and len(lims["collections"]) == 1
    dc = lims["collections"][0]
    assert dc["dataCollectionGroupId"] == lims["groups"][0]["dataCollectionGroupId"]
    assert dc["updates"] >= 1
    assert (Path(beamline.session.base_directory) / "lims_mockup_records.json").is_file()

    # a second identical task gets the next run number: the detector reports its real names
    node2 = q.add_task(sid, "DataCollection", copy.deepcopy(params))
    model2, _ = q.entry(node2)
    assert model2.acquisitions[0].path_template.run_number == 2


def _direct_params(beamline, directory: Path, prefix: str, n: int = 20, exp: float = 0.01) -> dict:
    return {
        "fileinfo": {"directory": str(directory), "prefix": prefix, "run_number": 1,
                     "process_directory": str(directory / "proc"), "archive_directory": str(directory / "arch"),
                     "template": f"{prefix}_1_master.h5", "compression": False},
        "oscillation_sequence": [{"exposure_time": exp, "start_image_number": 1, "number_of_images": n,
                                  "start": 0.0, "range": 0.1, "offset": 0, "number_of_passes": 1,
                                  "overlap": 0, "kappaStart": 0.0, "phiStart": 0.0}],
        "motors": {"omega": None, "phiy": None, "phiz": None, "sampx": None, "sampy": None},
        "experiment_type": "OSC", "take_snapshots": 0, "in_interleave": None, "in_queue": False,
        "sample_reference": {}, "group_id": None, "sessionId": None, "energy": None,
        "transmission": None, "resolution": None, "detector_distance": None, "comments": "",
        "processing": "False", "residues": 0, "dark": 0, "anomalous": False, "skip_images": False,
        "EDNA_files_dir": "", "xds_dir": "", "workflow_parameters": {}, "shutterless": True,
        "processing_offline": False, "processing_online": False, "position_name": None,
        "detector_binning_mode": None, "detector_roi_mode": 0, "take_video": False,
        "ispyb_group_data_collections": False, "do_inducedraddam": False,
    }


def test_existing_file_is_never_overwritten(beamline, tmp_path):
    rec = Recorder()
    connect(beamline.collect, rec)
    d = tmp_path / "raw"
    d.mkdir()
    precious = d / "clash_1_master.h5"
    precious.write_bytes(b"someone's data")
    beamline.collect.collect("test", [_direct_params(beamline, d, "clash", n=3)])
    assert precious.read_bytes() == b"someone's data"
    assert not (d / "clash_1_data_000001.h5").exists()
    assert rec.of("failed") and "refusing to overwrite" in rec.of("failed")[0][2]
    assert not rec.of("image")


def test_stop_mid_collection_keeps_acquired_frames(beamline, tmp_path):
    rec = Recorder()
    connect(beamline.collect, rec)
    d = tmp_path / "raw"
    params = _direct_params(beamline, d, "stopped", n=200, exp=0.02)
    beamline.detector._images_per_file = 16
    task = gevent.spawn(beamline.collect.collect, "test", [params])
    assert wait_until(lambda: len(rec.of("image")) >= 20, timeout=30)
    beamline.collect.stop_collect()
    task.join(timeout=10)
    assert task.ready(), "collect() must return after a stop"
    assert "detector_files" not in params  # nothing is published: the files say it
    assert beamline.detector.wait_closed(10)
    written = read_written(d / "stopped_1_master.h5")
    n = written.n_frames
    assert 20 <= n < 200 and set(written.frames_per_file[:-1]) == {16}
    with h5py.File(written.master, "r") as f:
        assert f["/entry"].attrs["acquisition_status"] == b"aborted"
        tags = [frame_tag(f[f"/entry/data/{k}"][i]) for k in sorted(f["/entry/data"]) for i in range(f[f"/entry/data/{k}"].shape[0])]
    assert tags == list(range(1, n + 1))
    assert not [p for p in d.iterdir() if p.name.endswith(".tmp")]
