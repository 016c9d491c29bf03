"""Pinned behaviour of interleave/orientation.py: which wedge needs the sample brought back, and how.

Pure and fast (no beamline): the mutation run of the module uses this file.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxcubecore_interleave.interleave.orientation import (
    ORIENTATION_POLICIES,
    TOLERANCE_DEG,
    OrientationStep,
    OrientationTracker,
    count_new_orientations,
    same_orientation,
)


def test_the_policies_and_the_tolerance():
    assert ORIENTATION_POLICIES == ("recentre", "correct", "none")
    assert TOLERANCE_DEG == 1e-3


@pytest.mark.parametrize("a, b, same", [
    ((0.0, 0.0), (0.0, 0.0), True),
    ((0.0, 0.0), (0.001, 0.0), True),  # at the edge, kappa
    ((0.0, 0.0), (0.0, 0.001), True),  # at the edge, phi
    ((0.0, 0.0), (-0.001, -0.001), True),
    ((0.0, 0.0), (0.0011, 0.0), False),  # beyond, kappa only
    ((0.0, 0.0), (0.0, 0.0011), False),  # beyond, phi only
    ((0.0, 0.0), (0.0, -0.0011), False),
    ((0.0, 0.0), (-0.0011, 0.0), False),
    ((30.0, 90.0), (30.0, 90.0), True),
    ((30.0, 90.0), (-30.0, 90.0), False),  # not the magnitude: the angle
    ((30.0, 90.0), (30.0, -90.0), False),
    ((30.0, 90.0), (90.0, 30.0), False),  # kappa and phi are not interchangeable
])
def test_same_orientation_at_and_beyond_the_tolerance(a, b, same):
    assert same_orientation(a, b) is same
    assert same_orientation(b, a) is same


def test_same_orientation_takes_another_tolerance():
    assert same_orientation((0.0, 0.0), (0.5, 0.0), tol=0.5)
    assert not same_orientation((0.0, 0.0), (0.51, 0.0), tol=0.5)
    assert not same_orientation((0.0, 0.0), (0.0, 0.0005), tol=0.0)


def test_start_keeps_floats_of_the_reference_and_the_translations():
    t = OrientationTracker.start("recentre", (10, 20), {"x": 1, "y": 2.5})
    assert t.policy == "recentre" and t.current == (10.0, 20.0)
    assert all(type(c) is float for c in t.current)
    assert t.known == {(10.0, 20.0): {"x": 1.0, "y": 2.5}}
    assert all(type(v) is float for v in t.known[(10.0, 20.0)].values())


def test_the_translations_are_copied_not_shared():
    motors = {"x": 1.0}
    t = OrientationTracker.start("recentre", (0, 0), motors)
    motors["x"] = 9.0
    assert t.known[(0.0, 0.0)] == {"x": 1.0}


def test_no_step_at_the_current_orientation_within_the_tolerance():
    t = OrientationTracker.start("recentre", (0.0, 0.0), {"x": 1.0})
    assert t.step((0.0, 0.0)) is None
    assert t.step((0.0005, -0.0005)) is None
    assert t.step((0.002, 0.0)) is not None


def test_recentre_new_then_stored_then_none():
    t = OrientationTracker.start("recentre", (0.0, 0.0), {"x": 1.0, "y": 2.0})
    s = t.step((30, 0))
    assert s == OrientationStep((0.0, 0.0), (30.0, 0.0), "new", None)
    assert type(s.to[0]) is float and type(s.to[1]) is float
    t.done(s, {"x": 5, "y": 6})
    assert t.current == (30.0, 0.0)
    assert t.known == {(0.0, 0.0): {"x": 1.0, "y": 2.0}, (30.0, 0.0): {"x": 5.0, "y": 6.0}}
    assert all(type(v) is float for v in t.known[(30.0, 0.0)].values())
    back = t.step((0.0, 0.0))  # visited: move back to what was found there
    assert back == OrientationStep((30.0, 0.0), (0.0, 0.0), "stored", {"x": 1.0, "y": 2.0})
    back.translations["x"] = 99.0  # a copy: the tracker's own values are not changed through it
    assert t.known[(0.0, 0.0)]["x"] == 1.0
    t.done(back, {"x": 1.1, "y": 2.1})  # a move back does not overwrite what was found first
    assert t.current == (0.0, 0.0)
    assert t.known[(0.0, 0.0)] == {"x": 1.0, "y": 2.0}
    again = t.step((30.0005, 0.0))  # within the tolerance of a visited orientation: stored
    assert again.method == "stored" and again.translations == {"x": 5.0, "y": 6.0}


def test_correct_is_new_then_stored_like_recentre():
    t = OrientationTracker.start("correct", (0.0, 0.0), {"x": 1.0})
    s = t.step((0.0, 90.0))
    assert s.method == "new" and s.translations is None
    t.done(s, {"x": 3.0})
    assert t.step((0.0, 0.0)).method == "stored"


def test_policy_none_never_recentres_and_remembers_nothing():
    t = OrientationTracker.start("none", (0.0, 0.0), {"x": 1.0})
    s = t.step((30.0, 0.0))
    assert s == OrientationStep((0.0, 0.0), (30.0, 0.0), "none", None)
    t.done(s, {"x": 5.0})
    assert t.current == (30.0, 0.0)
    assert t.known == {(0.0, 0.0): {"x": 1.0}}  # nothing learnt from a wedge never centred
    # back at the reference: still "none" (not "stored"), the policy says do nothing
    assert t.step((0.0, 0.0)) == OrientationStep((30.0, 0.0), (0.0, 0.0), "none", None)


def test_known_matches_within_the_tolerance_and_only_then():
    t = OrientationTracker.start("recentre", (0.0, 0.0), {"x": 1.0})
    t.done(t.step((30.0, 0.0)), {"x": 2.0})
    assert t._known((30.0008, -0.0008)) == {"x": 2.0}
    assert t._known((30.0012, 0.0)) is None
    assert t._known((0.0, 0.0)) == {"x": 1.0}
    assert t._known((60.0, 0.0)) is None


def test_count_new_orientations_exact():
    ref = (0.0, 0.0)
    assert count_new_orientations([], ref) == 0
    assert count_new_orientations([ref, ref], ref) == 0
    assert count_new_orientations([(0.0005, 0.0)], ref) == 0  # within the tolerance
    assert count_new_orientations([(0.002, 0.0)], ref) == 1
    assert count_new_orientations([(30, 0), (30, 0), (0, 0), (30, 90), (30, 0.0004)], ref) == 2
    assert count_new_orientations([(30, 0), (60, 0), (90, 0)], ref) == 3
    assert count_new_orientations([(30, 0)], (30, 0)) == 0


orientations = st.tuples(st.sampled_from([0.0, 30.0, 60.0]), st.sampled_from([0.0, 90.0, 180.0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(orientations, max_size=12), orientations)
def test_a_run_centres_once_per_new_orientation_whatever_the_order(order, ref):
    """The tracker, walked along any order, asks for as many "new" steps as count_new_orientations
    says: the distinct orientations other than the reference."""
    t = OrientationTracker.start("recentre", ref, {"x": 0.0})
    new = 0
    for k, o in enumerate(order):
        s = t.step(o)
        if s is None:
            assert t.current == o
            continue
        assert s.from_ == t.current and s.to == o
        new += s.method == "new"
        t.done(s, {"x": float(k)})
    expected = len(set(order) - {ref})
    assert new == count_new_orientations(order, ref) == expected
