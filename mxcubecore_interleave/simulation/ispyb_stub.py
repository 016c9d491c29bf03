"""A recording stand-in for ISPyB's SOAP client (``ISPyBDataAdapter._collection``).

mxcubecore's conversion code stays real: ``ISPyBValueFactory`` builds the web-service objects
through ``client.factory.create(name)`` and the adapter sends them through ``client.service``.
This stub only replaces the wire: the factory gives objects whose fields read as None until
set (as suds objects made from the WSDL do), and the service keeps what it is sent, handing out
ids the way ``storeOrUpdate*`` does (a known id updates, none makes a new one).
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any


class WsObject:
    """A web-service value object: named, every field None until set."""

    def __init__(self, type_name: str) -> None:
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_fields", {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._fields.get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._fields[name] = value

    def __getitem__(self, name: str) -> Any:
        return self._fields.get(name)

    def __setitem__(self, name: str, value: Any) -> None:
        self._fields[name] = value

    def fields(self) -> dict:
        """The fields set, JSON-friendly (datetimes as ISPyB's text)."""
        return {k: v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime) else v
                for k, v in self._fields.items()}


class RecordingFactory:
    def create(self, type_name: str) -> WsObject:
        return WsObject(type_name.split(":")[-1])


class RecordingService:
    """``storeOrUpdateDataCollectionGroup`` / ``storeOrUpdateDataCollection`` and the look-ups the
    adapter makes on the way (a session or detector it does not know: None)."""

    def __init__(self) -> None:
        self._group_ids = itertools.count(1001)
        self._collection_ids = itertools.count(5001)
        self.groups: dict[int, dict] = {}
        self.collections: dict[int, dict] = {}
        self.calls: list[tuple[str, dict]] = []

    @staticmethod
    def _plain(obj: Any) -> dict:
        return obj.fields() if isinstance(obj, WsObject) else dict(obj)

    def storeOrUpdateDataCollectionGroup(self, group: Any) -> int:  # noqa: N802 (the SOAP name)
        fields = self._plain(group)
        self.calls.append(("storeOrUpdateDataCollectionGroup", fields))
        gid = fields.get("dataCollectionGroupId")
        if gid in self.groups:
            self.groups[gid].update({k: v for k, v in fields.items() if v is not None})
            return gid
        gid = next(self._group_ids)
        self.groups[gid] = {**fields, "dataCollectionGroupId": gid}
        return gid

    def storeOrUpdateDataCollection(self, dc: Any) -> int:  # noqa: N802
        fields = self._plain(dc)
        self.calls.append(("storeOrUpdateDataCollection", fields))
        cid = fields.get("dataCollectionId")
        if cid in self.collections:
            self.collections[cid].update({k: v for k, v in fields.items() if v is not None})
            return cid
        cid = next(self._collection_ids)
        self.collections[cid] = {**fields, "dataCollectionId": cid}
        return cid

    def findSession(self, session_id: Any) -> Any:  # noqa: N802
        """A session of today (a suds object, as ``ISPyBDataAdapter.get_session`` needs), None without an id."""
        if session_id is None:
            return None
        from suds.sudsobject import Factory

        day = datetime.now().replace(hour=8, minute=0, second=0, microsecond=0)
        return Factory.object("sessionWS3VO", {
            "sessionId": session_id, "startDate": day, "endDate": day.replace(hour=23),
            "lastUpdate": day.strftime("%Y-%m-%d %H:%M:%S"), "timeStamp": day.strftime("%Y-%m-%d %H:%M:%S"),
            "beamLineSetupId": None})

    def storeOrUpdateBeamLineSetup(self, setup: Any) -> int:  # noqa: N802
        self.calls.append(("storeOrUpdateBeamLineSetup", self._plain(setup)))
        return 1

    def storeOrUpdateSession(self, session: Any) -> Any:  # noqa: N802
        self.calls.append(("storeOrUpdateSession", self._plain(session)))
        return self._plain(session).get("sessionId")

    def findDetectorByParam(self, *args: Any) -> None:  # noqa: N802
        return None


class RecordingWsClient:
    """What ``ISPyBDataAdapter._collection`` is: ``.service`` and ``.factory``."""

    def __init__(self) -> None:
        self.service = RecordingService()
        self.factory = RecordingFactory()
