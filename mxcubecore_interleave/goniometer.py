"""Goniometer motors by role, on any mxcubecore diffractometer, and a site's centring-motor naming.

Real diffractometers share little: ``GenericDiffractometer``, ``Microdiff``, ``MD3UP``,
``EMBLMiniDiff`` have no ``set_value_motors``/``get_value_motors``/``wait_status_ready``/
``get_phase_enum`` (only mxcubecore's mockup has them), and name their motors differently (an
MD3 ``alignmenty, alignmentz, centringx, centringy``; an MD2 or the mockup ``phiy, phiz, sampx,
sampy``; ``GenericDiffractometer`` calls omega ``phi``). So motors are found by their role name
(``get_motors()``, then an attribute, then a child object) and each motor HO is moved with its
own ``set_value`` and waited for with its own ``wait_ready``: what every mxcubecore motor has.

:class:`MotorRoles` maps the centring's own names (the solver's ``phiy`` along the axis,
``phiz`` across it, ``sampx``/``sampy`` the centring table, ``omega``) to a site's motor roles,
with the table's angle to omega's zero (a table mounted at an angle, or swapped x/y, turns the
table corrections). No mxcubecore import: motors are duck-typed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CENTRING_NAMES = ("omega", "phiy", "phiz", "sampx", "sampy")
MD2_ROLES = {"omega": "omega", "phiy": "phiy", "phiz": "phiz", "sampx": "sampx", "sampy": "sampy"}
MD3_ROLES = {"omega": "omega", "phiy": "alignmenty", "phiz": "alignmentz", "sampx": "centringx",
             "sampy": "centringy"}


class MotorError(RuntimeError):
    """A motor the configuration names is not on this diffractometer, or did not move."""


@dataclass(frozen=True)
class MotorRoles:
    """The site's motor role for each centring name, and the centring table's angle.

    ``table_offset_deg``: angle from omega's zero to the table's ``sampx`` axis; the solver's
    ``(sampx, sampy)`` correction (at offset 0) is turned by it before it goes to the motors.
    """

    roles: Mapping[str, str] = field(default_factory=lambda: dict(MD2_ROLES))
    table_offset_deg: float = 0.0

    def __post_init__(self) -> None:
        roles = {**MD2_ROLES, **dict(self.roles)}
        unknown = set(self.roles) - set(CENTRING_NAMES)
        if unknown:
            raise ValueError(f"motor roles for unknown centring names {sorted(unknown)}; "
                             f"use {', '.join(CENTRING_NAMES)}")
        if len(set(roles.values())) != len(roles):
            raise ValueError(f"two centring names map to the same motor role: {roles}")
        if not math.isfinite(float(self.table_offset_deg)):
            raise ValueError("table_offset_deg must be a finite angle")
        object.__setattr__(self, "roles", roles)

    def _turn(self, x: float, y: float, sign: int) -> tuple[float, float]:
        a = math.radians(float(self.table_offset_deg)) * sign
        return x * math.cos(a) + y * math.sin(a), -x * math.sin(a) + y * math.cos(a)

    def to_site(self, values: Mapping[str, float]) -> dict[str, float]:
        """Centring-name positions (or corrections) -> the site's motor roles."""
        v = dict(values)
        if "sampx" in v and "sampy" in v and self.table_offset_deg:
            v["sampx"], v["sampy"] = self._turn(v["sampx"], v["sampy"], +1)
        return {self.roles[k]: float(x) for k, x in v.items()}

    def from_site(self, values: Mapping[str, float]) -> dict[str, float]:
        """The site's motor roles -> centring names (the inverse of :meth:`to_site`)."""
        back = {site: name for name, site in self.roles.items()}
        v = {back[k]: float(x) for k, x in values.items() if k in back}
        if "sampx" in v and "sampy" in v and self.table_offset_deg:
            v["sampx"], v["sampy"] = self._turn(v["sampx"], v["sampy"], -1)
        return v

    def site_roles(self, names: Iterable[str] = CENTRING_NAMES) -> list[str]:
        return [self.roles[n] for n in names]


