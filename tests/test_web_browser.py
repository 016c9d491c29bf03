"""mxcubeweb's task form for the interleaved collection, in headless Chromium.

The schema and ui_schema come from mxcubeweb 4.791's own ``GET /queue/available_tasks``; the
page (tests/browser/src) renders them with the @rjsf packages and versions mxcubeweb's
``ui/package.json`` pins, GenericTaskForm's templates re-written, bundled with esbuild and driven
by playwright-core (tests/browser/drive.mjs): a user adds two sweeps at two energies with
inverse beam, the form validates and builds the parameters as ``GenericTaskForm.addToQueue``
does; this test posts them to mxcubeweb's queue API, runs the queue and checks the files. A bad
value is then refused in the browser with the words of the server's refusal.

Chromium and the npm packages are installed by ``make test`` (scripts/browser_deps.sh). Without
them the test fails when run as root or in CI (``CI`` set), and is skipped otherwise.
``UPDATE_SCREENSHOTS=1`` copies the filled form and the refusal to docs/img/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("mxcubeweb")

from .test_interleave_entry import check_files_match_record  # noqa: E402
from .test_web_app import SAMPLE_ID, WebSession, web  # noqa: E402,F401 (fixture)
from .test_web_interleaved import TASK, _queued_tasks, _record_path, _run  # noqa: E402

pytestmark = [pytest.mark.web, pytest.mark.beamline]

ROOT = Path(__file__).resolve().parents[1]
BROWSER_DIR = ROOT / "tests" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
IMG = ROOT / "docs" / "img"


def _browser_or_fail() -> None:
    missing = [what for what, ok in (
        (CHROMIUM, Path(CHROMIUM).exists()),
        ("node", shutil.which("node") is not None),
        ("tests/browser/node_modules (npm ci)", (BROWSER_DIR / "node_modules" / "@rjsf" / "core").is_dir()),
    ) if not ok]
    if not missing:
        return
    message = f"browser test needs {', '.join(missing)}: run scripts/browser_deps.sh (make test does)"
    if os.environ.get("CI") or os.geteuid() == 0:
        pytest.fail(message)
    pytest.skip(message)


def _sample(task: dict) -> list[dict]:
    return [{"sampleID": SAMPLE_ID, "sampleName": "crystal1", "location": "Manual", "type": "Sample",
             "checked": True, "tasks": [task]}]


def _drive(web: WebSession, tmp_path: Path) -> dict:
    available = web.get("/queue/available_tasks").json[TASK]
    # taskData as the UI holds it for a new task on the hand-mounted sample: the task's
    # acq_parameters, the name, and the prefix and sub-directory of the form's own fields
    parameters = {**available["acq_parameters"], "name": available["name"], "prefix": "lyso",
                  "subdir": "web", "selection": [], "shape": -1}
    page_input = {"type": TASK, "name": available["name"], "schema": available["schema"],
                  "ui_schema": available["ui_schema"], "parameters": parameters,
                  "sampleID": SAMPLE_ID, "pointID": -1}
    (tmp_path / "task.json").write_text(json.dumps(page_input))
    out = tmp_path / "browser"
    result = subprocess.run(
        ["node", str(BROWSER_DIR / "drive.mjs"), str(tmp_path / "task.json"), str(out)],
        capture_output=True, text=True, timeout=150, env={**os.environ, "CHROMIUM": CHROMIUM})
    assert result.returncode == 0, result.stdout + result.stderr
    if os.environ.get("UPDATE_SCREENSHOTS"):  # docs/img's pictures, refreshed on request only
        for name in ("web-form-filled.png", "web-form-refused.png"):
            shutil.copyfile(out / name, IMG / name)
    return json.loads((out / "result.json").read_text())


def test_the_form_in_chromium_queues_and_collects_and_refuses_as_the_server_does(web: WebSession, tmp_path):
    _browser_or_fail()
    web.login_and_select_session()
    result = _drive(web, tmp_path)

    # with mxcubeweb's initial values as defaults the form opens with no sweep row, and ajv's only
    # complaint is the missing sweep: none about a standard field or its type
    assert result["initial_rows"] == 0 and result["rows"] == 2
    assert result["rendered_errors"]["errors"] == ["'Sweeps' must contain at least 1 valid item(s)"], \
        result["rendered_errors"]
    assert result["labels"]["root_sweeps_0_num_images"].startswith("Number of images")
    task = result["submitted"]
    assert task is not None, f"the form refused the filled task: {result['refused']}"
    sweeps = task["parameters"]["sweeps"]
    assert [(s["id"], s["energy_keV"], s["inverse_beam"]) for s in sweeps] == [
        ("peak", 12.66, True), ("remote", 13.0, True)]
    assert "inverse_of" not in sweeps[0], "the form shows and posts no bookkeeping field"

    response = web.post("/queue/", _sample(task))
    assert response.status_code == 200, response.data
    assert response.json["addResults"][0]["success"] is True, response.json
    (queued,) = _queued_tasks(web)
    assert queued["type"] == TASK
    _run(web)
    rec, frames = check_files_match_record(_record_path())
    assert rec.status == "completed" and frames == 16
    assert sorted(s.id for s in rec.sweeps) == ["peak", "peak_inv", "remote", "remote_inv"]
    assert all(s.master for s in rec.sweeps)

    # the refusals: the browser's errors sit under the field whose help line states the rule, in
    # the words of the server's own refusal of the same value
    refused = result["refusal"]
    assert refused["submitted"] is None and refused["errors"], "the browser did not send the bad task"
    for field, value in (("num_images", 0), ("energy_keV", 40.0)):
        key = f"root_sweeps_0_{field}"
        assert refused["field_errors"][key], f"no error shown under {field}"
        # the rule under the field, e.g. "at least one image" or "5.0–20.0 keV"
        server_words = refused["helps"][key].split(",")[0].split(";")[0].lower()
        assert server_words in ("at least one image", "5.0–20.0 kev"), refused["helps"][key]
        bad = json.loads(json.dumps(task))
        bad["parameters"]["sweeps"][0][field] = value
        answer = web.post("/queue/", _sample(bad)).json["addResults"][0]
        assert answer["success"] is False
        assert server_words in answer["error"].lower(), answer["error"]
