"""LIMS contract: what the interleaved entry sends goes through mxcubecore's real ISPyB code
(``ISPyBAbstractLIMS`` -> ``ISPyBDataAdapter`` -> ``ISPyBValueFactory``) with only the SOAP wire
replaced by a recording stub, and must convert without one error."""

import logging
from pathlib import Path
from unittest.mock import PropertyMock

import pytest

from mxcubecore_interleave.interleave.runner import add_interleaved_collection, run_interleaved_collection
from mxcubecore_interleave.lims_records import (
    BeamlineReadings, SampleInfo, SweepValues, collection_record, group_record, refusal_reason)
from mxcubecore_interleave.record import AcquisitionRecord
from mxcubecore_interleave.simulation.ispyb_stub import RecordingWsClient

SWEEP = SweepValues(id="peak", omega_start=10.0, omega_increment=0.1, n_frames=20, exposure_time=0.01,
                    wavelength_A=0.979, energy_keV=12.66, transmission=50.0, resolution=1.8, kappa=30.0, phi=0.0)
READINGS = BeamlineReadings(flux=3e12, detector_distance=250.0, resolution=1.8, resolution_at_corner=1.5,
                            beam_centre_mm=(80.1, 83.2), beam_size_mm=(0.05, 0.03), beam_shape="ellipse",
                            slit_gaps=(0.1, 0.2), synchrotron_mode="uniform",
                            centring_position={"phiy": 0.1, "sampx": -0.2})
SAMPLE = SampleInfo(bl_sample_id=77, name="lyso1", container_slot=3, sample_slot=5)


def real_ispyb_lims():
    """``ProposalTypeISPyBLims`` with its real adapter; only ``_collection`` (SOAP) is the stub."""
    from mxcubecore.HardwareObjects.abstract.ISPyBDataAdapter import ISPyBDataAdapter
    from mxcubecore.HardwareObjects.ProposalTypeISPyBLims import ProposalTypeISPyBLims

    lims = ProposalTypeISPyBLims("lims")
    lims.icat_client = None
    adapter = object.__new__(ISPyBDataAdapter)  # its __init__ would open the WSDLs
    adapter.logger = logging.getLogger("ispyb_adapter")
    adapter._collection = RecordingWsClient()
    lims.adapter = adapter
    return lims, adapter._collection.service


def test_record_converts_in_value_factory():
    from mxcubecore.HardwareObjects.abstract.ISPyBValueFactory import ISPyBValueFactory

    ws = RecordingWsClient()
    dc = collection_record(sweep=SWEEP, session_id=12, group_id=1001, sample=SAMPLE, readings=READINGS,
                           directory="/d", prefix="p_peak", run=1, template="p_peak_master.h5",
                           record_name="p.json", start_time="2026-12-01 20:00:00", n_images=20)
    vo = ISPyBValueFactory().from_data_collect_parameters(ws, dc)
    assert vo.axisEnd == pytest.approx(12.0) and vo.overlap == 0 and vo.numberOfImages == 20
    assert vo.resolution == 1.8 and vo.detectorDistance == 250.0 and vo.flux == 3e12
    assert (vo.xbeam, vo.ybeam, vo.beamSizeAtSampleX, vo.slitGapVertical) == (80.1, 83.2, 0.05, 0.2)
    assert vo.dataCollectionGroupId == 1001 and vo.kappaStart == 30.0 and vo.rotationAxis == "Omega"
    assert vo.actualCenteringPosition == "phiy=0.1000 sampx=-0.2000"
    group = ISPyBValueFactory().dcg_from_dc_params(ws, dc)
    assert (group.blSampleId, group.sessionId, group.dataCollectionGroupId) == (77, 12, 1001)
    assert (group.actualContainerSlotInSC, group.actualSampleSlotInContainer) == (3, 5)
    assert group.experimentType == "Collect - Multiwedge"
    g = group_record(12, SAMPLE, None, "2026-12-01 20:00:00", "c")
    assert g["blSampleId"] == 77 and "dataCollectionGroupId" not in g


def test_refusal_reason_of_ispyb_argument_error():
    from mxcubecore.HardwareObjects.abstract.ISPyBValueFactory import ISPyBArgumentError

    exc = ISPyBArgumentError("ISPyBClient: error storing a data collection ('offset')")
    with pytest.raises(AttributeError):
        str(exc)  # mxcubecore's own __str__ fails: the reason must be read without it
    assert "'offset'" in refusal_reason(exc)
    assert refusal_reason(KeyError("x")) == "KeyError: 'x'"


def two_sweeps():
    return {"sweeps": [{"id": "a", "energy_keV": 12.66, "num_images": 4, "osc_range": 0.5, "exposure_time": 0.001,
                        "transmission": 50.0, "resolution": 2.0},
                       {"id": "b", "energy_keV": 13.0, "num_images": 4, "osc_range": 0.5, "exposure_time": 0.001,
                        "transmission": 50.0}],
            "wedge_size": 2, "prefix": "ct", "subdir": "lims"}


