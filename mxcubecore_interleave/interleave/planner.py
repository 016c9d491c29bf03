"""From an interleaved task to the ordered list of wedges (pure: no hardware, no mxcubecore).

Every sweep is cut into wedges of the same number of images (the last one may be shorter). The
*interleaving* is fixed: round k holds the k-th wedge of every sweep that still has one. The
*strategy* only chooses the order of the sweeps inside each round:

* ``round_robin``: the sweeps as listed, then all inverse-beam partners (A B A' B').
* ``inverse_adjacent``: each partner right after its sweep (A A' B B'), so the crystal sees
  both halves of a Friedel pair at the same dose.
* ``min_motion``: sweeps that share energy and orientation form a group (partners stay
  adjacent); groups are ordered to minimise the cost of the moves between them over the whole
  plan (exact up to seven groups a round), preferring the serpentine walk when it is as cheap:
  every other round walked backwards, so the boundary between rounds costs nothing
  (A1 B1 B2 A2 A3 B3 …).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

from .cost import MotionCostModel, PlanCost
from .task import InterleavedTask, Strategy, Sweep

STRATEGIES: tuple[Strategy, ...] = ("round_robin", "inverse_adjacent", "min_motion")


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
    wedge_index: int  # 1-based index of this wedge within its sweep (= its round)
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


class Plan:
    """The schedule: one row per wedge in acquisition order, held as columns (cheap for 10^5 wedges).

    ``wedges`` gives the rows as ``Wedge`` tuples (built on first use).
    """

    def __init__(self, task: InterleavedTask, sweeps: list[Sweep], sweep_index: np.ndarray,
                 wedge_index: np.ndarray, per_wedge: np.ndarray, strategy: Strategy) -> None:
        self.task = task
        self.sweeps = tuple(sweeps)
        self.strategy = strategy
        num = np.array([s.num_images for s in sweeps], dtype=np.int64)
        self.sweep_index = sweep_index
        self.wedge_index = wedge_index  # 1-based
        self.first_frame = (wedge_index - 1) * per_wedge[sweep_index] + 1
        self.n = np.minimum(per_wedge[sweep_index], num[sweep_index] - self.first_frame + 1)
        self.first_global = np.cumsum(self.n) - self.n + 1
        om0 = np.array([s.omega_start for s in sweeps])
        osc = np.array([s.osc_range for s in sweeps])
        self.omega_start = om0[sweep_index] + (self.first_frame - 1) * osc[sweep_index]
        self._width = max(3, len(str(int(wedge_index.max()) if len(wedge_index) else 1)))

    def __len__(self) -> int:
        return len(self.sweep_index)

    @cached_property
    def wedges(self) -> tuple[Wedge, ...]:
        sw, width = self.sweeps, self._width
        base, run = self.task.prefix, self.task.run_number
        return tuple(
            Wedge(o, sw[i].id, i, k, f, n, om, sw[i].osc_range, g, base, f"{sw[i].id}_w{k:0{width}d}", run)
            for o, (i, k, f, n, om, g) in enumerate(zip(
                self.sweep_index.tolist(), self.wedge_index.tolist(), self.first_frame.tolist(),
                self.n.tolist(), self.omega_start.tolist(), self.first_global.tolist()))
        )

    @property
    def total_images(self) -> int:
        return int(self.n.sum())

    def sweep(self, sweep_id: str) -> Sweep:
        for s in self.sweeps:
            if s.id == sweep_id:
                return s
        raise KeyError(sweep_id)

    def settings(self) -> list[SweepSettings]:
        by_index = [SweepSettings.of(s) for s in self.sweeps]
        return [by_index[i] for i in self.sweep_index.tolist()]

    def cost(self, model: MotionCostModel | None = None) -> PlanCost:
        """Motion cost of this order (a lookup table over sweep pairs, so 10^5 wedges are cheap)."""
        model = model or MotionCostModel()
        st = [SweepSettings.of(s) for s in self.sweeps]
        m = len(st)
        cost = np.zeros((m, m))
        energy = np.zeros((m, m), dtype=bool)
        kp = np.zeros((m, m), dtype=bool)
        for a in range(m):
            for b in range(m):
                cost[a, b] = model.step(st[a], st[b])
                energy[a, b] = abs(st[a].energy_keV - st[b].energy_keV) > model.energy_tolerance_keV
                kp[a, b] = abs(st[a].kappa - st[b].kappa) > 1e-6 or abs(st[a].phi - st[b].phi) > 1e-6
        a, b = self.sweep_index[:-1], self.sweep_index[1:]
        return PlanCost(total_s=float(cost[a, b].sum()), energy_changes=int(energy[a, b].sum()),
                        kappa_phi_moves=int(kp[a, b].sum()), steps=max(len(self) - 1, 0))


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


def _epochs(limits: list[int], rounds: int) -> list[tuple[int, int]]:
    """Round ranges [r0, r1) over which the set of ``r < limit`` items does not change."""
    cuts = sorted({0, rounds, *[x for x in limits if 0 < x < rounds]})
    return list(zip(cuts, cuts[1:]))


def _group_rounds(groups: list[SweepSettings], group_wedges: list[int], rounds: int,
                  model: MotionCostModel) -> list[tuple[int, ...]]:
    """Group order per round: the cheapest of a few candidate walks (never dearer than listed order)."""
    static = _best_path(None, groups, tuple(range(len(groups))), model)
    rank = {g: i for i, g in enumerate(static)}
    active_per_round: list[tuple[int, ...]] = []
    for r0, r1 in _epochs(group_wedges, rounds):
        a = tuple(g for g in range(len(groups)) if r0 < group_wedges[g])
        active_per_round.extend([a] * (r1 - r0))
    forward_of = {a: tuple(sorted(a, key=rank.__getitem__)) for a in set(active_per_round)}
    forward = [forward_of[a] for a in active_per_round]
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
    n = len(groups)
    table = np.array([[model.step(groups[a], groups[b]) for b in range(n)] for a in range(n)])

    def cost(rounds_: list[tuple[int, ...]]) -> float:
        seq = np.fromiter(itertools.chain.from_iterable(rounds_), dtype=np.int64)
        return float(table[seq[:-1], seq[1:]].sum())

    candidates = [serpentine, greedy, forward, active_per_round]  # ties: the first (readable pattern)
    exact = _whole_plan(active_per_round, table)
    if exact is not None:
        candidates.append(exact)
    return min(candidates, key=cost)


def _round_paths(a: tuple[int, ...], table: np.ndarray) -> tuple[np.ndarray, dict[tuple[int, int], tuple[int, ...]]]:
    """For one round's groups: the cheapest walk through all of them from each start to each end."""
    n = len(table)
    best = np.full((n, n), np.inf)
    walk: dict[tuple[int, int], tuple[int, ...]] = {}
    for perm in itertools.permutations(a):
        c = float(sum(table[x, y] for x, y in zip(perm, perm[1:])))
        if c < best[perm[0], perm[-1]]:
            best[perm[0], perm[-1]] = c
            walk[perm[0], perm[-1]] = perm
    return best, walk


