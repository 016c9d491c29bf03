"""The task's JSON schema and ui_schema as mxcubeweb's rjsf form and the Qt form show them.

mxcubeweb 4.791 flattens the DATA_MODEL's five groups into one schema and renders it with
``@rjsf/core`` 5.13 (``GenericTaskForm``); the Qt form reads the same schema. Left as pydantic
writes it, that form shows ~30 standard collection fields the interleaved task ignores once it
has sweeps, marks 18 of them required with no default, types ``take_dark_current`` as integer
while mxcubeweb's initial value is ``true``, renders every ``X | None`` number as an
"option 1 / option 2" selector, and carries none of the model's limits, so the browser accepts
what the server refuses. This module reshapes the schema pydantic wrote (pure dict work):

- only the task's own fields are shown: the sweeps and the task-level settings. The other
  groups keep their object but no properties; their values come from the beamline's
  ``acq_parameters``, which the UI posts with the form data (``GenericTaskForm.addToQueue``),
  and prefix/sub-directory are edited in GenericTaskForm's own fields above the schema form;
- a form needs at least one sweep (an empty list would collect hidden standard fields);
- nullable numbers are ``{"type": ["number", "null"]}``: rjsf renders one number input that
  may be left empty;
- the limits the model and the beamline enforce are JSON Schema bounds, and each bounded field's
  title states the allowed range in the words of the server's refusal.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .task import (
    ENERGY_KEV_RANGE,
    HC_KEV_A,
    MAX_ANGLE_DEG,
    MAX_DISTANCE_MM,
    MAX_EXPOSURE_S,
    MAX_IMAGES_PER_SWEEP,
    MAX_OSC_RANGE_DEG,
    MAX_RESOLUTION_A,
    MAX_SWEEPS,
    BeamlineLimits,
    Sweep,
)

__all__ = ["SHOWN", "SWEEP_FIELDS", "form_schema", "form_ui_schema"]

USER_DEF = "InterleavedUserParameters"
SWEEP_DEF = "Sweep"
SHOWN = ("sweeps", "wedge_size", "wedge_unit", "strategy", "images_per_file", "write_masters_before")
"""The task-level fields the form shows, in the form's order."""
SWEEP_FIELDS = tuple(name for name in Sweep.model_fields if name != "inverse_of")
"""A sweep row's fields in the model's order (``inverse_of`` is set on generated partners only)."""
COLUMN = "flex-column align-items-start"  # Bootstrap 5 utilities, in mxcubeweb's UI
NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.+-]*$"  # paths.check_name, without its '..' rule


def _nullable(prop: dict[str, Any]) -> dict[str, Any]:
    """``anyOf [X, null]`` (pydantic's ``X | None``) -> ``type [X, "null"]`` with X's keywords."""
    branches = prop.get("anyOf")
    if not branches or len(branches) != 2 or {"type": "null"} not in branches:
        return prop
    (inner,) = [b for b in branches if b != {"type": "null"}]
    out = {k: v for k, v in prop.items() if k != "anyOf"}
    out.update(inner)
    out["type"] = [inner["type"], "null"]
    return out


def _bounds(prop: dict[str, Any], lo: float | None, hi: float | None, *, open_lo: bool = False,
            words: str | None = None) -> None:
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        prop.pop(key, None)
    if lo is not None:
        prop["exclusiveMinimum" if open_lo else "minimum"] = lo
    if hi is not None:
        prop["maximum"] = hi
    if words:  # in the title: mxcubeweb's template prints a description twice, and rjsf's
        # error list quotes the title ("'Energy (keV): 4.0–25.0 keV' must be <= 25")
        prop["title"] = f"{prop.get('title', '')}: {words}"
        prop.pop("description", None)


def _within(model: tuple[float, float], beamline: tuple[float, float] | None) -> tuple[float, float]:
    if beamline is None:
        return model
    return max(model[0], beamline[0]), min(model[1], beamline[1])