@pytest.mark.beamline
def test_interleaved_collection_through_real_ispyb(beamline, mocker):
    lims, service = real_ispyb_lims()
    mocker.patch.object(type(beamline), "lims", new_callable=PropertyMock, return_value=lims)
    beamline.session.session_id = 4242
    errors = mocker.spy(logging.getLogger("user_level_log"), "warning")
    q, node = add_interleaved_collection(beamline, two_sweeps())
    model, _ = q.entry(node)
    model.get_sample_node().lims_id = 321  # as a sample from LIMS has it
    assert q.execute(timeout=120)
    rec = AcquisitionRecord.load(model.record_path)
    assert [s.lims_error for s in rec.sweeps] == [None, None] and not errors.call_args_list
    assert list(service.groups) == [rec.lims_group_id]
    group = service.groups[rec.lims_group_id]
    assert group["blSampleId"] == 321
    assert group["experimentType"] == "Collect - Multiwedge" and group["sessionId"] == beamline.session.session_id
    rec_dir = Path(model.record_path).parent
    assert sorted(service.collections) == sorted(s.lims_collection_id for s in rec.sweeps)
    names = [c for c, _ in service.calls]
    # store at the start (2), an update per wedge (2 x 2, each re-storing the group), finalize (2);
    # the group: the queue's TaskGroup store, ours taking it over, then once per update/finalize
    assert names.count("storeOrUpdateDataCollection") == 2 + 4 + 2
    assert names.count("storeOrUpdateDataCollectionGroup") == 2 + 4 + 2
    for dc in service.collections.values():
        assert dc["dataCollectionGroupId"] == rec.lims_group_id and dc["imageDirectory"] == str(rec_dir)
        assert dc["numberOfImages"] == 4 and dc["runStatus"] == "Data collection successful"
        for key in ("wavelength", "detectorDistance", "resolution", "transmission", "xbeam", "ybeam", "flux",
                    "beamSizeAtSampleX", "beamSizeAtSampleY", "actualCenteringPosition"):
            assert dc[key] is not None, key
        assert "sampx=" in dc["actualCenteringPosition"]


@pytest.mark.beamline
def test_refused_store_is_reported_and_collection_goes_on(beamline, mocker):
    lims, service = real_ispyb_lims()
    mocker.patch.object(type(beamline), "lims", new_callable=PropertyMock, return_value=lims)
    beamline.session.session_id = 4242
    real_store = service.storeOrUpdateDataCollection

    def refuse_b(dc):
        if "_b" in (dc.imagePrefix or ""):
            raise RuntimeError("ORA-01400: cannot insert NULL")
        return real_store(dc)

    service.storeOrUpdateDataCollection = refuse_b
    warnings = mocker.spy(logging.getLogger("user_level_log"), "warning")
    run = run_interleaved_collection(beamline, two_sweeps(), timeout=120)
    assert run.finished
    rec = AcquisitionRecord.load(run.record_path)
    assert rec.status == "completed" and sum(w.n_collected for w in rec.wedges) == 8
    a, b = rec.sweeps
    assert a.lims_error is None and a.lims_collection_id is not None
    assert b.lims_collection_id is None and "ORA-01400" in b.lims_error and b.lims_error.startswith("store")
    said = [c.args[0] % c.args[1:] for c in warnings.call_args_list]
    assert any("store of sweep b" in m and "ORA-01400" in m for m in said), said


def test_recording_lims_refuses_what_ispyb_refuses(beamline):
    from mxcubecore.HardwareObjects.abstract.ISPyBValueFactory import ISPyBArgumentError

    dc = collection_record(sweep=SWEEP, session_id=1, group_id=None, sample=SAMPLE, readings=READINGS,
                           directory="/d", prefix="p", run=1, template="t", record_name="r",
                           start_time="2026-12-01 20:00:00", n_images=1)
    del dc["oscillation_sequence"][0]["offset"]
    with pytest.raises(ISPyBArgumentError):
        beamline.lims.store_data_collection(dc)


class IcatLikeLims:
    """What ``ICATLIMS`` returns (checked in mxcubecore 2.149): None for the group and the
    collection stores, nothing from update; it writes only in ``finalize_data_collection``."""

    def __init__(self):
        self.finalized = []

    def is_connected(self):
        return True

    def _store_data_collection_group(self, group):
        return None

    def store_data_collection(self, dc, bl_config=None):
        return None

    def update_data_collection(self, dc):
        raise AssertionError("nothing to update: no collection id")

    def finalize_data_collection(self, dc):
        self.finalized.append(dc)


@pytest.mark.beamline
def test_icat_style_lims_gets_each_sweep_at_finalize(beamline, mocker):
    # (the real ICATLIMS finalize path: test_finalize_through_real_icatlims)
    lims = IcatLikeLims()
    mocker.patch.object(type(beamline), "lims", new_callable=PropertyMock, return_value=lims)
    run = run_interleaved_collection(beamline, two_sweeps(), timeout=120)
    assert run.finished
    rec = AcquisitionRecord.load(run.record_path)
    assert [s.lims_error for s in rec.sweeps] == [None, None]
    assert sorted(d["fileinfo"]["prefix"] for d in lims.finalized) == ["ct_1_a", "ct_1_b"]
    assert all(d["oscillation_sequence"][0]["number_of_images"] == 4 for d in lims.finalized)
    assert all(d["status"] == "Data collection successful" for d in lims.finalized)


