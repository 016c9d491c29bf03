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


@dataclass(frozen=True)
class Wedge:
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


def wedge_part(sweep_id: str, k: int, width: int = 3) -> str:
    return f"{sweep_id}_w{k:0{width}d}"


def _group_order(groups: list[SweepSettings], model: MotionCostModel) -> list[int]:
    """Order of the setting groups that minimises the walk cost (exact for few groups)."""
    n = len(groups)
    if n <= 2:
        return list(range(n))
    if n <= 7:
        best, best_cost = None, float("inf")
        for perm in itertools.permutations(range(1, n)):
            order = (0, *perm)
            c = sum(model.step(groups[a], groups[b]) for a, b in zip(order, order[1:]))
            if c < best_cost - 1e-12:
                best, best_cost = list(order), c
        return best  # type: ignore[return-value]
    # greedy nearest neighbour from the first group
    left, order = set(range(1, n)), [0]
    while left:
        nxt = min(left, key=lambda j: (model.step(groups[order[-1]], groups[j]), j))
        order.append(nxt)
        left.remove(nxt)
    return order


def sweep_order(task: InterleavedTask, strategy: Strategy | None = None,
                model: MotionCostModel | None = None) -> tuple[list[Sweep], list[list[int]], bool]:
    """(sweeps, blocks of sweep indices in round order, alternate direction per round)."""
    strategy = strategy or task.strategy
    sweeps = task.all_sweeps()
    idx = {s.id: i for i, s in enumerate(sweeps)}
    if strategy == "round_robin":
        primary = [idx[s.id] for s in sweeps if s.inverse_of is None]
        partners = [idx[s.id] for s in sweeps if s.inverse_of is not None]
        return sweeps, [[i] for i in primary + partners], False
    if strategy == "inverse_adjacent":
        return sweeps, [[i] for i in range(len(sweeps))], False
    model = model or MotionCostModel()
    keys: list[SweepSettings] = []
    members: list[list[int]] = []
    for i, s in enumerate(sweeps):
        k = SweepSettings.of(s)
        if k in keys:
            members[keys.index(k)].append(i)
        else:
            keys.append(k)
            members.append([i])
    order = _group_order(keys, model)
    return sweeps, [members[g] for g in order], True


def plan(task: InterleavedTask, strategy: Strategy | None = None,
         model: MotionCostModel | None = None) -> Plan:
    """The ordered wedges of ``task`` (global image numbers in acquisition order, 1-based)."""
    sweeps, blocks, serpentine = sweep_order(task, strategy, model)
    per_wedge = [task.wedge_images(s) for s in sweeps]
    n_wedges = [-(-s.num_images // per_wedge[i]) for i, s in enumerate(sweeps)]
    width = max(3, len(str(max(n_wedges))))
    wedges: list[Wedge] = []
    g = 1
    rounds = max(n_wedges)
    for r in range(rounds):
        seq = blocks if not (serpentine and r % 2) else blocks[::-1]
        for block in seq:
            for i in block:
                if r >= n_wedges[i]:
                    continue
                s = sweeps[i]
                first = r * per_wedge[i] + 1
                n = min(per_wedge[i], s.num_images - first + 1)
                wedges.append(Wedge(
                    order=len(wedges), sweep=s.id, sweep_index=i, wedge_index=r + 1,
                    first_frame=first, n=n, omega_start=s.omega_start + (first - 1) * s.osc_range,
                    osc_range=s.osc_range, first_global=g,
                    base_prefix=task.prefix, wedge_part=wedge_part(s.id, r + 1, width),
                    run=task.run_number,
                ))
                g += n
    return Plan(task=task, sweeps=tuple(sweeps), wedges=tuple(wedges))


def compare_strategies(task: InterleavedTask, model: MotionCostModel | None = None) -> dict[str, PlanCost]:
    """Motion cost of every strategy for the same task (same interleaving)."""
    return {s: plan(task, s, model).cost(model) for s in ("round_robin", "inverse_adjacent", "min_motion")}
