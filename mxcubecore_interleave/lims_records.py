"""The LIMS records of an interleaved collection, built from plain values (no mxcubecore here).

One DataCollectionGroup ("Collect - Multiwedge") and one DataCollection per sweep. Each
DataCollection is shaped as mxcubecore's ``to_collect_dict`` makes an ordinary one, plus what
``AbstractCollect.update_data_collection_in_lims`` adds (flux, distance, beam centre, beam size,
slit gaps...), because ISPyB's ``ISPyBValueFactory.from_data_collect_parameters`` and
``dcg_from_dc_params`` read exactly those keys (``oscillation_sequence[0]["offset"]``,
``resolution`` as a float, ``ispyb_group_data_collections``, ``sample_reference.blSampleId``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EXPERIMENT_TYPE = "Collect - Multiwedge"
RUNNING = "Running"
FINAL_STATUS = {"completed": "Data collection successful", "stopped": "Data collection stopped",
                "aborted": "Data collection aborted"}


def final_status(state: str) -> str:
    """The ISPyB ``runStatus`` of a collection that ended in ``state``."""
    return FINAL_STATUS.get(state, "Data collection failed")


@dataclass(frozen=True)
class BeamlineReadings:
    """What the beamline reads while a sweep is collected (None: not available at this site)."""

    flux: float | None = None
    detector_distance: float | None = None  # mm
    resolution: float | None = None  # A, at the edge
    resolution_at_corner: float | None = None
    beam_centre_mm: tuple[float, float] | None = None  # (x, y) on the detector
    beam_size_mm: tuple[float, float] | None = None  # (x, y) at the sample
    beam_shape: str | None = None
    slit_gaps: tuple[float | None, float | None] | None = None  # (horizontal, vertical)
    synchrotron_mode: str | None = None
    centring_position: dict[str, float] = field(default_factory=dict)  # motor role -> position
    centring_method: str | None = None


@dataclass(frozen=True)
class SampleInfo:
    """The queue's sample: its LIMS id and where the sample changer holds it."""

    bl_sample_id: int | None = None
    name: str = ""
    acronym: str = ""
    spacegroup: str = ""
    container_barcode: str | None = None
    container_slot: int | None = None  # actualContainerSlotInSC
    sample_slot: int | None = None  # actualSampleSlotInContainer

    def reference(self) -> dict:
        """The ``sample_reference`` dict ``to_collect_dict`` gives: every key, even empty
        (ICATLIMS reads ``["acronym"]`` unguarded)."""
        return {"sample_name": self.name, "blSampleId": self.bl_sample_id, "acronym": self.acronym,
                "spacegroup": self.spacegroup}


@dataclass(frozen=True)
class SweepValues:
    """One sweep as LIMS sees it (the acquisition record's sweep, plain)."""

    id: str
    omega_start: float
    omega_increment: float
    n_frames: int
    exposure_time: float | None
    wavelength_A: float
    energy_keV: float | None
    transmission: float | None
    resolution: float | None
    kappa: float | None
    phi: float | None
    inverse_of: str | None = None


def centring_position_text(position: dict[str, float]) -> str:
    """``actualCentringPosition`` as ISPyB stores it: ``role=value`` pairs, sorted."""
    return " ".join(f"{k}={float(v):.4f}" for k, v in sorted(position.items()) if v is not None)


def _put_sample_location(record: dict[str, Any], sample: SampleInfo) -> None:
    """Where the sample sits (container barcode and slots): the group and each collection carry it."""
    if sample.container_barcode:
        record["actualContainerBarcode"] = sample.container_barcode
    if sample.container_slot is not None:
        record["actualContainerSlotInSC"] = sample.container_slot
    if sample.sample_slot is not None:
        record["actualSampleSlotInContainer"] = sample.sample_slot


