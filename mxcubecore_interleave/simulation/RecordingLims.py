"""A LIMS mockup that remembers what it stored, after ISPyB's own conversion.

``ISPyBClientMockup`` stores nothing and reports itself disconnected, so mxcubecore skips every
DataCollection store and no DataCollectionGroup is ever visible. This one hands out ids,
runs each record through mxcubecore's ``ISPyBValueFactory`` exactly as ``ISPyBDataAdapter``
does (a dict ISPyB could not convert fails here too), keeps each group and collection (the dict
as ``parameters``, the converted web-service fields as ``dataCollection``) and writes them to a
JSON file in the session's data directory, so tests and the demo can show what LIMS received.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path
from typing import Any

from mxcubecore import HardwareRepository as HWR
from mxcubecore.HardwareObjects.abstract.ISPyBValueFactory import ISPyBValueFactory
from mxcubecore.HardwareObjects.mockup.ISPyBClientMockup import ISPyBClientMockup

from mxcubecore_interleave.atomic import atomic_write_json
from mxcubecore_interleave.simulation.ispyb_stub import RecordingWsClient

log = logging.getLogger("HWR")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class RecordingLims(ISPyBClientMockup):
    """Configuration: ``records_file`` (name of the JSON file in the session's data directory)."""

    def init(self) -> None:
        super().init()
        self.records_file = str(self.get_property("records_file", "lims_mockup_records.json"))
        self.reset_records()

    def reset_records(self) -> None:
        self._ws = RecordingWsClient()
        self.groups: dict[int, dict] = {}
        self.collections: dict[int, dict] = {}

    # -- what mxcubecore calls -----------------------------------------------------------------
    def is_connected(self) -> bool:
        return True

    def _store_data_collection_group(self, group_data_dict: dict) -> int:
        """Store, or update when the dict names a known group (as ISPyB's storeOrUpdate does)."""
        gid = self._ws.service.storeOrUpdateDataCollectionGroup(_jsonable(group_data_dict))
        self.groups[gid] = dict(self._ws.service.groups[gid])
        self._save()
        return gid

    def store_data_collection_group(self, group_data_dict: dict) -> int:
        return self._store_data_collection_group(group_data_dict)

    def store_data_collection(self, mx_collection: dict, bl_config: Any = None) -> tuple[int, int]:
        """As ISPyB: ``from_data_collect_parameters`` converts the dict (its errors reach the caller)."""
        params = copy.deepcopy(mx_collection)
        ws = ISPyBValueFactory().from_data_collect_parameters(self._ws, params)
        cid = self._ws.service.storeOrUpdateDataCollection(ws)
        self.collections[cid] = {
            "dataCollectionId": cid,
            "dataCollectionGroupId": ws.dataCollectionGroupId,
            "parameters": _jsonable(params),
            "dataCollection": _jsonable(self._ws.service.collections[cid]),
            "updates": 0,
        }
        self._save()
        return cid, 1

    def update_data_collection(self, mx_collection: dict, wait: bool = False) -> None:
        """As ISPyB's ``_update_data_collection``: the group again from the collection
        (``dcg_from_dc_params``), then the collection."""
        cid = mx_collection.get("collection_id")
        if cid not in self.collections:
            log.warning("LIMS mockup: update of unknown data collection %r ignored", cid)
            return
        params = copy.deepcopy(mx_collection)
        group = ISPyBValueFactory().dcg_from_dc_params(self._ws, params)
        params["group_id"] = gid = self._ws.service.storeOrUpdateDataCollectionGroup(group)
        self.groups[gid] = dict(self._ws.service.groups[gid])
        ws = ISPyBValueFactory().from_data_collect_parameters(self._ws, params)
        self._ws.service.storeOrUpdateDataCollection(ws)
        rec = self.collections[cid]
        rec["parameters"].update(_jsonable(params))
        rec["dataCollection"] = _jsonable(self._ws.service.collections[cid])
        rec["dataCollectionGroupId"] = ws.dataCollectionGroupId
        rec["updates"] += 1
        self._save()

    def finalize_data_collection(self, mx_collection: dict) -> None:
        """ISPyB's finalize is its update."""
        self.update_data_collection(mx_collection)

    # -- what tests and the demo read ----------------------------------------------------------
    @property
    def recorded(self) -> dict:
        return {"groups": list(self.groups.values()), "collections": list(self.collections.values())}

    def collections_in_group(self, group_id: int) -> list[dict]:
        return [c for c in self.collections.values() if c["dataCollectionGroupId"] == group_id]

    def records_path(self) -> Path | None:
        session = HWR.beamline.session if HWR.beamline is not None else None
        base = getattr(session, "base_directory", None)
        return Path(base) / self.records_file if base else None

    def _save(self) -> None:
        path = self.records_path()
        if path is None:
            return
        try:
            os.makedirs(path.parent, exist_ok=True)
            atomic_write_json(path, self.recorded)
        except OSError as exc:  # recording must never break a collection
            log.warning("LIMS mockup: cannot write %s: %s", path, exc)