def _sweep_row(row: dict[str, Any], limits: BeamlineLimits | None) -> dict[str, Any]:
    props = {name: _nullable(row["properties"][name]) for name in SWEEP_FIELDS}
    props["id"].update(minLength=1, maxLength=64, pattern=NAME_PATTERN, default="",
                       title="Sweep id: letters, digits and '_', '.', '+', '-'")
    props["id"].pop("description", None)
    props["inverse_beam"]["title"] = "Inverse beam (adds the sweep at omega + 180 deg)"
    props["inverse_beam"].pop("description", None)
    e_lo, e_hi = _within(ENERGY_KEV_RANGE, limits.energy_keV if limits else None)
    _bounds(props["energy_keV"], e_lo, e_hi, words=f"{e_lo}–{e_hi} keV; or give the wavelength")
    w_lo, w_hi = round(HC_KEV_A / e_hi, 4), round(HC_KEV_A / e_lo, 4)
    _bounds(props["wavelength_A"], w_lo, w_hi, words=f"{w_lo}–{w_hi} Å; or give the energy")
    for name, key in (("kappa", "kappa"), ("phi", "phi"), ("omega_start", "omega")):
        lo, hi = _within((-MAX_ANGLE_DEG, MAX_ANGLE_DEG), getattr(limits, key) if limits else None)
        _bounds(props[name], lo, hi, words=f"{lo}–{hi} deg")
    if limits is not None and not limits.has_kappa:
        _bounds(props["kappa"], 0, 0, words="0: the diffractometer has no kappa motor")
    if limits is not None and not limits.has_phi:
        _bounds(props["phi"], 0, 0, words="0: the diffractometer has no kappa_phi motor")
    _bounds(props["osc_range"], 0, MAX_OSC_RANGE_DEG, open_lo=True, words=f"(0, {MAX_OSC_RANGE_DEG:g}] deg")
    max_images = min(MAX_IMAGES_PER_SWEEP, limits.max_images) if limits else MAX_IMAGES_PER_SWEEP
    _bounds(props["num_images"], 1, max_images, words=f"at least one image, at most {max_images}")
    t_lo, t_hi = limits.exposure_time if limits else (0.0, MAX_EXPOSURE_S)
    _bounds(props["exposure_time"], max(t_lo, 0.0), min(t_hi, MAX_EXPOSURE_S), open_lo=t_lo <= 0,
            words=f"{t_lo}–{t_hi} s" if limits else f"(0, {MAX_EXPOSURE_S:g}] s")
    _bounds(props["transmission"], 0, 100, open_lo=True, words="a percentage in (0, 100]")
    r_lo, r_hi = limits.resolution_A if limits else (0.0, MAX_RESOLUTION_A)
    _bounds(props["resolution"], r_lo, r_hi, open_lo=r_lo <= 0,
            words=f"{r_lo:.4g}–{r_hi:.4g} Å; empty: keep the detector distance")
    d_lo, d_hi = limits.detector_distance_mm if limits else (0.0, MAX_DISTANCE_MM)
    _bounds(props["detector_distance"], d_lo, d_hi, open_lo=d_lo <= 0,
            words=f"{d_lo}–{d_hi} mm; empty: from the resolution, or as it is")
    for name, prop in props.items():
        prop.setdefault("title", name)
        prop.pop("description", None)
        if "default" not in prop:
            prop["default"] = None
    return {"type": "object", "title": "Sweep", "properties": props, "required": ["id"],
            "additionalProperties": False}


def form_schema(nested: dict[str, Any], limits: BeamlineLimits | None = None) -> dict[str, Any]:
    """The DATA_MODEL's ``model_json_schema()`` reshaped for the form (see the module docstring)."""
    schema = copy.deepcopy(nested)
    defs = schema.setdefault("$defs", {})
    for group, ref in schema["properties"].items():
        key = ref.get("$ref", "").rsplit("/", 1)[-1]
        if key in defs and key != USER_DEF:
            defs[key] = {"type": "object", "title": defs[key].get("title", key), "properties": {},
                         "description": "from the beamline's acquisition defaults; not shown in the form"}
    user = defs[USER_DEF]
    props = {name: _nullable(user["properties"][name]) for name in SHOWN}
    props["sweeps"].update(minItems=1, maxItems=MAX_SWEEPS, title=f"Sweeps: one row per sweep, 1 to {MAX_SWEEPS}")
    props["sweeps"].pop("description", None)
    _bounds(props["wedge_size"], 0, MAX_IMAGES_PER_SWEEP, open_lo=True,
            words="images (or degrees) per wedge, no more than the shortest sweep")
    _bounds(props["images_per_file"], 1, MAX_IMAGES_PER_SWEEP,
            words="a divisor of the wedge; empty: one data file per wedge")
    for prop in props.values():
        prop.pop("description", None)
    user["properties"], user["required"] = props, []
    defs[SWEEP_DEF] = _sweep_row(defs[SWEEP_DEF], limits)
    return schema


def form_ui_schema() -> str:
    """mxcubeweb's ``ui_schema`` (a JSON string): the model's order, the sweeps as rows."""
    return json.dumps({
        "ui:order": [*SHOWN, "*"],
        "sweeps": {"ui:options": {"orderable": False}, "ui:classNames": COLUMN,
                   # label above input: mxcubeweb's style.css puts them side by side, which
                   # does not fit a sweep's cells inside its half-width column
                   "items": {"ui:order": [*SWEEP_FIELDS, "*"], "ui:classNames": COLUMN,
                             **{name: {"ui:classNames": COLUMN} for name in SWEEP_FIELDS}}},
    })
