"""LIMS for an interleaved collection: one DataCollectionGroup ("Collect - Multiwedge") and one
DataCollection per sweep (mxcubecore's collect skips LIMS for the wedge series), updated at the
end with the frames collected. Dicts shaped as mxcubecore's LIMS adapters read them."""

from __future__ import annotations

import logging
import time
from typing import Any

from mxcubecore import HardwareRepository as HWR

from mxcubecore_interleave.interleave.bookkeeping import RecordKeeper
from mxcubecore_interleave.queue_entries.collect_contract import EXPERIMENT_TYPE

log = logging.getLogger("HWR")


def store_lims(keeper: RecordKeeper, model: Any) -> None:
    """One group ("Collect - Multiwedge") and one DataCollection per sweep, linked to it."""
    bl = HWR.beamline
    lims = bl.lims
    if lims is None:
        return
    group = {"sessionId": bl.session.session_id, "experimentType": EXPERIMENT_TYPE}
    parent = model.get_parent()
    if getattr(parent, "lims_group_id", None) and len(parent.get_children()) == 1:
        # the queue's TaskGroup entry has just stored an "OSC" group for this task alone:
        # make that group ours (ISPyB's storeOrUpdate) instead of leaving it empty
        group["dataCollectionGroupId"] = parent.lims_group_id
    try:
        gid = lims._store_data_collection_group(group)
    except Exception as exc:
        log.warning("interleaved collection: LIMS group not stored: %s", exc)
        return
    model.lims_group_id = keeper.record.lims_group_id = gid
    for s in keeper.record.sweeps:
        try:
            cid, _ = lims.store_data_collection(lims_dc(keeper, s, gid), _bl_config(bl))
        except Exception as exc:
            log.warning("interleaved collection: LIMS collection of sweep %s not stored: %s", s.id, exc)
            continue
        s.lims_collection_id = cid


def lims_dc(keeper: RecordKeeper, s, gid, n_done: int | None = None, status: str | None = None) -> dict:
    """The DataCollection of sweep ``s`` (``n_done``/``status``: the update at the end)."""
    directory = str(keeper.base)
    prefix = f"{keeper.record.prefix}_{s.id}"
    dc = {
        "sessionId": HWR.beamline.session.session_id, "group_id": gid,
        "experiment_type": EXPERIMENT_TYPE, "in_interleave": None,
        "fileinfo": {"directory": directory, "prefix": prefix, "run_number": keeper.run,
                     "template": f"{prefix}_master.h5", "suffix": "h5"},
        "oscillation_sequence": [{"start": s.omega_start, "range": s.omega_increment,
                                  "number_of_images": s.n_frames if n_done is None else n_done,
                                  "exposure_time": s.exposure_time, "start_image_number": 1,
                                  "kappaStart": s.kappa, "phiStart": s.phi, "overlap": 0,
                                  "number_of_passes": 1}],
        "energy": s.energy_keV, "wavelength": s.wavelength_A, "transmission": s.transmission,
        "resolution": {"upper": s.resolution} if s.resolution else None,
        "comments": f"interleaved sweep {s.id} ({keeper.path.name})"
                    + (f", inverse beam of {s.inverse_of}" if s.inverse_of else ""),
    }
    if s.lims_collection_id is not None:
        dc["collection_id"] = s.lims_collection_id
    if status:
        dc["status"] = status
        dc["collection_end_time"] = time.strftime("%Y-%m-%d %H:%M:%S")
    return dc


def _bl_config(bl) -> dict | None:
    try:
        return bl.collect.bl_config._asdict() if hasattr(bl.collect, "bl_config") else None
    except Exception:
        return None
