"""LIMS for an interleaved collection: reads the beamline and the queue's sample, hands the
records ``lims_records`` builds to ``HWR.beamline.lims`` (store at the start, update per sweep
as its wedges finish, finalize at the end), and reports what a LIMS refuses: to the user log
with the reason, and per sweep in the acquisition record (``lims_error``). The collection goes on."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from mxcubecore import HardwareRepository as HWR

from mxcubecore_interleave.interleave.bookkeeping import RecordKeeper
from mxcubecore_interleave.lims_records import (
    BeamlineReadings, SampleInfo, SweepValues, collection_record, final_status, group_record, refusal_reason)

log = logging.getLogger("HWR")
user_log = logging.getLogger("user_level_log")
CENTRING_ROLES = ("omega", "phiy", "phiz", "sampx", "sampy", "kappa", "kappa_phi",
                  "alignmenty", "alignmentz", "centringx", "centringy", "focus")


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def _read(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:
        return None


def beamline_readings(bl: Any = None) -> BeamlineReadings:
    """What ``update_data_collection_in_lims`` reads, each value None where this beamline lacks it."""
    bl = bl or HWR.beamline
    det = getattr(bl, "detector", None)

    def beam_centre() -> tuple[float, float]:
        (x, y), (px, py) = det.get_beam_position(), det.get_pixel_size()
        return float(x) * float(px), float(y) * float(py)

    def pair(fn: Callable[[], Any]) -> tuple[float, float] | None:
        v = _read(fn)
        return (float(v[0]), float(v[1])) if v is not None and None not in tuple(v)[:2] else None

    beam = getattr(bl, "beam", None)
    collect = getattr(bl, "collect", None)
    shape = _read(lambda: beam.get_beam_shape())
    return BeamlineReadings(
        flux=_read(lambda: float(bl.flux.get_value())),
        detector_distance=_read(lambda: float(det.distance.get_value())),
        resolution=_read(lambda: float(bl.resolution.get_value())),
        resolution_at_corner=_read(lambda: float(bl.resolution.get_value_at_corner())),
        beam_centre_mm=_read(beam_centre),
        beam_size_mm=pair(lambda: beam.get_beam_size()),
        beam_shape=str(getattr(shape, "value", shape)) if shape is not None else None,
        slit_gaps=pair(lambda: collect.get_slit_gaps()),
        synchrotron_mode=_read(lambda: str(collect.get_machine_fill_mode())),
        centring_position=_centring_position(bl),
    )


def _centring_position(bl: Any) -> dict[str, float]:
    """The goniometer's motor positions by role (each motor HO read on its own)."""
    diffr = getattr(bl, "diffractometer", None)
    out: dict[str, float] = {}
    for role in CENTRING_ROLES:
        motor = _read(lambda: getattr(diffr, role, None)) or _read(lambda: diffr.get_object_by_role(role))
        value = _read(lambda: float(motor.get_value())) if motor is not None else None
        if value is not None:
            out[role] = value
    return out


def sample_info(model: Any) -> SampleInfo:
    """The queue's sample (``lims_id``, sample-changer location) as LIMS links it."""
    sample = _read(model.get_sample_node) if hasattr(model, "get_sample_node") else None
    if sample is None:
        return SampleInfo()
    crystals = getattr(sample, "crystals", None) or []
    loc = getattr(sample, "location", None) or ()
    lims_id = getattr(sample, "lims_id", None)
    return SampleInfo(
        bl_sample_id=int(lims_id) if isinstance(lims_id, (int, str)) and str(lims_id).lstrip("-").isdigit()
        and int(lims_id) >= 0 else None,
        name=getattr(sample, "name", "") or "",
        acronym=(getattr(crystals[0], "protein_acronym", "") or "") if crystals else "",
        spacegroup=(getattr(crystals[0], "space_group", "") or "") if crystals else "",
        container_barcode=getattr(sample, "lims_container_code", None) or None,
        container_slot=_int(loc[0]) if len(loc) > 0 else None,
        sample_slot=_int(loc[1]) if len(loc) > 1 else None)


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _sweep_values(s) -> SweepValues:
    return SweepValues(id=s.id, omega_start=s.omega_start, omega_increment=s.omega_increment, n_frames=s.n_frames,
                       exposure_time=s.exposure_time, wavelength_A=s.wavelength_A, energy_keV=s.energy_keV,
                       transmission=s.transmission, resolution=s.resolution, kappa=s.kappa, phi=s.phi,
                       inverse_of=s.inverse_of)


