"""``mxcube-interleave plan`` and ``schema``: schedule without hardware, refusals with the model's message."""

import json

import jsonschema
from PIL import Image

from mxcubecore_interleave.cli import main

TASK = {"sweeps": [{"id": "peak", "energy_keV": 12.66, "num_images": 40, "osc_range": 0.5, "inverse_beam": True},
                   {"id": "remote", "energy_keV": 13.0, "num_images": 40, "osc_range": 0.5, "inverse_beam": True}],
        "wedge_size": 10, "prefix": "lyso"}


def test_plan_prints_schedule_and_writes_png(tmp_path, capsys):
    f = tmp_path / "task.json"
    f.write_text(json.dumps(TASK))
    png = tmp_path / "schedule.png"
    assert main(["plan", str(f), "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "lyso_peak_w001_1" in out and "lyso_remote_inv_w004_1" in out
    assert "16 wedges, 160 images, strategy min_motion" in out and "ratio 0.27" in out
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 400


def test_plan_json_and_strategy_override(tmp_path, capsys):
    f = tmp_path / "task.json"
    f.write_text(json.dumps(TASK))
    assert main(["plan", str(f), "--json", "--strategy", "round_robin"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["strategy"] == "round_robin"
    assert [w["sweep"] for w in out["wedges"][:4]] == ["peak", "remote", "peak_inv", "remote_inv"]
    assert out["motion_cost_s"]["min_motion"] < out["motion_cost_s"]["round_robin"]
    assert sum(w["n"] for w in out["wedges"]) == 160


def test_plan_refuses_bad_task(tmp_path, capsys):
    f = tmp_path / "task.json"
    bad = dict(TASK, prefix="../escape")
    f.write_text(json.dumps(bad))
    assert main(["plan", str(f)]) == 1
    err = capsys.readouterr().err
    assert "prefix" in err and "path separator" in err
    f.write_text("{not json")
    assert main(["plan", str(f)]) == 1
    assert "invalid interleaved task" in capsys.readouterr().err


def test_schema_is_versioned_and_validates_a_task(tmp_path, capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$id"] == "mxcube-interleaved-task/1"
    jsonschema.validate(TASK, schema)
    assert "sweeps" in schema["required"]
    f = tmp_path / "task.json"
    f.write_text(json.dumps(TASK))
    assert main(["schema", "--check", str(f)]) == 0
    assert "4 sweeps, 160 images" in capsys.readouterr().out
    f.write_text(json.dumps(dict(TASK, wedge_size=100)))
    assert main(["schema", "--check", str(f)]) == 1
    assert "larger than sweep 'peak'" in capsys.readouterr().err


def flat_queue_parameters(**kw):
    """What mxcubeweb posts for the task: one flat dict, split by the queue builder."""
    return {"prefix": "lyso", "subdir": "il", "experiment_name": None, "skip_existing_images": False,
            "take_snapshots": 0, "num_images": 6, "osc_start": 0.0, "osc_range": 0.5, "energy": 12.7,
            "transmission": 50.0, "resolution": 2.0, "first_image": 1, "kappa": 0.0, "kappa_phi": 0.0,
            "shutterless": True, "take_dark_current": False, "inverse_beam": False, "num_passes": 1,
            "offset": 0, **kw}


def test_schema_of_the_queue_model_is_versioned_and_maps_every_task_field(tmp_path, capsys):
    from mxcubecore_interleave.interleave import InterleavedTask
    from mxcubecore_interleave.queue_entries.interleaved_collection import InterleavedCollectionQueueEntry

    assert main(["schema", "--queue-model"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$id"] == "mxcube-interleaved-queue-task/1"
    data_model = InterleavedCollectionQueueEntry.DATA_MODEL.model_json_schema()
    assert {k: schema[k] for k in data_model} == data_model  # the queue's DATA_MODEL, as it is
    assert list(schema["properties"]) == ["path_parameters", "common_parameters", "collection_parameters",
                                          "user_collection_parameters", "legacy_parameters"]
    user = schema["$defs"]["InterleavedUserParameters"]["properties"]
    assert {"sweeps", "wedge_size", "wedge_unit", "strategy", "images_per_file", "write_masters_before"} <= set(user)
    mapping = schema["x-task-mapping"]
    assert set(mapping) == set(InterleavedTask.model_fields)  # every task field has a source
    for field, source in mapping.items():
        if source.startswith("user_collection_parameters."):
            assert source.split(".")[1].split(";")[0] in user, field
    f = tmp_path / "params.json"
    f.write_text(json.dumps(flat_queue_parameters(wedge_size=3, sweeps=[
        {"id": "peak", "energy_keV": 12.66, "num_images": 6, "inverse_beam": True}])))
    assert main(["schema", "--queue-model", "--check", str(f)]) == 0
    assert "2 sweeps, 12 images" in capsys.readouterr().out
    f.write_text(json.dumps(flat_queue_parameters(wedge_size=30)))  # no sweeps: one from the standard fields
    assert main(["schema", "--queue-model", "--check", str(f)]) == 1
    assert "larger than sweep 's1'" in capsys.readouterr().err
