"""The task's JSON schema and ui_schema as mxcubeweb's rjsf form and the Qt form show them.

mxcubeweb 4.791 flattens the DATA_MODEL's five groups into one schema and renders it with
``@rjsf/core`` 5.13 (``GenericTaskForm``); the Qt form reads the same schema. Left as pydantic
writes it, that form shows ~30 standard collection fields the interleaved task ignores once it
has sweeps, marks 18 of them required with no default, types ``take_dark_current`` as integer
while mxcubeweb's initial value is ``true``, renders every ``X | None`` number as an
"option 1 / option 2" selector, and carries none of the model's limits, so the browser accepts
what the server refuses. This module reshapes the schema pydantic wrote (pure dict work):

- only the task's own fields are shown: the sweeps, the task-level settings, prefix and
  sub-directory. The other standard fields stay in the schema, optional, and the ui_schema
  hides them; their values are the beamline's ``acq_parameters`` (the form's initial values),
  posted back unchanged. ``exp_time`` (for a task without sweeps) is left out;
- a form needs at least one sweep (an empty list would collect hidden standard fields);
- nullable numbers are ``{"type": ["number", "null"]}``: rjsf renders one number input that
  may be left empty;
- the limits the model and the beamline enforce are JSON Schema bounds; each bounded field's
  ``x-help`` states the allowed range in the words of the server's refusal, and the ui_schema
  shows it as ``ui:help`` (descriptions are dropped: mxcubeweb's FieldTemplate prints one twice).
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

__all__ = ["SHOWN", "SWEEP_FIELDS", "form_schema", "form_ui_schema", "hidden_fields"]

USER_DEF = "InterleavedUserParameters"
SWEEP_DEF = "Sweep"
SHOWN = ("sweeps", "wedge_size", "wedge_unit", "strategy", "orientation_change", "images_per_file",
         "write_masters_before")
"""The task-level fields the form shows, in the form's order."""
SWEEP_FIELDS = tuple(name for name in Sweep.model_fields if name != "inverse_of")
"""A sweep row's fields in the model's order (``inverse_of`` is set on generated partners only)."""
PATH_FIELDS = ("prefix", "subdir")
"""Shown too: the Qt form has no other place for them (mxcubeweb posts its schema form's values)."""
HELP = "x-help"
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


def _hidden(prop: dict[str, Any]) -> dict[str, Any]:
    """A standard field the form does not show: its title and default, any value. Its value is
    mxcubeweb's initial one, posted back as it came (``take_dark_current: true`` for an integer,
    ``shape: -1`` for a string); the server's model judges it, not the browser."""
    return {k: prop[k] for k in ("title", "default") if k in prop}


def _bounds(prop: dict[str, Any], lo: float | None, hi: float | None, *, open_lo: bool = False,
            words: str | None = None) -> None:
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        prop.pop(key, None)
    if lo is not None:
        prop["exclusiveMinimum" if open_lo else "minimum"] = lo
    if hi is not None:
        prop["maximum"] = hi
    if words:  # shown once, under the input, by the ui_schema's ui:help (form_ui_schema)
        prop[HELP] = words
        prop.pop("description", None)


def _within(model: tuple[float, float], beamline: tuple[float, float] | None) -> tuple[float, float]:
    if beamline is None:
        return model
    return max(model[0], beamline[0]), min(model[1], beamline[1])


def _sweep_row(row: dict[str, Any], limits: BeamlineLimits | None) -> dict[str, Any]:
    props = {name: _nullable(row["properties"][name]) for name in SWEEP_FIELDS}
    props["id"].update(minLength=1, maxLength=64, pattern=NAME_PATTERN, default="")
    props["id"][HELP] = "letters, digits and '_', '.', '+', '-'; used in file names"
    props["inverse_beam"][HELP] = "adds the sweep at omega + 180 deg"
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
            group_def = defs[key]
            group_def["properties"] = {name: _hidden(prop) if name not in PATH_FIELDS else prop
                                       for name, prop in group_def["properties"].items()}
            group_def["required"] = [n for n in group_def.get("required", []) if n in PATH_FIELDS]
    user = defs[USER_DEF]
    props = {name: _nullable(user["properties"][name]) for name in SHOWN}
    # at least one sweep, said with "contains" rather than minItems: rjsf and the Qt form would
    # open a minItems list with an empty row already in it (ajv: "must contain at least 1 valid item(s)")
    props["sweeps"].update(contains={"type": "object"}, maxItems=MAX_SWEEPS)
    props["sweeps"][HELP] = f"one row per sweep, 1 to {MAX_SWEEPS}; inverse beam adds a partner"
    _bounds(props["wedge_size"], 0, MAX_IMAGES_PER_SWEEP, open_lo=True,
            words="images (or degrees) per wedge, no more than the shortest sweep")
    _bounds(props["images_per_file"], 1, MAX_IMAGES_PER_SWEEP,
            words="a divisor of the wedge; empty: one data file per wedge")
    for prop in props.values():
        prop.pop("description", None)
    user["properties"], user["required"] = props, []
    defs[SWEEP_DEF] = _sweep_row(defs[SWEEP_DEF], limits)
    return schema


def hidden_fields(schema: dict[str, Any]) -> list[str]:
    """The standard fields of the five groups the form does not show (all but the task's own)."""
    names: list[str] = []
    for ref in schema["properties"].values():
        key = ref.get("$ref", "").rsplit("/", 1)[-1]
        if key != USER_DEF:
            names += [n for n in schema["$defs"][key]["properties"] if n not in PATH_FIELDS]
    return names


def form_ui_schema(schema: dict[str, Any]) -> str:
    """mxcubeweb's ``ui_schema`` (a JSON string) for :func:`form_schema`'s result: the model's
    order, each rule as ``ui:help``, the sweeps as rows, the standard fields hidden (``d-none``
    hides the label too: mxcubeweb's FieldTemplate prints the label of a ``ui:widget: hidden``
    field; listed last, their empty columns take no room)."""
    user = schema["$defs"][USER_DEF]["properties"]
    row = schema["$defs"][SWEEP_DEF]["properties"]

    def helped(prop: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        return {**extra, "ui:help": prop[HELP]} if HELP in prop else extra

    items: dict[str, Any] = {"ui:order": [*SWEEP_FIELDS, "*"], "ui:classNames": COLUMN}
    items.update({name: helped(row[name], {"ui:classNames": COLUMN}) for name in SWEEP_FIELDS})
    return json.dumps({
        "ui:order": [*SHOWN, *PATH_FIELDS, "*"],
        **{name: {"ui:widget": "hidden", "ui:classNames": "d-none"} for name in hidden_fields(schema)},
        **{name: helped(user[name], {}) for name in SHOWN if name != "sweeps"},
        # label above input: mxcubeweb's style.css puts them side by side, which does not fit
        # a sweep's cells inside its half-width column
        "sweeps": helped(user["sweeps"], {"ui:options": {"orderable": False}, "ui:classNames": COLUMN,
                                          "items": items}),
    })