def lims_dc(keeper: RecordKeeper, s, gid, n_done: int | None = None, status: str | None = None,
            sample: SampleInfo | None = None, readings: BeamlineReadings | None = None) -> dict:
    """The DataCollection of sweep ``s`` (``n_done``/``status``: an update)."""
    prefix = f"{keeper.record.prefix}_{s.id}"
    return collection_record(
        sweep=_sweep_values(s), session_id=HWR.beamline.session.session_id, group_id=gid,
        sample=sample or SampleInfo(), readings=readings or beamline_readings(), directory=str(keeper.base),
        prefix=prefix, run=keeper.run, template=f"{prefix}_master.h5", record_name=keeper.path.name,
        start_time=_iso_to_lims(keeper.record.created), n_images=s.n_frames if n_done is None else n_done,
        status=status or "Running", collection_id=s.lims_collection_id,
        end_time=_now() if status and status != "Running" else None)


def _iso_to_lims(iso: str) -> str:
    return iso.replace("T", " ")[:19]


def _refused(keeper: RecordKeeper, s, what: str, exc: BaseException) -> None:
    reason = refusal_reason(exc)
    s.lims_error = f"{what}: {reason}"
    user_log.warning("Interleaved collection %s: LIMS refused the %s of sweep %s (%s); the collection goes on, "
                     "the acquisition record notes it", keeper.record.prefix, what, s.id, reason)


def store_lims(keeper: RecordKeeper, model: Any) -> None:
    """One group ("Collect - Multiwedge") and one DataCollection per sweep, linked to it and to the sample."""
    bl = HWR.beamline
    lims = bl.lims
    if lims is None:
        return
    sample = sample_info(model)
    parent = model.get_parent()
    gid = None
    if getattr(parent, "lims_group_id", None) and len(parent.get_children()) == 1:
        # the queue's TaskGroup entry has just stored an "OSC" group for this task alone:
        # make that group ours (ISPyB's storeOrUpdate) instead of leaving it empty
        gid = parent.lims_group_id
    group = group_record(bl.session.session_id, sample, gid, _iso_to_lims(keeper.record.created),
                         f"interleaved collection {keeper.path.name}")
    try:
        gid = lims._store_data_collection_group(group)
    except Exception as exc:
        for s in keeper.record.sweeps:
            _refused(keeper, s, "group", exc)
        return
    model.lims_group_id = keeper.record.lims_group_id = gid
    readings = beamline_readings(bl)
    bl_config = getattr(bl.collect, "bl_config", None)  # the namedtuple AbstractCollect hands over
    for s in keeper.record.sweeps:
        try:
            stored = lims.store_data_collection(lims_dc(keeper, s, gid, sample=sample, readings=readings), bl_config)
            # ISPyB: (collection id, detector id); ICATLIMS: None (it writes only at finalize)
            cid = stored[0] if isinstance(stored, (tuple, list)) else stored
        except Exception as exc:
            _refused(keeper, s, "store", exc)
            continue
        s.lims_collection_id = cid
        s.lims_error = None


def update_sweep(keeper: RecordKeeper, model: Any, sweep_id: str) -> None:
    """The sweep's DataCollection with the frames collected so far (after each of its wedges)."""
    lims = HWR.beamline.lims
    s = keeper.record.sweep(sweep_id)
    if lims is None or s.lims_collection_id is None:
        return
    dc = lims_dc(keeper, s, keeper.record.lims_group_id, n_done=keeper.collected_frames()[s.id],
                 sample=sample_info(model))
    try:
        lims.update_data_collection(dc)
        s.lims_error = None
    except Exception as exc:
        _refused(keeper, s, "update", exc)


def finalize_lims(keeper: RecordKeeper, model: Any, state: str) -> None:
    """Each stored sweep's final DataCollection: ``finalize_data_collection`` where the LIMS has it
    (ICAT writes only there), else ``update_data_collection``."""
    lims = HWR.beamline.lims
    if lims is None:
        return
    collected = keeper.collected_frames()
    sample, readings = sample_info(model), beamline_readings()
    write = getattr(lims, "finalize_data_collection", None) or lims.update_data_collection
    for s in keeper.record.sweeps:
        if s.lims_collection_id is None and s.lims_error is not None:
            continue  # never stored: the record already says why
        try:
            write(lims_dc(keeper, s, keeper.record.lims_group_id, n_done=collected[s.id],
                          status=final_status(state), sample=sample, readings=readings))
            if s.lims_collection_id is not None:
                s.lims_error = None
        except Exception as exc:
            _refused(keeper, s, "finalize", exc)
