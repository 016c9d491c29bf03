"""Kappa/phi orientation changes: which wedges need the sample brought back into the beam, and how.

On a mini-kappa the sample is not on the kappa and phi axes: moving either takes it out of the
beam. The interleaved collection therefore brings it back at the first wedge of every new
orientation, in the way the task chooses (``InterleavedTask.orientation_change``):

* ``recentre`` (default): centre again with the beamline's centring (Murko where configured,
  else the diffractometer's own automatic centring);
* ``correct``: move the centring motors by the configured translation correction
  (mxcubecore's ``MiniKappaCorrection``), computed from the last orientation;
* ``none``: nothing (only for a goniometer whose sample stays on the axes, e.g. a well-aligned
  head); still recorded.

Each orientation is brought back only once per run: the centred translations found there are
kept, and a later wedge at an orientation already visited moves back to them (``stored``). So the
number of centrings is the number of distinct orientations of the run minus the one it starts
at, whatever the wedge order (the planner's cost model need not count them). A new run (a
resume) starts afresh from the task's centred position: the sample may have been re-centred or
remounted in between.

Pure: no hardware, no mxcubecore; the queue entry's adapter (``queue_entries/orientation_change``)
does the moves and the centring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

OrientationPolicy = Literal["recentre", "correct", "none"]
ORIENTATION_POLICIES: tuple[OrientationPolicy, ...] = ("recentre", "correct", "none")
ChangeMethod = Literal["murko", "auto", "correction", "stored", "none"]
"""What was done at an orientation change: the two centrings, the correction, a move back to the
translations already found at that orientation in this run, or nothing."""

ORIENTATION_CHANGE_TITLE = "On a kappa/phi change"
ORIENTATION_CHANGE_HELP = (
    "a kappa/phi change takes the sample out of the beam on a mini-kappa. recentre: centre again once per new "
    "orientation (Murko where configured, else the diffractometer's automatic centring); correct: apply the "
    "configured translation correction (MiniKappaCorrection); none: do nothing (only for a head that keeps the "
    "sample on the axes)")

TOLERANCE_DEG = 1e-3  # the same tolerance as the kappa/phi move itself

Orientation = tuple[float, float]  # (kappa, phi) in degrees


def same_orientation(a: Orientation, b: Orientation, tol: float = TOLERANCE_DEG) -> bool:
    return abs(a[0] - b[0]) <= tol and abs(a[1] - b[1]) <= tol


@dataclass(frozen=True)
class OrientationStep:
    """One change of orientation before a wedge: from where, to where, and what to do."""

    from_: Orientation
    to: Orientation
    method: Literal["new", "stored", "none"]
    """``new``: first visit in this run (centre or correct as the policy says); ``stored``: move
    back to ``translations``; ``none``: the policy is ``none``."""
    translations: Mapping[str, float] | None = None


@dataclass
class OrientationTracker:
    """The orientation the sample is centred at, and the centred translations of each orientation
    visited in this run."""

    policy: OrientationPolicy
    current: Orientation
    known: dict[Orientation, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def start(cls, policy: OrientationPolicy, reference: Orientation,
              translations: Mapping[str, float]) -> "OrientationTracker":
        """``reference``: the orientation of the task's centred position (or, without one, where
        the goniometer is when the run starts); ``translations``: the centred motors there."""
        ref = (float(reference[0]), float(reference[1]))
        return cls(policy, ref, {ref: {k: float(v) for k, v in translations.items()}})

    def _known(self, target: Orientation) -> dict[str, float] | None:
        for o, t in self.known.items():
            if same_orientation(o, target):
                return t
        return None

    def step(self, target: Orientation) -> OrientationStep | None:
        """What the wedge at ``target`` needs (None: the sample is centred there already)."""
        target = (float(target[0]), float(target[1]))
        if same_orientation(self.current, target):
            return None
        if self.policy == "none":
            return OrientationStep(self.current, target, "none")
        stored = self._known(target)
        if stored is not None:
            return OrientationStep(self.current, target, "stored", dict(stored))
        return OrientationStep(self.current, target, "new")

    def done(self, step: OrientationStep, translations: Mapping[str, float]) -> None:
        """The sample is centred at ``step.to`` with ``translations`` (what the motors read)."""
        self.current = step.to
        if step.method != "none" and self._known(step.to) is None:
            self.known[step.to] = {k: float(v) for k, v in translations.items()}


def count_new_orientations(orientations: list[Orientation], reference: Orientation) -> int:
    """How many centrings (or corrections) a run needs for wedges at ``orientations`` (in
    acquisition order), starting centred at ``reference``: the distinct orientations other than
    the reference, whatever the order."""
    seen: list[Orientation] = [reference]
    n = 0
    for o in orientations:
        if not any(same_orientation(o, s) for s in seen):
            seen.append(o)
            n += 1
    return n
