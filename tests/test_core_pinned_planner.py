"""The planner pinned against independent computations: the wedges a task must give (worked out
here from the wedge rule), the cheapest order (brute force over every order), a nearest-neighbour
walk (for more groups than the exact search takes), and the cost as ``cost.price`` prices the
same sequence of settings."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxcubecore_interleave.interleave import MotionCostModel, compare_strategies, plan
from mxcubecore_interleave.interleave import parse_task as _parse_task
from mxcubecore_interleave.interleave.cost import price
from mxcubecore_interleave.interleave.planner import STRATEGIES, SweepSettings
from tests.test_interleave_planner import tasks

MODEL = MotionCostModel()


def parse_task(data: dict):
    """The planner's cases repeat settings on purpose (costs of known moves): every sweep is
    marked an intended repeat, so the duplicate-sweep refusal (interleave/duplicates.py) stays out."""
    return _parse_task({**data, "sweeps": [{**s, "repeat": True} for s in data["sweeps"]]})


def _kappa_task(kappas: list[float], *, num_images: int = 10, wedge: int = 10, strategy: str = "min_motion"):
    return parse_task({"sweeps": [{"id": f"k{i}", "energy_keV": 12.7, "kappa": k, "num_images": num_images}
                                  for i, k in enumerate(kappas)], "wedge_size": wedge, "strategy": strategy})


def _expected_wedges(task) -> list[tuple[str, int, int, int]]:
    """(sweep, round, first frame, n) of every wedge, from the rule: cut each sweep into wedges of
    the wedge size, the last one shorter."""
    out = []
    for s in task.all_sweeps():
        size = task.wedge_images(s)
        for k, first in enumerate(range(1, s.num_images + 1, size), start=1):
            out.append((s.id, k, first, min(size, s.num_images - first + 1)))
    return sorted(out)


def _kappa_settings(k: float) -> SweepSettings:
    return SweepSettings(12.7, k, 0.0, 100.0, None)


def _nearest_neighbour_cost(kappas: list[float]) -> float:
    """Walk from the first listed kappa always to the cheapest unvisited one."""
    left, cur, total = list(kappas[1:]), kappas[0], 0.0
    while left:
        nxt = min(left, key=lambda k: MODEL.step(_kappa_settings(cur), _kappa_settings(k)))
        total += MODEL.step(_kappa_settings(cur), _kappa_settings(nxt))
        left.remove(nxt)
        cur = nxt
    return total


def _cheapest_order_cost(task) -> float:
    sweeps = task.all_sweeps()
    return min(price([SweepSettings.of(s) for s in perm]).total_s for perm in itertools.permutations(sweeps))


# -- wedges ------------------------------------------------------------------------------------
def test_wedge_fields_of_uneven_sweeps():
    task = parse_task({"sweeps": [{"id": "A", "energy_keV": 12.7, "num_images": 25, "omega_start": 10.0,
                                   "osc_range": 0.5},
                                  {"id": "B", "energy_keV": 13.0, "num_images": 10}],
                       "wedge_size": 10, "strategy": "round_robin", "prefix": "px", "run_number": 3})
    ws = plan(task).wedges
    assert [(w.sweep, w.wedge_index, w.first_frame, w.last_frame, w.n) for w in ws] == [
        ("A", 1, 1, 10, 10), ("B", 1, 1, 10, 10), ("A", 2, 11, 20, 10), ("A", 3, 21, 25, 5)]
    assert [(w.first_global, w.last_global) for w in ws] == [(1, 10), (11, 20), (21, 30), (31, 35)]
    assert [w.order for w in ws] == [0, 1, 2, 3]
    assert [w.sweep_index for w in ws] == [0, 1, 0, 0]
    assert [w.omega_start for w in ws] == [10.0, 0.0, 15.0, 20.0]
    assert [w.osc_range for w in ws] == [0.5, 0.1, 0.5, 0.5]
    assert [w.prefix for w in ws] == ["px_A_w001", "px_B_w001", "px_A_w002", "px_A_w003"]
    assert {w.run for w in ws} == {3} and {w.base_prefix for w in ws} == {"px"}
    assert plan(task).total_images == 35


def test_wedge_numbers_are_padded_to_the_widest():
    task = parse_task({"sweeps": [{"id": "A", "energy_keV": 12.7, "num_images": 1200}], "wedge_size": 1})
    ws = plan(task).wedges
    assert (ws[0].wedge_part, ws[-1].wedge_part) == ("A_w0001", "A_w1200")


def test_sweep_settings_key_resolution_and_distance_apart():
    task = parse_task({"sweeps": [{"id": "R", "energy_keV": 12.7, "resolution": 2.0},
                                  {"id": "D", "energy_keV": 12.7, "detector_distance": 200.0},
                                  {"id": "N", "energy_keV": 12.7, "kappa": 30.0, "phi": 60.0, "transmission": 50.0}]})
    r, d, n = (SweepSettings.of(s) for s in task.all_sweeps())
    assert r.resolution_key == 2.0  # a resolution is its own key
    assert d.resolution_key == -200.0  # a distance is keyed negative: never equal to a resolution
    assert n == SweepSettings(12.7, 30.0, 60.0, 50.0, None)
    p = plan(task)
    assert p.settings() == [SweepSettings.of(p.sweep(w.sweep)) for w in p.wedges]
    with pytest.raises(KeyError):
        p.sweep("nope")


# -- cost of a plan ------------------------------------------------------------------------------
def test_plan_cost_counts_as_numbers():
    # A and B share kappa 30 (no move between them), C is at phi 45 (one move there and one back)
    task = parse_task({"sweeps": [{"id": "A", "energy_keV": 12.7, "kappa": 30.0, "num_images": 20},
                                  {"id": "B", "energy_keV": 13.0, "kappa": 30.0, "num_images": 20},
                                  {"id": "C", "energy_keV": 13.0, "kappa": 30.0, "phi": 45.0, "num_images": 20}],
                       "wedge_size": 10, "strategy": "round_robin"})
    c = plan(task).cost()
    # A B C A B C: energy changes A>B, C>A, A>B; kappa/phi moves B>C, C>A, B>C
    assert (c.steps, c.energy_changes, c.kappa_phi_moves) == (5, 3, 3)
    assert c.total_s == pytest.approx(3 * 30.0 + 3 * (5.0 + 0.02 * 45.0))
    one = parse_task({"sweeps": [{"id": "A", "energy_keV": 12.7, "num_images": 10}], "wedge_size": 10})
    assert plan(one).cost() == price([])


@settings(max_examples=150, deadline=None)
@given(tasks(), st.sampled_from(STRATEGIES))
def test_plan_cost_is_the_price_of_its_settings(data, strategy):
    p = plan(parse_task(data), strategy)
    model = MotionCostModel(energy_change=7.0, kappa_phi_move=2.0, kappa_phi_per_deg=0.5,
                            transmission_change=0.25, resolution_change=1.5)
    for m in (None, model):
        got, want = p.cost(m), price(p.settings(), m)
        assert (got.steps, got.energy_changes, got.kappa_phi_moves) == (want.steps, want.energy_changes,
                                                                         want.kappa_phi_moves)
        assert got.total_s == pytest.approx(want.total_s)


# -- the order ---------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(tasks(), st.sampled_from(STRATEGIES))
def test_every_strategy_orders_a_permutation_of_the_wedges(data, strategy):
    task = parse_task(data)
    ws = plan(task, strategy).wedges
    assert sorted((w.sweep, w.wedge_index, w.first_frame, w.n) for w in ws) == _expected_wedges(task)
    assert [w.wedge_index for w in ws] == sorted(w.wedge_index for w in ws)  # round after round


@settings(max_examples=100, deadline=None)
@given(tasks())
def test_min_motion_never_costs_more_than_any_strategy(data):
    task = parse_task(data)
    costs = compare_strategies(task)
    assert set(costs) == set(STRATEGIES)
    for s in STRATEGIES:
        assert costs[s] == plan(task, s).cost()
        assert costs["min_motion"].total_s <= costs[s].total_s + 1e-9


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([12.4, 13.0]), st.sampled_from([0.0, 10.0, -11.0, 30.0]),
                          st.sampled_from([0.0, 90.0]), st.booleans()), min_size=1, max_size=3))
def test_one_round_min_motion_is_the_cheapest_of_all_orders(sweeps):
    """One wedge per sweep: the exact search must find the cheapest of every order of the sweeps."""
    task = parse_task({"sweeps": [{"id": f"s{i}", "energy_keV": e, "kappa": k, "phi": p, "inverse_beam": inv,
                                   "num_images": 5} for i, (e, k, p, inv) in enumerate(sweeps)],
                       "wedge_size": 5})
    assert plan(task, "min_motion").cost().total_s == pytest.approx(_cheapest_order_cost(task))


@pytest.mark.parametrize("kappas, exact", [
    ([0.0, 10.0, -11.0, 30.0], 3 * 5.0 + 0.02 * 41.0),  # -11 0 10 30
    ([0.0, 10.0, -11.0, 30.0, 31.0, 32.0, -30.0], 6 * 5.0 + 0.02 * 62.0),  # seven groups: still exact
])
def test_exact_search_beats_the_nearest_neighbour_walk(kappas, exact):
    task = _kappa_task(kappas)
    got = plan(task).cost().total_s
    assert got == pytest.approx(exact) == pytest.approx(_cheapest_order_cost(task))
    assert got < _nearest_neighbour_cost(kappas) - 0.1
    assert got < plan(task, "round_robin").cost().total_s - 0.1


def test_more_groups_than_the_exact_search_walk_to_the_nearest():
    kappas = [0.0, 80.0, 10.0, 70.0, 20.0, 60.0, 30.0, 50.0]  # eight groups, listed zigzag
    task = _kappa_task(kappas)
    got = plan(task).cost().total_s
    assert got == pytest.approx(_nearest_neighbour_cost(kappas)) == pytest.approx(7 * 5.0 + 0.02 * 80.0)
    assert got < plan(task, "round_robin").cost().total_s - 1.0
    assert [w.sweep for w in plan(task).wedges] == ["k0", "k2", "k4", "k6", "k7", "k5", "k3", "k1"]


def test_the_exact_search_stops_at_seven_groups():
    """Eight groups: the nearest-neighbour walk (36.92 s), although an order of 36.26 s exists."""
    kappas = [0.0, 10.0, -11.0, 30.0, 31.0, 32.0, -30.0, 33.0]
    got = plan(_kappa_task(kappas)).cost().total_s
    assert got == pytest.approx(_nearest_neighbour_cost(kappas)) == pytest.approx(36.92)


def test_min_motion_walks_every_other_round_backwards():
    task = _kappa_task([0.0, 20.0, 40.0], num_images=30)
    ws = plan(task).wedges
    assert [w.sweep for w in ws] == ["k0", "k1", "k2", "k2", "k1", "k0", "k0", "k1", "k2"]
    c = plan(task).cost()
    assert (c.kappa_phi_moves, c.steps) == (6, 8)
    assert c.total_s == pytest.approx(6 * (5.0 + 0.02 * 20.0))


def test_min_motion_keeps_groups_when_sweeps_end_at_different_rounds():
    task = parse_task({"sweeps": [{"id": "A", "energy_keV": 12.7, "num_images": 30},
                                  {"id": "B", "energy_keV": 13.0, "num_images": 10},
                                  {"id": "C", "energy_keV": 12.7, "num_images": 20}], "wedge_size": 10})
    ws = plan(task, "min_motion").wedges
    order = [(w.sweep, w.wedge_index) for w in ws]
    assert sorted(order) == sorted([("A", 1), ("A", 2), ("A", 3), ("B", 1), ("C", 1), ("C", 2)])
    for k in (1, 2):  # A and C share settings: adjacent in every round both are in
        names = [w.sweep for w in ws if w.wedge_index == k]
        assert abs(names.index("A") - names.index("C")) == 1
    assert plan(task, "min_motion").cost().total_s <= plan(task, "round_robin").cost().total_s


def test_the_task_strategy_is_the_default():
    for s in STRATEGIES:
        task = _kappa_task([0.0, 80.0, 10.0], num_images=20, strategy=s)
        assert plan(task).strategy == s
        assert [w.sweep for w in plan(task).wedges] == [w.sweep for w in plan(task, s).wedges]


def test_settings_are_keyed_to_a_micro_kev_and_unknown_sweeps_named():
    task = parse_task({"sweeps": [{"id": "A", "energy_keV": 12.7000004}, {"id": "B", "energy_keV": 12.7}]})
    a, b = (SweepSettings.of(s) for s in task.all_sweeps())
    assert a.energy_keV == 12.7 and a == b  # one group: no energy change between them
    with pytest.raises(KeyError, match="nope"):
        plan(task).sweep("nope")


def test_plan_cost_thresholds_are_inclusive():
    tol = MotionCostModel(energy_tolerance_keV=0.25)
    task = parse_task({"sweeps": [{"id": "A", "energy_keV": 12.0, "num_images": 1},
                                  {"id": "B", "energy_keV": 12.25, "kappa": 1e-6, "num_images": 1},
                                  {"id": "C", "energy_keV": 12.25, "kappa": 1e-6, "phi": 1e-6, "num_images": 1}],
                       "wedge_size": 1, "strategy": "round_robin"})
    c = plan(task).cost(tol)
    assert (c.energy_changes, c.kappa_phi_moves, c.total_s) == (0, 0, 0.0)
    half = parse_task({"sweeps": [{"id": "A", "energy_keV": 12.0, "num_images": 1},
                                  {"id": "B", "energy_keV": 12.0, "kappa": 0.5, "num_images": 1},
                                  {"id": "C", "energy_keV": 12.0, "kappa": 0.5, "phi": 0.5, "num_images": 1}],
                       "wedge_size": 1, "strategy": "round_robin"})
    c = plan(half).cost()
    assert (c.energy_changes, c.kappa_phi_moves) == (0, 2)
    assert c.total_s == pytest.approx(2 * (5.0 + 0.02 * 0.5))


def test_compare_strategies_plans_and_prices_with_the_given_model():
    # X(12.7, k0) Y(13, k0) Z(12.7, k50) W(13, k50): the default model avoids energy changes
    # (X Z W Y: 42 s); one that makes kappa moves dear avoids those (X Y W Z: 53 s of its prices)
    task = parse_task({"sweeps": [{"id": i, "energy_keV": e, "kappa": k, "num_images": 1}
                                  for i, e, k in (("X", 12.7, 0.0), ("Y", 13.0, 0.0), ("Z", 12.7, 50.0),
                                                  ("W", 13.0, 50.0))], "wedge_size": 1})
    dear_kappa = MotionCostModel(energy_change=1.0, kappa_phi_move=50.0)
    assert compare_strategies(task)["min_motion"].total_s == pytest.approx(42.0)
    got = compare_strategies(task, dear_kappa)
    assert got["min_motion"].total_s == pytest.approx(53.0)
    assert got["min_motion"].total_s == pytest.approx(_cheapest_order_cost_with(task, dear_kappa))
    for s in STRATEGIES:
        assert got[s] == plan(task, s, dear_kappa).cost(dear_kappa)


def _cheapest_order_cost_with(task, model):
    return min(price([SweepSettings.of(s) for s in perm], model).total_s
               for perm in itertools.permutations(task.all_sweeps()))


# -- the whole plan, not round by round ----------------------------------------------------------
def _cheapest_whole_plan_cost(task) -> float:
    """Brute force: every order of the sweeps inside every round (the interleaving fixed: round k
    holds the k-th wedge of each sweep that has one), priced as one sequence."""
    sweeps = task.all_sweeps()
    n_wedges = [-(-s.num_images // task.wedge_images(s)) for s in sweeps]
    per_round = [[s for s, n in zip(sweeps, n_wedges) if k < n] for k in range(max(n_wedges))]
    return min(price([SweepSettings.of(s) for r in orders for s in r]).total_s
               for orders in itertools.product(*(itertools.permutations(r) for r in per_round)))


def test_min_motion_orders_the_whole_plan_not_each_round():
    """A (12.7 keV, 3 wedges), B (13.0 keV, 1 wedge), C (12.7 keV, 2 wedges): the round-by-round
    choice A C B | A C | A pays two energy changes (60 s); B first pays one (30 s)."""
    task = parse_task({"sweeps": [{"id": "A", "energy_keV": 12.7, "num_images": 30},
                                  {"id": "B", "energy_keV": 13.0, "num_images": 10},
                                  {"id": "C", "energy_keV": 12.7, "num_images": 20}], "wedge_size": 10})
    p = plan(task, "min_motion")
    assert [(w.sweep, w.wedge_index) for w in p.wedges] == [("B", 1), ("A", 1), ("C", 1), ("A", 2), ("C", 2),
                                                            ("A", 3)]
    c = p.cost()
    assert (c.total_s, c.energy_changes, c.steps) == (30.0, 1, 5)
    assert c.total_s == _cheapest_whole_plan_cost(task)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([12.4, 13.0]), st.sampled_from([0.0, 10.0, 30.0]),
                          st.integers(1, 3)), min_size=1, max_size=3))
def test_min_motion_is_the_cheapest_whole_plan(sweeps):
    """No order of the sweeps inside the rounds (any strategy's included) is cheaper than min_motion."""
    task = parse_task({"sweeps": [{"id": f"s{i}", "energy_keV": e, "kappa": k, "num_images": 5 * n}
                                  for i, (e, k, n) in enumerate(sweeps)], "wedge_size": 5})
    assert plan(task, "min_motion").cost().total_s == pytest.approx(_cheapest_whole_plan_cost(task))


def test_long_plans_repeat_the_cheapest_pattern():
    """1000 rounds of four energies: the exact search repeats its choice (3 changes a round, none
    at the boundaries) and the plan is the serpentine walk."""
    task = parse_task({"sweeps": [{"id": f"s{i}", "energy_keV": 12.0 + 0.1 * i, "num_images": 1000}
                                  for i in range(4)], "wedge_size": 1})
    p = plan(task)
    assert p.cost().energy_changes == 3 * 1000
    names = [w.sweep for w in p.wedges]
    assert names[:8] == ["s0", "s1", "s2", "s3", "s3", "s2", "s1", "s0"] and names[-4:] == ["s3", "s2", "s1", "s0"]


# -- the whole-plan search on its own (pinned after the planner's mutation run) -----------------------
def _sequence_cost(rounds, table) -> float:
    seq = [g for r in rounds for g in r]
    return float(sum(table[a][b] for a, b in zip(seq, seq[1:])))


def test_the_whole_plan_search_is_exact_up_to_seven_groups_a_round():
    import numpy as np

    from mxcubecore_interleave.interleave.planner import _whole_plan

    for n in (2, 7):
        table = np.abs(np.subtract.outer(np.arange(n), np.arange(n))).astype(float)
        out = _whole_plan([tuple(range(n))] * 2, table)
        assert out is not None and sorted(out[0]) == list(range(n)) and _sequence_cost(out, table) == 2 * (n - 1)  # serpentine
    assert _whole_plan([tuple(range(8))], np.zeros((8, 8))) is None
    assert _whole_plan([], np.zeros((2, 2))) is None


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_whole_plan_search_is_the_cheapest_of_every_order(data):
    """Any symmetric table of step costs (as the cost model's), any shrinking sets of groups: the
    search's plan visits each round's groups once and costs the least of every order of every round."""
    import numpy as np

    from mxcubecore_interleave.interleave.planner import _whole_plan

    n = data.draw(st.integers(2, 4))
    costs = data.draw(st.lists(st.integers(0, 9), min_size=n * n, max_size=n * n))
    table = np.array(costs, dtype=float).reshape(n, n)
    table = table + table.T
    np.fill_diagonal(table, 0.0)
    wedges = data.draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    rounds = [tuple(g for g in range(n) if r < wedges[g]) for r in range(max(wedges))]
    out = _whole_plan(rounds, table)
    assert [sorted(o) for o in out] == [list(r) for r in rounds]
    best = min(_sequence_cost(c, table) for c in itertools.product(*[itertools.permutations(r) for r in rounds]))
    assert _sequence_cost(out, table) == best


def test_the_whole_plan_search_enters_each_round_where_it_is_cheapest():
    """A case random tables rarely give: the entry into a round of three groups that the
    cheapest whole plan needs is not the entry of the cheapest walk of that round alone."""
    import numpy as np

    from mxcubecore_interleave.interleave.planner import _whole_plan

    table = np.array([[0, 11, 9, 8], [11, 0, 3, 12], [9, 3, 0, 13], [8, 12, 13, 0]], dtype=float)
    rounds = [(0, 1, 2, 3), (1, 2, 3), (3,)]
    out = _whole_plan(rounds, table)
    best = min(_sequence_cost(c, table) for c in itertools.product(*[itertools.permutations(r) for r in rounds]))
    assert [sorted(o) for o in out] == [list(r) for r in rounds] and _sequence_cost(out, table) == best


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_long_stretches_of_equal_rounds_repeat_the_cheapest_choice(data):
    """Many rounds with the same groups (where the search repeats a period instead of stepping
    every round): still the cheapest of every order."""
    import numpy as np

    from mxcubecore_interleave.interleave.planner import _whole_plan

    n = data.draw(st.integers(2, 3))
    costs = data.draw(st.lists(st.integers(0, 9), min_size=n * n, max_size=n * n))
    table = np.array(costs, dtype=float).reshape(n, n)
    table = table + table.T
    np.fill_diagonal(table, 0.0)
    wedges = data.draw(st.lists(st.integers(1, 7 if n == 2 else 5), min_size=n, max_size=n))
    rounds = [tuple(g for g in range(n) if r < wedges[g]) for r in range(max(wedges))]
    out = _whole_plan(rounds, table)
    assert [sorted(o) for o in out] == [list(r) for r in rounds]
    best = min(_sequence_cost(c, table) for c in itertools.product(*[itertools.permutations(r) for r in rounds]))
    assert _sequence_cost(out, table) == best