class RecordingIcatClient:
    """pyicat-plus's real ``IcatClient``, writing each dataset message to a file instead of sending
    it to ICAT's message broker (its own ``store_filename``), with strict metadata validation."""

    def __init__(self, directory: Path):
        from pyicat_plus.client.main import IcatClient

        self.client = IcatClient(metadata_urls=["localhost:1"])  # never contacted with store_filename
        self.directory = directory
        self.sent: list[dict] = []

    def store_dataset(self, **kwargs):
        import inspect

        from pyicat_plus.client.main import IcatClient

        inspect.signature(IcatClient.store_dataset).bind(self.client, **kwargs)  # what ICATLIMS passes fits
        path = self.directory / f"dataset_{len(self.sent) + 1}.xml"
        self.client.store_dataset(**kwargs, store_filename=str(path), strict=True)
        self.sent.append({**kwargs, "message": path.read_text()})


class Cryostream:
    """The two methods of a cryo actuator ICATLIMS reads (``get_value``, ``get_limits``)."""

    def get_value(self):
        return 100.0

    def get_limits(self):
        return (80.0, 300.0)


@pytest.mark.beamline
def test_finalize_through_real_icatlims(beamline, mocker, tmp_path, caplog):
    pytest.importorskip("pyicat_plus")
    from mxcubecore.HardwareObjects.ICATLIMS import ICATLIMS
    from mxcubecore.model.lims_session import LimsSessionManager, Session

    lims = ICATLIMS("lims")
    lims.init()
    from icat_plus_client.models.investigation import Investigation  # what ICAT+ returns at login

    lims.investigations = [Investigation.model_validate({
        "id": 4242, "name": "MX2605", "title": "interleaved", "startDate": "2026-12-01T08:00:00.000+01:00",
        "endDate": "2026-12-02T08:00:00.000+01:00", "parameters": {}, "instrument": {"id": 7, "name": "ID23-1"},
        "type": {"id": 3, "name": "MX"}})]
    lims.session_manager = LimsSessionManager(active_session=Session(session_id="4242", is_scheduled_beamline=True))
    client = RecordingIcatClient(tmp_path)
    lims._active_user, lims._icat_client_dict = "opid23", {"opid23": client}
    lims.login_ok = True  # what ICATLIMS.is_connected() reads (only a site's login sets it)
    mocker.patch.object(type(beamline), "lims", new_callable=PropertyMock, return_value=lims)
    # ICATLIMS reads HWR.beamline.cryo unguarded (every ESRF beamline has one); the mockup has none
    mocker.patch.object(type(beamline), "cryo", new_callable=PropertyMock, return_value=Cryostream())
    caplog.set_level(logging.WARNING, logger="HWR")
    run = run_interleaved_collection(beamline, two_sweeps(), timeout=120)
    assert run.finished
    rec = AcquisitionRecord.load(run.record_path)
    assert rec.status == "completed" and [s.lims_error for s in rec.sweeps] == [None, None]
    # ICATLIMS logs (and swallows) every gather, write or upload failure: none may occur
    # ICATLIMS logs (and swallows) every gather, write or upload failure: none may occur. One line is
    # not about the record: it asks HWR.beamline.lims for get_active_lims(), which only ESRF's
    # ESRFLIMS wrapper has (it names the LIMS in metadata.json); here ICATLIMS is the beamline's LIMS
    failed = [r.getMessage() for r in caplog.records if "ICAT" in r.getMessage() or "Failed" in r.getMessage()]
    assert [m for m in failed if m != "Failed to read get_active_lims."] == []
    assert sorted(d["dataset"] for d in client.sent) == ["ct_1_a", "ct_1_b"]
    for d in client.sent:
        md, sweep = d["metadata"], rec.sweep(d["dataset"].rsplit("_", 1)[-1])
        assert d["path"] == str(run.record_path.parent) and d["beamline"] == beamline.session.beamline_name.lower()
        assert md["MX_numberOfImages"] == sweep.n_frames and md["MX_axis_start"] == sweep.omega_start
        assert md["MX_oscillationRange"] == sweep.omega_increment and md["MX_exposureTime"] == sweep.exposure_time
        assert md["InstrumentMonochromator_energy"] == pytest.approx(sweep.energy_keV)
        assert md["MX_template"].startswith(f"ct_1_{sweep.id}") and md["MX_detectorDistance"] is not None
        assert f"<tns:name>{d['dataset']}</tns:name>" in d["message"]  # pyicat-plus serialised it
    assert (run.record_path.parent / "metadata.json").is_file()  # ICATLIMS's own file beside the data
