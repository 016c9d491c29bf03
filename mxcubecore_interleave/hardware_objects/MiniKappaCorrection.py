"""mxcubecore's ``MiniKappaCorrection``, configurable under mxcubecore 2.149.

mxcubecore's class reads its two axes as ``self["kappa"].direction`` and ``.position``. In 2.149
neither configuration format gives that: an XML child ``<kappa><direction>…`` is a
``HardwareObjectNode`` whose values are only reachable through ``get_property`` (its ``init``
fails with ``AttributeError: 'HardwareObjectNode' object has no attribute 'direction'``), and a
YAML file has no named child objects (``KeyError``). This subclass only hands mxcubecore's own
``init`` the two axes it asks for, read from either format; ``shift``, ``alignVector`` and the
rotations are mxcubecore's, unchanged.

XML (the keys mxcubecore's class documents)::

    <object class="mxcubecore_interleave.hardware_objects.MiniKappaCorrection">
      <kappa><direction>[0, 0.4067, -0.9135]</direction><position>[0.1, -0.3, 0.8]</position></kappa>
      <phi><direction>[0, 0, -1]</direction><position>[0, 0, 0]</position></phi>
    </object>

YAML: ``configuration: {kappa: {direction: [...], position: [...]}, phi: {...}}``.
"""

from __future__ import annotations

import ast
import math
from types import SimpleNamespace
from typing import Any

from mxcubecore.HardwareObjects.MiniKappaCorrection import MiniKappaCorrection as _MxcubeMiniKappaCorrection

AXES = ("kappa", "phi")


def _vector(value: Any, what: str) -> list[float]:
    """Three finite numbers from a list or its text (never ``eval``)."""
    try:
        v = ast.literal_eval(value) if isinstance(value, str) else value
        out = [float(x) for x in v]
    except (ValueError, TypeError, SyntaxError):
        raise ValueError(f"MiniKappaCorrection {what}: give three numbers like [0, 0, -1], got {value!r}") from None
    if len(out) != 3 or not all(math.isfinite(x) for x in out):
        raise ValueError(f"MiniKappaCorrection {what}: give three finite numbers, got {value!r}")
    return out


class MiniKappaCorrection(_MxcubeMiniKappaCorrection):
    """The kappa/phi translation correction of mxcubecore, with its axes read from XML or YAML."""

    def _axis(self, name: str) -> SimpleNamespace:
        try:
            node = super().__getitem__(name)  # an XML child object
        except (KeyError, IndexError):
            node = None
        if node is not None and hasattr(node, "get_property"):
            direction, position = node.get_property("direction"), node.get_property("position")
        else:
            given = getattr(self.config, name, None) or self.get_property(name) or {}
            direction, position = given.get("direction"), given.get("position")
        if direction is None or position is None:
            raise ValueError(f"MiniKappaCorrection: the {name} axis needs a direction and a position")
        d = _vector(direction, f"{name} direction")
        if abs(math.hypot(*d) - 1.0) > 1e-3:  # mxcubecore's rotation matrices assume a unit vector
            raise ValueError(f"MiniKappaCorrection: the {name} direction {d} is not a unit vector")
        return SimpleNamespace(direction=repr(d), position=repr(_vector(position, f"{name} position")))

    def __getitem__(self, key: Any) -> Any:
        if key in AXES:  # what mxcubecore's init asks for
            return self._axis(key)
        return super().__getitem__(key)