def _whole_plan(active_per_round: list[tuple[int, ...]], table: np.ndarray) -> list[tuple[int, ...]] | None:
    """The cheapest group order of the whole plan, not round by round (a round's best order depends
    on where the previous one ended and on the rounds after it): dynamic programming over the rounds,
    the state being the group a round ends on. Exact up to seven groups a round (else None).

    Rounds with the same groups repeat the same step, so once the values (up to a constant) repeat,
    the rest of that stretch repeats the same choices: long plans cost a few steps per stretch."""
    if not active_per_round or max(len(a) for a in active_per_round) > 7:
        return None
    paths: dict[tuple[int, ...], tuple[np.ndarray, dict]] = {}
    steps: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
    for a in dict.fromkeys(active_per_round):
        paths[a] = _round_paths(a, table)
        # via[p, s, e]: from the previous round's end p, into this round at s, out at e
        via = table[:, :, None] + paths[a][0][None, :, :]
        steps[a] = via.min(axis=1), via.argmin(axis=1)
    first = paths[active_per_round[0]][0]
    value, start0 = first.min(axis=0), first.argmin(axis=0)  # the first round starts anywhere
    back: list[np.ndarray | None] = [None] * len(active_per_round)
    r, rounds = 1, len(active_per_round)
    while r < rounds:
        a = active_per_round[r]
        end = r
        while end < rounds and active_per_round[end] == a:
            end += 1
        cost_, _ = steps[a]
        seen: dict[tuple, int] = {}
        history: dict[int, np.ndarray] = {}
        while r < end:
            finite = value[np.isfinite(value)]
            key = tuple(np.round(value - finite.min(), 9))
            if key in seen:  # periodic from here: repeat the choices, add the period's cost
                q = seen[key]
                period, delta = r - q, finite.min() - history[q][np.isfinite(history[q])].min()
                for j in range(r, end):
                    back[j] = back[q + (j - q) % period]
                k, m = divmod(end - q, period)
                value = history[q + m] + k * delta
                r = end
                break
            seen[key], history[r] = r, value
            total = value[:, None] + cost_
            back[r] = total.argmin(axis=0)
            value = total.min(axis=0)
            r += 1
    e = int(np.argmin(value))
    out: list[tuple[int, ...]] = []
    for r in range(rounds - 1, 0, -1):
        a = active_per_round[r]
        p = int(back[r][e])
        out.append(paths[a][1][int(steps[a][1][p, e]), e])
        e = p
    out.append(paths[active_per_round[0]][1][int(start0[e]), e])
    return out[::-1]


