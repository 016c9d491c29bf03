"""Motion cost: what an order of wedges costs in slow motions, so strategies can be compared.

The prices are seconds of dead time per change, configurable per beamline. Only changes count:
the first wedge's settings are free (the beamline has to get there whatever the order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol


class _Settings(Protocol):
    energy_keV: float
    kappa: float
    phi: float
    transmission: float
    resolution_key: float | None


@dataclass(frozen=True)
class MotionCostModel:
    """Seconds per change. Kappa/phi moves are priced per move plus per degree."""

    energy_change: float = 30.0
    kappa_phi_move: float = 5.0
    kappa_phi_per_deg: float = 0.02
    transmission_change: float = 0.2
    resolution_change: float = 3.0
    energy_tolerance_keV: float = 1e-4

    def step(self, a: _Settings, b: _Settings) -> float:
        """Cost of going from settings ``a`` to settings ``b``."""
        cost = 0.0
        if abs(a.energy_keV - b.energy_keV) > self.energy_tolerance_keV:
            cost += self.energy_change
        dk, dp = abs(a.kappa - b.kappa), abs(a.phi - b.phi)
        if dk > 1e-6 or dp > 1e-6:
            cost += self.kappa_phi_move + self.kappa_phi_per_deg * max(dk, dp)
        if abs(a.transmission - b.transmission) > 1e-9:
            cost += self.transmission_change
        if a.resolution_key != b.resolution_key:
            cost += self.resolution_change
        return cost


@dataclass(frozen=True)
class PlanCost:
    total_s: float
    energy_changes: int
    kappa_phi_moves: int
    steps: int


def price(settings: Iterable[_Settings], model: MotionCostModel | None = None) -> PlanCost:
    """Price a sequence of wedge settings (acquisition order)."""
    model = model or MotionCostModel()
    total, n_e, n_kp, steps = 0.0, 0, 0, 0
    prev = None
    for s in settings:
        if prev is not None:
            total += model.step(prev, s)
            if abs(prev.energy_keV - s.energy_keV) > model.energy_tolerance_keV:
                n_e += 1
            if abs(prev.kappa - s.kappa) > 1e-6 or abs(prev.phi - s.phi) > 1e-6:
                n_kp += 1
            steps += 1
        prev = s
    return PlanCost(total_s=total, energy_changes=n_e, kappa_phi_moves=n_kp, steps=steps)
