"""Drive mxcubecore's queue without a front end, the way mxcubeweb does (reference §2.6).

Used by the demo, the tests and the benchmarks; a beamline script can use it too.
"""

from __future__ import annotations

import time
from typing import Any

import gevent


class HeadlessQueue:
    """Samples and tasks in, queue execution out, on the loaded ``HWR.beamline``."""

    def __init__(self, beamline) -> None:
        from mxcubecore.queuelib import QueueBuilder, QueueSerializer

        self.bl = beamline
        qm = beamline.queue_model
        # what mxcubeweb does: build the queue entry when a model is added to the queue model
        qm.connect(qm, "child_added", qm.queue_model_child_added)
        self.serializer = QueueSerializer(QueueBuilder())

    def add_sample(self, sample_id: str = "1:01", name: str = "sample1", acronym: str = "LYS") -> str:
        self.serializer.queue_add_item([{
            "sampleID": sample_id, "location": sample_id, "sampleName": name, "type": "Sample",
            "tasks": [], "checked": True, "proteinAcronym": acronym,
            "defaultPrefix": f"{acronym}-{name}", "defaultSubDir": f"{acronym}/{acronym}-{name}",
        }])
        return sample_id

    def data_collection_parameters(self, **overrides: Any) -> dict:
        """An ordinary rotation collection's parameters, as mxcubeweb sends them."""
        p = self.bl.get_default_acquisition_parameters().as_dict()
        p.update({"prefix": "data", "subdir": "", "shape": -1, "helical": False, "mesh": False,
                  "num_images": 10, "first_image": 1, "osc_range": 0.1, "osc_start": 0.0,
                  "exp_time": 0.01, "take_snapshots": 0})
        p.update(overrides)
        return p

    def add_task(self, sample_id: str, task_type: str, parameters: dict, label: str | None = None) -> int:
        return self.serializer.add_task(sample_id, {
            "type": task_type, "label": label or task_type, "sampleID": sample_id,
            "checked": True, "parameters": parameters,
        })

    def entry(self, node_id: int):
        return self.bl.queue_manager.get_entry(node_id)

    def execute(self, *, wait: bool = True, timeout: float = 120.0) -> bool:
        """Run the queue; with ``wait`` return True when it finished within ``timeout``."""
        qm = self.bl.queue_manager
        qm.execute()
        if not wait:
            return True
        return self.wait(timeout)

    def wait(self, timeout: float = 120.0) -> bool:
        deadline = time.monotonic() + timeout
        qm = self.bl.queue_manager
        gevent.sleep(0.01)
        while time.monotonic() < deadline:
            if not qm.is_executing():
                return True
            gevent.sleep(0.02)
        return not qm.is_executing()

    def stop(self) -> None:
        self.bl.queue_manager.stop()
