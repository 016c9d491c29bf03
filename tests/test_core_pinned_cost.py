"""Motion cost pinned as numbers: each price, each default, each threshold, each counter.

The expected values are written out from the cost rules in the docstring of
``interleave/cost.py`` (a change is priced once; kappa/phi per move plus per degree of the larger
of the two rotations), not read back from the code.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxcubecore_interleave.interleave import MotionCostModel
from mxcubecore_interleave.interleave.cost import PlanCost, price


def S(energy=12.0, kappa=0.0, phi=0.0, transmission=100.0, resolution=None):
    return SimpleNamespace(energy_keV=energy, kappa=kappa, phi=phi, transmission=transmission,
                           resolution_key=resolution)


DEFAULT = MotionCostModel()


def test_default_prices_are_the_documented_seconds():
    assert (DEFAULT.energy_change, DEFAULT.kappa_phi_move, DEFAULT.kappa_phi_per_deg, DEFAULT.transmission_change,
            DEFAULT.resolution_change, DEFAULT.energy_tolerance_keV) == (30.0, 5.0, 0.02, 0.2, 3.0, 1e-4)


@pytest.mark.parametrize("b, seconds", [
    (S(), 0.0),                                    # nothing changes: free
    (S(energy=13.0), 30.0),                        # energy alone
    (S(transmission=50.0), 0.2),                   # transmission alone
    (S(resolution=2.0), 3.0),                      # resolution (or distance) alone
    (S(kappa=10.0), 5.0 + 0.02 * 10.0),            # kappa alone
    (S(phi=40.0), 5.0 + 0.02 * 40.0),              # phi alone
    (S(kappa=10.0, phi=40.0), 5.0 + 0.02 * 40.0),  # both rotate at once: the larger one counts, one move
    (S(kappa=-40.0, phi=10.0), 5.0 + 0.02 * 40.0),  # a negative move is as long as a positive one
    (S(energy=13.0, kappa=10.0, phi=5.0, transmission=50.0, resolution=2.0), 30.0 + 5.2 + 0.2 + 3.0),
])
def test_each_default_price(b, seconds):
    assert DEFAULT.step(S(), b) == pytest.approx(seconds, abs=1e-12)
    assert DEFAULT.step(b, S()) == pytest.approx(seconds, abs=1e-12)  # the same both ways


def test_custom_prices_are_used_each_on_its_own_change():
    m = MotionCostModel(energy_change=7.0, kappa_phi_move=1.5, kappa_phi_per_deg=0.5, transmission_change=11.0,
                        resolution_change=13.0)
    assert m.step(S(), S(energy=13.0)) == 7.0
    assert m.step(S(), S(kappa=4.0, phi=2.0)) == 1.5 + 0.5 * 4.0
    assert m.step(S(), S(transmission=1.0)) == 11.0
    assert m.step(S(), S(resolution=-200.0)) == 13.0
    assert m.step(S(resolution=2.0), S(resolution=None)) == 13.0


def test_thresholds_a_change_at_the_tolerance_is_free():
    # exactly representable differences at and just beyond each tolerance
    m = MotionCostModel(energy_tolerance_keV=0.25)
    assert m.step(S(energy=1.0), S(energy=1.25)) == 0.0
    assert m.step(S(energy=1.0), S(energy=1.5)) == 30.0
    assert DEFAULT.step(S(energy=12.0), S(energy=12.0 + 5e-5)) == 0.0
    assert DEFAULT.step(S(energy=12.0), S(energy=12.0 + 2e-4)) == 30.0
    assert DEFAULT.step(S(kappa=0.0), S(kappa=5e-7)) == 0.0
    assert DEFAULT.step(S(kappa=0.0), S(kappa=2e-6)) == pytest.approx(5.0, abs=1e-6)
    assert DEFAULT.step(S(phi=0.0), S(phi=5e-7)) == 0.0
    assert DEFAULT.step(S(phi=0.0), S(phi=0.5)) == pytest.approx(5.01)
    assert DEFAULT.step(S(kappa=0.0), S(kappa=0.5)) == pytest.approx(5.01)
    assert DEFAULT.step(S(transmission=50.0), S(transmission=50.0 + 5e-10)) == 0.0
    assert DEFAULT.step(S(transmission=50.0), S(transmission=50.5)) == pytest.approx(0.2)
    assert DEFAULT.step(S(transmission=50.0), S(transmission=49.5)) == pytest.approx(0.2)


def test_a_difference_exactly_at_a_tolerance_is_no_change():
    """The tolerances are inclusive: |a - b| equal to one (exact in binary here) costs nothing."""
    assert DEFAULT.step(S(energy=0.0), S(energy=1e-4)) == 0.0
    assert DEFAULT.step(S(kappa=0.0), S(kappa=1e-6)) == 0.0
    assert DEFAULT.step(S(phi=0.0), S(phi=1e-6)) == 0.0
    assert DEFAULT.step(S(transmission=0.0), S(transmission=1e-9)) == 0.0
    at_tol = price([S(energy=0.0), S(energy=1e-4, kappa=1e-6), S(energy=1e-4, kappa=1e-6, phi=1e-6)])
    assert (at_tol.total_s, at_tol.energy_changes, at_tol.kappa_phi_moves, at_tol.steps) == (0.0, 0, 0, 2)


def test_price_of_an_empty_or_single_order_is_zero():
    assert price([]) == PlanCost(total_s=0.0, energy_changes=0, kappa_phi_moves=0, steps=0)
    assert price([S(energy=13.0, kappa=30.0)]) == PlanCost(0.0, 0, 0, 0)


def test_price_counts_every_change_and_sums_every_step():
    seq = [S(), S(energy=13.0), S(energy=13.0, kappa=10.0), S(energy=13.0, kappa=10.0, phi=20.0),
           S(energy=13.0, kappa=10.0, phi=20.0, transmission=10.0), S(energy=12.0, resolution=2.0)]
    # steps: energy; kappa 10; phi 20; transmission; energy + kappa 10/phi 20 + transmission + resolution
    want = 30.0 + (5.0 + 0.2) + (5.0 + 0.4) + 0.2 + (30.0 + 5.4 + 0.2 + 3.0)
    got = price(seq)
    assert got.total_s == pytest.approx(want, abs=1e-12)
    assert (got.energy_changes, got.kappa_phi_moves, got.steps) == (2, 3, 5)


def test_price_counts_kappa_alone_and_phi_alone_as_moves():
    assert price([S(), S(kappa=1.0)]).kappa_phi_moves == 1
    assert price([S(), S(phi=1.0)]).kappa_phi_moves == 1
    assert price([S(kappa=1.0, phi=2.0), S(kappa=1.0, phi=2.0)]).kappa_phi_moves == 0
    assert price([S(kappa=5.0), S(kappa=-5.0)]).kappa_phi_moves == 1
    assert price([S(energy=12.0), S(energy=12.0 + 5e-5)]).energy_changes == 0
    assert price([S(energy=12.0), S(energy=12.0 + 2e-4)]).energy_changes == 1


def test_price_uses_the_given_model_and_the_default_without_one():
    seq = [S(), S(energy=13.0), S(energy=13.0, resolution=2.0)]
    assert price(seq).total_s == pytest.approx(33.0)
    assert price(seq, MotionCostModel(energy_change=1.0, resolution_change=2.0)).total_s == pytest.approx(3.0)
    tol = MotionCostModel(energy_tolerance_keV=2.0)
    assert price(seq, tol).energy_changes == 0 and price(seq, tol).total_s == pytest.approx(3.0)


values = st.sampled_from([0.0, 0.5, 30.0, -12.0])
settings_st = st.builds(S, energy=st.sampled_from([12.0, 12.7, 13.0]), kappa=values, phi=values,
                        transmission=st.sampled_from([100.0, 50.0]), resolution=st.sampled_from([None, 2.0, -200.0]))


@settings(max_examples=200, deadline=None)
@given(st.lists(settings_st, max_size=8))
def test_price_is_the_sum_of_steps_and_counts_are_the_changes(seq):
    got = price(seq)
    pairs = list(zip(seq, seq[1:]))
    assert got.steps == len(pairs)
    assert got.total_s == pytest.approx(sum(DEFAULT.step(a, b) for a, b in pairs))
    assert got.energy_changes == sum(a.energy_keV != b.energy_keV for a, b in pairs)
    assert got.kappa_phi_moves == sum((a.kappa, a.phi) != (b.kappa, b.phi) for a, b in pairs)


@settings(max_examples=200, deadline=None)
@given(settings_st, settings_st, settings_st)
def test_step_is_symmetric_and_obeys_the_triangle_rule(a, b, c):
    """A detour never costs less than going straight (what min_motion's grouping relies on)."""
    assert DEFAULT.step(a, b) == pytest.approx(DEFAULT.step(b, a))
    assert DEFAULT.step(a, a) == 0.0
    assert DEFAULT.step(a, c) <= DEFAULT.step(a, b) + DEFAULT.step(b, c) + 1e-9
