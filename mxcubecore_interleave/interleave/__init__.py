"""Interleaved data collection: the task, the wedge planner, the motion-cost model (pure core).

The queue entry (``mxcubecore_interleave.queue_entries.interleaved_collection``) is the thin
adapter that runs a plan on ``HWR.beamline``.
"""

from .cost import MotionCostModel, PlanCost, price
from .planner import STRATEGIES, Plan, SweepSettings, Wedge, compare_strategies, plan
from .task import (
    TASK_SCHEMA_VERSION,
    BeamlineLimits,
    InterleavedTask,
    Sweep,
    check_limits,
    parse_task,
)

__all__ = [
    "STRATEGIES", "TASK_SCHEMA_VERSION", "BeamlineLimits", "InterleavedTask", "MotionCostModel", "Plan", "PlanCost",
    "Sweep", "SweepSettings", "Wedge", "check_limits", "compare_strategies", "parse_task", "plan",
    "price",
]