def motor_roles_from(config: Any) -> MotorRoles:
    """``motor_roles`` (a mapping, or ``md2``/``md3``) and ``table_offset_deg`` of a configuration."""
    given = getattr(config, "motor_roles", None) or {}
    if isinstance(given, str):
        presets = {"md2": MD2_ROLES, "md3": MD3_ROLES}
        if given.lower() not in presets:
            raise ValueError(f"motor_roles {given!r}: give a mapping or one of {', '.join(presets)}")
        given = presets[given.lower()]
    return MotorRoles(roles=dict(given), table_offset_deg=float(getattr(config, "table_offset_deg", 0.0) or 0.0))


def _has_motor_api(obj: Any) -> bool:
    return obj is not None and callable(getattr(obj, "get_value", None)) and callable(getattr(obj, "set_value", None))


def find_motor(diffr: Any, role: str) -> Any:
    """The diffractometer's motor HO for ``role``: from ``get_motors()`` where it lists any, else
    an attribute or a child object with that role."""
    if diffr is None:
        raise MotorError("no diffractometer in the beamline configuration")
    try:
        motors = diffr.get_motors() if callable(getattr(diffr, "get_motors", None)) else None
    except Exception:
        motors = None
    if motors:  # the diffractometer's own list of the motors it really has is authoritative
        candidates = [motors.get(role)]
    else:
        candidates = [getattr(diffr, role, None)]
        try:
            if callable(getattr(diffr, "get_object_by_role", None)):
                candidates.append(diffr.get_object_by_role(role))
        except Exception:
            pass
    for m in candidates:
        if _has_motor_api(m):
            return m
    raise MotorError(f"the diffractometer {type(diffr).__name__} has no motor with role {role!r} "
                     "(check the motor roles in the configuration)")


def has_motor(diffr: Any, role: str) -> bool:
    try:
        find_motor(diffr, role)
        return True
    except MotorError:
        return False


def read_motors(diffr: Any, roles: Iterable[str]) -> dict[str, float]:
    """Each motor's own ``get_value``."""
    return {r: float(find_motor(diffr, r).get_value()) for r in roles}


def move_motors(diffr: Any, targets: Mapping[str, float], timeout: float | None) -> None:
    """Start every move (``set_value(pos, timeout=0)``: no wait), then wait for each motor."""
    motors = [(find_motor(diffr, r), r, float(v)) for r, v in targets.items()]
    for m, _, v in motors:
        m.set_value(v, timeout=0)
    for m, r, v in motors:
        try:
            m.wait_ready(timeout)
        except Exception as exc:
            raise MotorError(f"motor {r!r} did not reach {v:g} within {timeout} s: {exc}") from exc


def wait_diffractometer_ready(diffr: Any, timeout: float | None) -> None:
    """The diffractometer's own ``wait_ready`` (every HardwareObject has one; the mockup's
    ``wait_status_ready`` is not on real ones)."""
    wait = getattr(diffr, "wait_ready", None)
    if callable(wait):
        wait(timeout)


LEGACY_PHASES = {"CENTRE": "PHASE_CENTRING", "COLLECT": "PHASE_COLLECTION"}


def set_phase(diffr: Any, phase: str) -> None:
    """``CENTRE`` or ``COLLECT``, only where the diffractometer has phases: the 2.149 enum
    (``get_phase_enum``, mockup), else the legacy name (``GenericDiffractometer.PHASE_CENTRING``)."""
    enum = getattr(diffr, "get_phase_enum", None)
    if enum is not None and hasattr(enum, phase):
        diffr.set_phase(getattr(enum, phase))
        return
    legacy = getattr(diffr, LEGACY_PHASES[phase], None)
    if legacy is not None and callable(getattr(diffr, "set_phase", None)):
        diffr.set_phase(legacy)


def set_centring_phase(diffr: Any) -> None:
    set_phase(diffr, "CENTRE")


def save_centring_positions(diffr: Any) -> None:
    """Where the diffractometer keeps a centred position of its own (not on MicroDiffractometer)."""
    save = getattr(diffr, "save_centring_positions", None)
    if callable(save):
        save()