def group_record(session_id: Any, sample: SampleInfo, group_id: int | None, start_time: str,
                 comments: str) -> dict:
    """The group as ``storeOrUpdateDataCollectionGroup`` takes it (the dataCollectionGroupWS3VO
    fields ``dcg_from_dc_params`` fills), for the store at the start."""
    group: dict[str, Any] = {"sessionId": session_id, "experimentType": EXPERIMENT_TYPE,
                             "startTime": start_time, "comments": comments}
    if sample.bl_sample_id is not None:
        group["blSampleId"] = sample.bl_sample_id
    _put_sample_location(group, sample)
    if group_id is not None:
        group["dataCollectionGroupId"] = group_id
    return group


def collection_record(*, sweep: SweepValues, session_id: Any, group_id: int | None, sample: SampleInfo,
                      readings: BeamlineReadings, directory: str, prefix: str, run: int, template: str,
                      record_name: str, start_time: str, n_images: int, status: str = RUNNING,
                      collection_id: int | None = None, end_time: str | None = None) -> dict:
    """The DataCollection dict of one sweep, as ``to_collect_dict`` + ``update_data_collection_in_lims``
    make it. ``n_images``: planned at the start, collected so far in an update."""
    res = readings.resolution if readings.resolution is not None else sweep.resolution
    dc: dict[str, Any] = {
        "sessionId": session_id, "group_id": group_id, "ispyb_group_data_collections": group_id is not None,
        "experiment_type": EXPERIMENT_TYPE, "in_interleave": None, "in_queue": True, "status": status,
        "sample_reference": sample.reference(), "collection_start_time": start_time,
        "fileinfo": {"directory": directory, "prefix": prefix, "run_number": run, "template": template,
                     "suffix": "h5", "archive_directory": directory, "process_directory": directory},
        "oscillation_sequence": [{
            "start": sweep.omega_start, "range": sweep.omega_increment, "offset": 0.0, "overlap": 0.0,
            "number_of_images": n_images, "exposure_time": sweep.exposure_time, "start_image_number": 1,
            "number_of_passes": 1, "kappaStart": sweep.kappa if sweep.kappa is not None else 0.0,
            "phiStart": sweep.phi if sweep.phi is not None else 0.0}],
        "energy": sweep.energy_keV, "wavelength": sweep.wavelength_A, "transmission": sweep.transmission,
        "comments": f"interleaved sweep {sweep.id} ({record_name})"
                    + (f", inverse beam of {sweep.inverse_of}" if sweep.inverse_of else ""),
    }
    if res is not None:
        dc["resolution"] = float(res)
    _put_sample_location(dc, sample)
    _put_readings(dc, readings)
    if collection_id is not None:
        dc["collection_id"] = collection_id
    if end_time is not None:
        dc["collection_end_time"] = end_time
    return dc


def _put_readings(dc: dict, r: BeamlineReadings) -> None:
    """The keys ``update_data_collection_in_lims`` sets, only those the beamline could read."""
    if r.flux is not None:
        dc["flux"] = dc["flux_end"] = r.flux
        dc["synchrotronMode"] = r.synchrotron_mode or ""  # ISPyB reads flux only alongside it
    if r.detector_distance is not None:
        dc["detectorDistance"] = r.detector_distance
    if r.resolution_at_corner is not None:
        dc["resolutionAtCorner"] = r.resolution_at_corner
    if r.beam_centre_mm is not None:
        dc["xBeam"], dc["yBeam"] = r.beam_centre_mm
    if r.beam_size_mm is not None:
        dc["beamSizeAtSampleX"], dc["beamSizeAtSampleY"] = r.beam_size_mm
    if r.beam_shape:
        dc["beamShape"] = r.beam_shape
    if r.slit_gaps is not None and None not in r.slit_gaps:
        dc["slitGapHorizontal"], dc["slitGapVertical"] = r.slit_gaps
    if r.centring_position:
        dc["actualCentringPosition"] = centring_position_text(r.centring_position)
    if r.centring_method:
        dc["centringMethod"] = r.centring_method


def refusal_reason(exc: BaseException) -> str:
    """Why a LIMS refused a record. ISPyB's ``ISPyBArgumentError`` keeps its reason in ``msg``
    and its own ``__str__`` fails, so the reason is read without it."""
    msg = getattr(exc, "msg", None)
    if msg:
        return f"{type(exc).__name__}: {msg}"
    try:
        text = str(exc)
    except Exception:
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
