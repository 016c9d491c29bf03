"""From an interleaved task to the ordered list of wedges (pure: no hardware, no mxcubecore).

Every sweep is cut into wedges of the same number of images (the last one may be shorter). The
*interleaving* is fixed: round k holds the k-th wedge of every sweep that still has one. The
*strategy* only chooses the order of the sweeps inside each round:

* ``round_robin``: the sweeps as listed, then all inverse-beam partners (A B A' B').
* ``inverse_adjacent``: each partner right after its sweep (A A' B B'), so the crystal sees
  both halves of a Friedel pair at the same dose.
* ``min_motion``: sweeps that share energy and orientation form a group (partners stay
  adjacent); groups are ordered to minimise the cost of the moves between them, and every other
  round is walked backwards, so the boundary between rounds costs nothing (A1 B1 B2 A2 A3 B3 …).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

from .cost import MotionCostModel, PlanCost, price
from .task import InterleavedTask, Strategy, Sweep


@dataclass(frozen=True)
class SweepSettings:
    """What the beamline must set for a sweep (the costly part of changing sweeps)."""

    energy_keV: float
    kappa: float
    phi: float
    transmission: float
    resolution_key: float | None

    @classmethod
    def of(cls, s: Sweep) -> "SweepSettings":
        res = s.resolution if s.resolution is not None else (
            -s.detector_distance if s.detector_distance is not None else None)
        return cls(round(s.energy, 6), s.kappa, s.phi, s.transmission, res)


class Wedge(NamedTuple):
    """One wedge: a contiguous run of frames of one sweep, collected as one detector series."""

    order: int  # 0-based position in the acquisition order
    sweep: str
    sweep_index: int  # index of the sweep in task.all_sweeps()
    wedge_index: int  # 1-based index of this wedge within its sweep
    first_frame: int  # 1-based frame number within the sweep
    n: int
    omega_start: float
    osc_range: float
    first_global: int  # 1-based global image number of the first frame
    base_prefix: str  # the task's prefix
    wedge_part: str  # ``<sweep>_w<NNN>``: PathTemplate.wedge_prefix
    run: int

    @property
    def prefix(self) -> str:
        """The detector series prefix (without run number): ``<prefix>_<sweep>_w<NNN>``."""
        return f"{self.base_prefix}_{self.wedge_part}"

    @property
    def last_frame(self) -> int:
        return self.first_frame + self.n - 1

    @property
    def last_global(self) -> int:
        return self.first_global + self.n - 1


@dataclass(frozen=True)
class Plan:
    task: InterleavedTask
    sweeps: tuple[Sweep, ...]
    wedges: tuple[Wedge, ...]

    @property
    def total_images(self) -> int:
        return sum(w.n for w in self.wedges)

    def sweep(self, sweep_id: str) -> Sweep:
        for s in self.sweeps:
            if s.id == sweep_id:
                return s
        raise KeyError(sweep_id)

    def settings(self) -> list[SweepSettings]:
        by_id = {s.id: SweepSettings.of(s) for s in self.sweeps}
        return [by_id[w.sweep] for w in self.wedges]

    def cost(self, model: MotionCostModel | None = None) -> PlanCost:
        return price(self.settings(), model)


def _best_path(start: SweepSettings | None, groups: list[SweepSettings], active: tuple[int, ...],
               model: MotionCostModel) -> tuple[int, ...]:
    """Cheapest order to visit ``active`` groups starting from ``start`` (exact up to 7 groups)."""
    if len(active) <= 1:
        return active

    def walk_cost(order: tuple[int, ...]) -> float:
        c = model.step(start, groups[order[0]]) if start is not None else 0.0
        return c + sum(model.step(groups[a], groups[b]) for a, b in zip(order, order[1:]))

    if len(active) <= 7:
        return min(itertools.permutations(active), key=walk_cost)
    left, order = list(active), []
    cur = start
    while left:
        nxt = min(left, key=lambda j: model.step(cur, groups[j]) if cur is not None else 0.0)
        order.append(nxt)
        left.remove(nxt)
        cur = groups[nxt]
    return tuple(order)


def _group_rounds(groups: list[SweepSettings], active_per_round: list[tuple[int, ...]],
                  model: MotionCostModel) -> list[tuple[int, ...]]:
    """Group order per round: the cheapest of a few candidate walks (never dearer than listed order)."""
    static = _best_path(None, groups, tuple(range(len(groups))), model)
    rank = {g: i for i, g in enumerate(static)}
    listed = [a for a in active_per_round]
    forward = [tuple(sorted(a, key=rank.__getitem__)) for a in active_per_round]
    serpentine = [f if r % 2 == 0 else f[::-1] for r, f in enumerate(forward)]
    greedy: list[tuple[int, ...]] = []
    cache: dict[tuple, tuple[int, ...]] = {}
    prev: int | None = None
    for a in active_per_round:
        key = (prev, a)
        if key not in cache:
            cache[key] = _best_path(groups[prev] if prev is not None else None, groups, a, model)
        greedy.append(cache[key])
        prev = greedy[-1][-1] if greedy[-1] else prev

    def cost(rounds: list[tuple[int, ...]]) -> float:
        seq = [g for r in rounds for g in r]
        return sum(model.step(groups[a], groups[b]) for a, b in zip(seq, seq[1:]) if a != b)

    candidates = [serpentine, greedy, forward, listed]  # ties go to the first (the readable pattern)
    return min(candidates, key=cost)


def _settings_groups(sweeps: list[Sweep], order: list[int]) -> tuple[list[SweepSettings], list[list[int]]]:
    """Sweeps (indices, in ``order``) grouped by identical settings, groups in first-appearance order."""
    keys: dict[SweepSettings, int] = {}
    members: list[list[int]] = []
    for i in order:
        k = SweepSettings.of(sweeps[i])
        if k not in keys:
            keys[k] = len(members)
            members.append([])
        members[keys[k]].append(i)
    return list(keys), members


def plan(task: InterleavedTask, strategy: Strategy | None = None,
         model: MotionCostModel | None = None) -> Plan:
    """The ordered wedges of ``task`` (global image numbers in acquisition order, 1-based)."""
    strategy = strategy or task.strategy
    model = model or MotionCostModel()
    sweeps = task.all_sweeps()
    per_wedge = [task.wedge_images(s) for s in sweeps]
    n_wedges = [-(-s.num_images // per_wedge[i]) for i, s in enumerate(sweeps)]
    rounds = max(n_wedges)
    if strategy == "round_robin":
        order = ([i for i, s in enumerate(sweeps) if s.inverse_of is None]
                 + [i for i, s in enumerate(sweeps) if s.inverse_of is not None])
        per_round = [[i for i in order if r < n_wedges[i]] for r in range(rounds)]
    elif strategy == "inverse_adjacent":
        per_round = [[i for i in range(len(sweeps)) if r < n_wedges[i]] for r in range(rounds)]
    else:
        groups, members = _settings_groups(sweeps, list(range(len(sweeps))))
        active = [tuple(g for g, m in enumerate(members) if any(r < n_wedges[i] for i in m))
                  for r in range(rounds)]
        chosen = _group_rounds(groups, active, model)
        per_round = [[i for g in chosen[r] for i in members[g] if r < n_wedges[i]] for r in range(rounds)]

    width = max(3, len(str(rounds)))
    base, run = task.prefix, task.run_number
    wedges: list[Wedge] = []
    append = wedges.append
    g = 1
    for r, seq in enumerate(per_round):
        k = r + 1
        for i in seq:
            s = sweeps[i]
            first = r * per_wedge[i] + 1
            n = min(per_wedge[i], s.num_images - first + 1)
            append(Wedge(len(wedges), s.id, i, k, first, n, s.omega_start + (first - 1) * s.osc_range,
                         s.osc_range, g, base, f"{s.id}_w{k:0{width}d}", run))
            g += n
    return Plan(task=task, sweeps=tuple(sweeps), wedges=tuple(wedges))


def compare_strategies(task: InterleavedTask, model: MotionCostModel | None = None) -> dict[str, PlanCost]:
    """Motion cost of every strategy for the same task (same interleaving)."""
    return {s: plan(task, s, model).cost(model) for s in ("round_robin", "inverse_adjacent", "min_motion")}