def _settings_groups(sweeps: list[Sweep]) -> tuple[list[SweepSettings], list[list[int]]]:
    """Sweep indices grouped by identical settings, groups in first-appearance order."""
    keys: dict[SweepSettings, int] = {}
    members: list[list[int]] = []
    for i, s in enumerate(sweeps):
        k = SweepSettings.of(s)
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
    per_wedge = np.array([task.wedge_images(s) for s in sweeps], dtype=np.int64)
    n_wedges = [-(-s.num_images // int(per_wedge[i])) for i, s in enumerate(sweeps)]
    rounds = max(n_wedges)
    if strategy == "min_motion":
        groups, members = _settings_groups(sweeps)
        chosen = _group_rounds(groups, [max(n_wedges[i] for i in m) for m in members], rounds, model)
        orders = [tuple(i for g in c for i in members[g]) for c in chosen]
    else:
        if strategy == "round_robin":
            order = tuple([i for i, s in enumerate(sweeps) if s.inverse_of is None]
                          + [i for i, s in enumerate(sweeps) if s.inverse_of is not None])
        else:
            order = tuple(range(len(sweeps)))
        orders = [order] * rounds
    # drop the sweeps that have no wedge left in a round (cached: few distinct rounds)
    epochs = _epochs(n_wedges, rounds)
    cache: dict[tuple, np.ndarray] = {}
    rows: list[np.ndarray] = []
    e = 0
    for r, order in enumerate(orders):
        while r >= epochs[e][1]:
            e += 1
        key = (order, e)
        arr = cache.get(key)
        if arr is None:
            arr = cache[key] = np.array([i for i in order if r < n_wedges[i]], dtype=np.int64)
        rows.append(arr)
    sweep_index = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    wedge_index = np.repeat(np.arange(1, rounds + 1, dtype=np.int64), [len(a) for a in rows])
    return Plan(task, sweeps, sweep_index, wedge_index, per_wedge, strategy)


def compare_strategies(task: InterleavedTask, model: MotionCostModel | None = None) -> dict[str, PlanCost]:
    """Motion cost of every strategy for the same task (same interleaving)."""
    return {s: plan(task, s, model).cost(model) for s in STRATEGIES}
