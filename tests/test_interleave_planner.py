"""The wedge planner and the task model: pure, no beamline."""

import math
import re
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxcubecore_interleave.errors import PlanError
from mxcubecore_interleave.interleave import (
    BeamlineLimits,
    MotionCostModel,
    compare_strategies,
    parse_task,
    plan,
)

STRATEGIES = ("round_robin", "inverse_adjacent", "min_motion")


OSC = [0.05, 0.1, 0.25, 0.5, 1.0]


@st.composite
def tasks(draw):
    """Valid tasks: wedges in images or degrees, images per file, resolution or distance, any
    transmission; energies and orientations from a few values so that sweeps share settings."""
    n = draw(st.integers(1, 5))
    unit = draw(st.sampled_from(["images", "degrees"]))
    degrees = draw(st.sampled_from([0.5, 1.0, 2.0])) if unit == "degrees" else None
    sweeps = []
    for i in range(n):
        osc = draw(st.sampled_from([o for o in OSC if degrees is None or round(degrees / o) * o == degrees]))
        per_wedge = round(degrees / osc) if degrees is not None else 1
        sweep = {
            "id": f"s{i}",
            "energy_keV": draw(st.sampled_from([12.4, 12.7, 13.0])),
            "kappa": draw(st.sampled_from([0.0, 30.0])),
            "phi": draw(st.sampled_from([0.0, 90.0])),
            "omega_start": draw(st.floats(-180, 180, allow_nan=False)),
            "osc_range": osc,
            "num_images": draw(st.integers(per_wedge, max(60, per_wedge))),
            "transmission": draw(st.sampled_from([100.0, 50.0]) | st.floats(0.01, 100, allow_nan=False)),
            "inverse_beam": draw(st.booleans()),
            # sweeps drawn from a few settings may repeat each other: say it is on purpose
            "repeat": i > 0,
        }
        where = draw(st.sampled_from(["resolution", "detector_distance", None]))
        if where == "resolution":
            sweep["resolution"] = draw(st.sampled_from([1.5, 2.0]))
        elif where == "detector_distance":
            sweep["detector_distance"] = draw(st.sampled_from([200.0, 350.0]))
        sweeps.append(sweep)
    if unit == "images":
        wedge = draw(st.integers(1, min(s["num_images"] for s in sweeps)))
        sizes = [wedge]
    else:
        wedge = degrees
        sizes = [round(degrees / s["osc_range"]) for s in sweeps]
    common = math.gcd(*sizes)
    ipf = draw(st.sampled_from([None] + [d for d in range(1, common + 1) if common % d == 0]))
    return {"sweeps": sweeps, "wedge_size": wedge, "wedge_unit": unit, "images_per_file": ipf,
            "strategy": draw(st.sampled_from(STRATEGIES)), "prefix": "x"}


@settings(max_examples=150, deadline=None)
@given(tasks())
def test_every_frame_once_in_omega_order(data):
    task = parse_task(data)
    p = plan(task)
    frames = defaultdict(list)
    for w in p.wedges:
        frames[w.sweep].extend(range(w.first_frame, w.first_frame + w.n))
    for s in task.all_sweeps():
        # every frame exactly once, and within a sweep in increasing frame (hence omega) order
        assert frames[s.id] == list(range(1, s.num_images + 1))
        omegas = [w.omega_start for w in p.wedges if w.sweep == s.id]
        assert omegas == sorted(omegas)
        for w in (w for w in p.wedges if w.sweep == s.id):
            assert w.omega_start == pytest.approx(s.omega_start + (w.first_frame - 1) * s.osc_range)
    # global numbers are contiguous in acquisition order
    g = 1
    for order, w in enumerate(p.wedges):
        assert w.order == order and w.first_global == g
        g += w.n
    assert g - 1 == task.total_images
    # detector series names are never reused
    assert len({w.prefix for w in p.wedges}) == len(p.wedges)
    # every wedge but a sweep's last has the wedge size; images per file divide it
    for s in task.all_sweeps():
        ns = [w.n for w in p.wedges if w.sweep == s.id]
        size = task.wedge_images(s)
        assert all(n == size for n in ns[:-1]) and 0 < ns[-1] <= size
        assert size % (task.images_per_file or size) == 0
        if task.wedge_unit == "degrees":
            assert size * s.osc_range == pytest.approx(task.wedge_size)


