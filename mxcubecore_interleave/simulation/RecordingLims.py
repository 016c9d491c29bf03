"""A LIMS mockup that remembers what it was asked to store.

``ISPyBClientMockup`` stores nothing and reports itself disconnected, so mxcubecore skips every
DataCollection store and no DataCollectionGroup is ever visible. This one hands out ids,
keeps each group and collection (with the collection's link to its group) and writes them to a
JSON file in the session's data directory, so tests and the demo can show what LIMS received.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import os
from pathlib import Path
from typing import Any

from mxcubecore import HardwareRepository as HWR
from mxcubecore.HardwareObjects.mockup.ISPyBClientMockup import ISPyBClientMockup

from mxcubecore_interleave.atomic import atomic_write_json

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
        self._group_ids = itertools.count(1001)
        self._collection_ids = itertools.count(5001)
        self.groups: dict[int, dict] = {}
        self.collections: dict[int, dict] = {}

    # -- what mxcubecore calls -----------------------------------------------------------------
    def is_connected(self) -> bool:
        return True

    def _store_data_collection_group(self, group_data_dict: dict) -> int:
        """Store, or update when the dict names a known group (as ISPyB's storeOrUpdate does)."""
        known = group_data_dict.get("dataCollectionGroupId")
        if known in self.groups:
            self.groups[known].update(_jsonable(group_data_dict))
            self._save()
            return known
        gid = next(self._group_ids)
        self.groups[gid] = {"dataCollectionGroupId": gid, **_jsonable(group_data_dict)}
        self._save()
        return gid

    def store_data_collection_group(self, group_data_dict: dict) -> int:
        return self._store_data_collection_group(group_data_dict)

    def store_data_collection(self, mx_collection: dict, bl_config: dict | None = None) -> tuple[int, int]:
        cid = next(self._collection_ids)
        params = _jsonable(copy.deepcopy(mx_collection))
        self.collections[cid] = {
            "dataCollectionId": cid,
            "dataCollectionGroupId": params.get("group_id"),
            "parameters": params,
            "updates": 0,
        }
        self._save()
        return cid, 1

    def update_data_collection(self, mx_collection: dict, wait: bool = False) -> None:
        cid = mx_collection.get("collection_id")
        if cid not in self.collections:
            log.warning("LIMS mockup: update of unknown data collection %r ignored", cid)
            return
        rec = self.collections[cid]
        rec["parameters"].update(_jsonable(copy.deepcopy(mx_collection)))
        if mx_collection.get("group_id") is not None:
            rec["dataCollectionGroupId"] = mx_collection["group_id"]
        rec["updates"] += 1
        self._save()

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
