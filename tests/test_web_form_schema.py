"""The form schema mxcubeweb 4.791 builds for the task, judged by a JSON Schema validator.

The schema is flattened as mxcubeweb's ``Queue.get_task_schema`` does (its own code, called
with the task's DATA_MODEL) and checked with ``jsonschema`` (Draft 2020-12, the dialect ajv 8
applies in the browser): mxcubeweb's initial values validate, and values the server's model
refuses are refused by the schema too. The same schema in Chromium: tests/test_web_browser.py.
"""

from __future__ import annotations

import json

import jsonschema
import pytest

pytest.importorskip("mxcubeweb")

from mxcubeweb.core.components.queue import Queue  # noqa: E402

from mxcubecore_interleave.interleave.task import BeamlineLimits  # noqa: E402
from mxcubecore_interleave.queue_entries.interleaved_collection import (  # noqa: E402
    InterleavedCollectionTaskParameters as Model,
)

# mxcubeweb's acq_parameters for a task (the form's initial values), as the mockup answers them
INITIAL = {"prefix": "lyso", "subdir": "web", "num_images": 1, "osc_range": 0.1, "osc_start": 0.0,
           "energy": 12.7, "transmission": 100.0, "resolution": 1.8, "first_image": 1, "kappa": 0.0,
           "kappa_phi": 0.0, "shutterless": True, "take_dark_current": True, "inverse_beam": False,
           "skip_existing_images": False, "take_snapshots": 4, "num_passes": 1, "offset": 0,
           "shape": -1, "selection": [], "sweeps": []}
SWEEP = {"id": "peak", "energy_keV": 12.66, "num_images": 4, "osc_range": 0.5, "exposure_time": 0.01,
         "inverse_beam": True}


@pytest.fixture(scope="module")
def schema() -> dict:
    flat = Queue.get_task_schema(None, Model)
    jsonschema.Draft202012Validator.check_schema(flat)
    return flat


def _errors(schema: dict, values: dict) -> list[str]:
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(values)]


def _server(values: dict) -> None:
    """The model as mxcubeweb's queue route calls it (it hands ``shape`` on as a string)."""
    values = {**values, "shape": str(values["shape"])}
    Model(**{group: values for group in Model.model_fields})


def _values(**sweep) -> dict:
    return {**INITIAL, "wedge_size": 2, "sweeps": [{**SWEEP, **sweep}]}


def test_initial_values_validate_but_for_the_missing_sweep(schema):
    assert _errors(schema, INITIAL) == ["[] does not contain items matching the given schema"]
    assert _errors(schema, _values()) == []
    _server(_values())  # and the server agrees


@pytest.mark.parametrize(("sweep", "server_words"), [
    ({"num_images": 0}, "at least one image"),
    ({"osc_range": 0}, "oscillation range"),
    ({"exposure_time": -1}, "exposure time"),
    ({"energy_keV": 400.0}, "keV"),
    ({"transmission": 0}, "transmission"),
    ({"id": "../x"}, "sweep id"),
    ({"kappa": 5000.0}, "kappa"),
])
def test_what_the_model_refuses_the_schema_refuses(schema, sweep, server_words):
    values = _values(**sweep)
    assert _errors(schema, values), f"the schema accepts {sweep}"
    with pytest.raises(ValueError, match=server_words):
        _server(values)


def test_the_beamline_limits_are_bounds_and_help_lines():
    limits = BeamlineLimits(energy_keV=(5.0, 20.0), exposure_time=(0.001, 10.0))
    from mxcubecore_interleave.interleave.form_schema import form_schema, form_ui_schema

    nested = form_schema(Model.__base__.model_json_schema.__func__(Model), limits)
    row = nested["$defs"]["Sweep"]["properties"]
    assert (row["energy_keV"]["minimum"], row["energy_keV"]["maximum"]) == (5.0, 20.0)
    assert row["exposure_time"]["maximum"] == 10.0
    ui = json.loads(form_ui_schema(nested))
    assert ui["sweeps"]["items"]["energy_keV"]["ui:help"].startswith("5.0–20.0 keV")
    assert list(row) == ui["sweeps"]["items"]["ui:order"][:-1], "the model's order"