@settings(max_examples=100, deadline=None)
@given(tasks())
def test_strategies_share_the_interleaving(data):
    """Every strategy puts the k-th wedge of every sweep in round k (only the order in a round differs)."""
    task = parse_task(data)
    rounds = {}
    for strategy in STRATEGIES:
        p = plan(task, strategy)
        seen_round = 0
        for w in p.wedges:
            assert w.wedge_index >= seen_round  # rounds never go back
            seen_round = w.wedge_index
        rounds[strategy] = sorted((w.wedge_index, w.sweep, w.first_frame, w.n) for w in p.wedges)
    assert rounds["round_robin"] == rounds["min_motion"] == rounds["inverse_adjacent"]


@settings(max_examples=100, deadline=None)
@given(tasks())
def test_min_motion_never_costs_more_than_round_robin(data):
    task = parse_task(data)
    costs = compare_strategies(task)
    assert costs["min_motion"].total_s <= costs["round_robin"].total_s + 1e-9


def test_shorter_last_wedge():
    task = parse_task({"sweeps": [{"id": "A", "energy_keV": 12.7, "num_images": 25}], "wedge_size": 10})
    assert [(w.first_frame, w.n) for w in plan(task).wedges] == [(1, 10), (11, 10), (21, 5)]


def test_two_energies_min_motion_order_and_cost():
    task = parse_task({"sweeps": [{"id": "A", "energy_keV": 12.7, "num_images": 30},
                                  {"id": "B", "energy_keV": 13.0, "num_images": 30}], "wedge_size": 10})
    mm = plan(task, "min_motion")
    assert [(w.sweep, w.wedge_index) for w in mm.wedges] == [("A", 1), ("B", 1), ("B", 2), ("A", 2), ("A", 3), ("B", 3)]
    rr = plan(task, "round_robin")
    assert [w.sweep for w in rr.wedges] == ["A", "B"] * 3
    assert rr.cost().energy_changes == 5 and mm.cost().energy_changes == 3
    model = MotionCostModel(energy_change=10.0)
    assert mm.cost(model).total_s == pytest.approx(30.0)


def test_inverse_beam_partners():
    task = parse_task({"sweeps": [{"id": "A", "energy_keV": 12.7, "omega_start": 10, "num_images": 20, "inverse_beam": True},
                                  {"id": "B", "energy_keV": 13.0, "num_images": 20, "inverse_beam": True}],
                       "wedge_size": 10, "strategy": "inverse_adjacent"})
    p = plan(task)
    assert [w.sweep for w in p.wedges[:4]] == ["A", "A_inv", "B", "B_inv"]
    inv = p.sweep("A_inv")
    assert inv.omega_start == 190 and inv.inverse_of == "A"
    rr = plan(task, "round_robin")
    assert [w.sweep for w in rr.wedges[:4]] == ["A", "B", "A_inv", "B_inv"]
    mm = plan(task, "min_motion")
    order = [w.sweep for w in mm.wedges]
    for i, s in enumerate(order):  # each partner right after its sweep
        if s.endswith("_inv"):
            assert order[i - 1] == s[:-4]


def test_orientations_min_motion_cheaper():
    task = parse_task({"sweeps": [{"id": f"o{k}", "energy_keV": 12.7, "kappa": k * 30.0, "phi": k * 60.0,
                                   "num_images": 40} for k in range(3)], "wedge_size": 10})
    c = compare_strategies(task)
    assert c["min_motion"].kappa_phi_moves < c["round_robin"].kappa_phi_moves


def test_wedge_in_degrees():
    task = parse_task({"sweeps": [{"id": "A", "energy_keV": 12.7, "osc_range": 0.5, "num_images": 10}],
                       "wedge_size": 2.0, "wedge_unit": "degrees"})
    assert [w.n for w in plan(task).wedges] == [4, 4, 2]
    with pytest.raises(PlanError, match="not a whole number of images"):
        parse_task({"sweeps": [{"id": "A", "energy_keV": 12.7, "osc_range": 0.3, "num_images": 10}],
                    "wedge_size": 1.0, "wedge_unit": "degrees"})


@pytest.mark.parametrize("data, message", [
    ({"sweeps": []}, "at least one sweep"),
    ({"sweeps": [{"id": "A", "energy_keV": 12.7}, {"id": "A", "energy_keV": 13.0}]}, "used twice"),
    ({"sweeps": [{"id": "A", "energy_keV": 12.7, "inverse_beam": True}, {"id": "A_inv", "energy_keV": 13.0}]},
     "inverse-beam partner id 'A_inv' (of sweep 'A') is used twice"),
    ({"sweeps": [{"id": "A", "energy_keV": 12.7, "osc_range": 0}]}, "oscillation range per image must be in (0, 360] deg"),
    ({"sweeps": [{"id": "A", "energy_keV": 12.7, "num_images": 0}]}, "at least one image"),
    ({"sweeps": [{"id": "A", "energy_keV": 12.7, "exposure_time": -1}]}, "exposure time must be in (0, 3600] s"),
    ({"sweeps": [{"id": "A", "energy_keV": 12.7, "num_images": 5}], "wedge_size": 10}, "larger than sweep 'A'"),
    ({"sweeps": [{"id": "A", "energy_keV": 12.7}], "wedge_size": 0}, "wedge size must be positive"),
    ({"sweeps": [{"id": "A"}]}, "give the energy"),
    ({"sweeps": [{"id": "A", "energy_keV": 12.7}], "prefix": "a/b"}, "path separator"),
    ({"sweeps": [{"id": "A", "energy_keV": 12.7}], "prefix": "a..b"}, "'..'"),
    ({"sweeps": [{"id": "A", "energy_keV": 12.7}], "subdir": "../up"}, "'..'"),
    ({"sweeps": [{"id": "A", "energy_keV": 12.7}], "images_per_file": 3}, "must divide the wedge size"),
    ({"sweeps": [{"id": "A", "energy_keV": 12.7, "transmission": 150}]}, "percentage"),
])
def test_refused_tasks(data, message):
    with pytest.raises(PlanError, match=re.escape(message)) as err:
        parse_task(data)
    assert "https://" not in str(err.value)


def test_beamline_limits():
    limits = BeamlineLimits(energy_keV=(5.0, 20.0), resolution_A=(1.0, 10.0), transmission=(0.0, 50.0))
    bad = {"sweeps": [{"id": "A", "energy_keV": 25.0, "resolution": 0.8, "transmission": 80}]}
    with pytest.raises(PlanError) as err:
        parse_task(bad, limits)
    msg = str(err.value)
    assert "energy 25.0000 keV is outside 5.0–20.0 keV" in msg
    assert "resolution 0.8" in msg and "transmission 80" in msg
    parse_task({"sweeps": [{"id": "A", "energy_keV": 12.0, "resolution": 2.0, "transmission": 10}]}, limits)


def test_large_plan_is_consistent():
    task = parse_task({"sweeps": [{"id": f"s{i}", "energy_keV": 12.0 + 0.1 * (i % 4), "num_images": 1000,
                                   "osc_range": 0.1, "repeat": i >= 4} for i in range(20)], "wedge_size": 7})
    p = plan(task)
    assert p.total_images == 20000 and len(p.wedges) == 20 * 143
    assert p.wedges[-1].last_global == 20000
