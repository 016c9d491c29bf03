"""Run the plugin's brick inside a real mxcubeqt (not on PyPI; fetched by hand) and screenshot it.

    # mxcubeqt checked out OUTSIDE this repository, a venv with PyQt5 5.15.10 + this package:
    xvfb-run -a -s "-screen 0 1600x1000x24" /tmp/mxqt-venv/bin/python scripts/mxcubeqt_check.py \
        /tmp/mxcubeqt docs/img/mxcubeqt-interleaved-brick.png

What it does, with mxcubeqt's own code: puts the plugin's bricks directory on mxcubeqt's bricks
path (what ``--bricksDirs`` does), loads mxcubeqt's ``TreeBrick`` and the plugin's
``InterleavedCollectionBrick`` with mxcubeqt's ``configuration.load_brick`` (the layout-file
path) on the plugin's mockup beamline, selects a sample in the tree, types two sweeps into the
form, presses *Add to queue*, runs the queue as *Collect Queue* does, checks that the task row,
its progress and both sweep masters are there, and saves a picture of the window. The six
mxcubeqt-vs-mxcubecore-2.149 fixes (docs/enable-mxcubeqt.md) are applied at run time here, as
small shims, never by editing mxcubeqt. Prints one JSON line; exit 1 with one line on failure.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path


def shims() -> list[str]:
    """The mxcubeqt-vs-mxcubecore-2.149 fixes this run needs, as run-time shims (names returned)."""
    from mxcubecore.model import queue_model_objects as qmo

    applied = []
    if not hasattr(qmo, "XrayCentering"):  # queue_item.py:445 names it in MODEL_VIEW_MAPPINGS
        qmo.XrayCentering = type("XrayCentering", (qmo.TaskNode,), {})
        applied.append("queue_model_objects.XrayCentering")
    return applied


def beamline_shims(beamline) -> list[str]:
    """The fixes that need the loaded beamline (names returned)."""
    applied = []
    view = type(beamline.sample_view)
    if not hasattr(view, "set_cursor_busy"):  # dc_tree_widget.py:1048/1059/1065 around a collect
        view.set_cursor_busy = lambda self, busy: None
        applied.append("sample_view.set_cursor_busy")
    return applied


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: mxcubeqt_check.py MXCUBEQT_CHECKOUT OUT.png", file=sys.stderr)
        return 1
    checkout, out = Path(argv[1]).resolve(), Path(argv[2]).resolve()
    sys.path.insert(0, str(checkout))
    import mxcubeqt  # gevent.monkey.patch_all(thread=False), as mxcubeqt starts
    import logging

    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("PyQt5").setLevel(logging.WARNING)
    from mxcubeqt.utils import qt_import

    app = qt_import.QApplication.instance() or qt_import.QApplication([])  # before any icon
    applied = shims()
    from mxcubeqt import configuration
    from mxcubeqt.base_components import BaseWidget
    from mxcubeqt.utils import queue_item

    from mxcubecore_interleave.qt.mxcubeqt_brick import BRICKS_DIR
    from mxcubecore_interleave.testing import load_beamline, wait_until

    data = tempfile.mkdtemp(prefix="mxcubeqt-check-")
    beamline = load_beamline(data_root=data)
    applied += beamline_shims(beamline)
    mxcubeqt.add_custom_bricks_dirs([str(BRICKS_DIR)])  # what --bricksDirs does
    # the layout: docs/enable-mxcubeqt.md's brick entry and tree_brick connection, loaded by
    # mxcubeqt's Configuration (load_brick + the brick's properties), connected by its rule
    config = configuration.Configuration(layout_from_docs())
    tree = config.bricks["tree_brick"]["brick"]
    brick = config.bricks["interleaved_collection_brick"]["brick"]
    for b in (tree, brick):
        if type(b).__name__ == "NullBrick":
            raise RuntimeError(f"mxcubeqt could not load {b.objectName()} (see the log above)")
    for connection in config.bricks["tree_brick"]["connections"]:  # gui_supervisor's make_connections
        receiver = config.bricks[connection["receiver"]]["brick"]
        getattr(tree, connection["signal"]).connect(getattr(receiver, connection["slot"]))
    window = qt_import.QWidget()
    layout = qt_import.QHBoxLayout(window)
    layout.addWidget(tree, 2)
    layout.addWidget(brick, 3)
    window.resize(1600, 1000)
    window.show()
    BaseWidget.set_run_mode(True)  # mxcubeqt's run mode: each brick's run()
    tree.logged_in(True)  # what ProposalBrick's loggedIn does: the free-pin ("manually mounted") sample
    pump(app, 0.5)

    # the user: select the sample in the tree, two sweeps in the form, Add to queue
    view = tree.dc_tree_widget.sample_tree_widget
    sample_row = next(it for it in rows(view) if isinstance(it, queue_item.SampleQueueItem))
    view.clearSelection()
    sample_row.setSelected(True)
    pump(app, 0.3)
    if not brick.selected:
        raise RuntimeError("the tree's selection_changed did not reach the brick")
    form = brick.form
    if form is None:
        raise RuntimeError(f"the brick shows no form: {brick.status.text()}")
    table = form.table("sweeps")
    table.add_row({"id": "peak", "energy_keV": 12.66, "num_images": 4, "osc_range": 0.5, "exposure_time": 0.001})
    table.add_row({"id": "remote", "energy_keV": 13.0, "num_images": 4, "osc_range": 0.5, "exposure_time": 0.001,
                   "inverse_beam": True})
    form.field("wedge_size").setValue(2)
    brick.add_button.click()
    pump(app, 0.5)
    if len(brick.queued) != 1:
        raise RuntimeError(f"not queued: {brick.status.text()} {form.errors()}")
    model, entry = beamline.queue_manager.get_entry(brick.queued[0])
    task_row = next(it for it in rows(view) if it.get_model() is model)
    group_row = task_row.parent()
    result = {"mxcubeqt": mxcubeqt_commit(checkout), "shims": applied,
              "task_row": [task_row.text(0), type(task_row).__name__],
              "group_row": group_row.text(0), "entry": type(entry).__name__}

    # Collect Queue: mxcubeqt's own button, then Continue in its confirmation dialog
    tree.dc_tree_widget.collect_button.click()
    pump(app, 0.5)
    dialog = tree.dc_tree_widget.confirm_dialog
    if dialog.isVisible():
        dialog.conf_dialog_layout.continue_button.click()
        pump(app, 0.5)
    if not beamline.queue_manager.is_executing():
        result["collect"] = "Collect Queue did not start the queue; queue_manager.execute()"
        beamline.queue_manager.execute()
    done = wait_until(lambda: (pump(app, 0.05) or True) and not beamline.queue_manager.is_executing(), 300)
    pump(app, 0.5)
    result.update({
        "finished": bool(done), "executed": model.is_executed(),
        "progress": task_row.text(1), "progress_fits": view.columnWidth(1) >= view.fontMetrics().horizontalAdvance(task_row.text(1)),
        "sweep_masters": sorted(Path(p).name for p in model.sweep_masters),
    })
    window.raise_()
    pump(app, 0.5)
    if not window.grab().save(str(out)):
        raise RuntimeError(f"could not write {out}")
    result["screenshot"] = str(out)
    print(json.dumps(result))
    ok = done and model.is_executed() and len(model.sweep_masters) == 3  # peak, remote, remote_inv
    return 0 if ok else 1


def layout_from_docs() -> list[dict]:
    """A one-window layout with mxcubeqt's TreeBrick and the docs' brick entry and connection."""
    import re

    from ruamel.yaml import YAML

    doc = (Path(__file__).resolve().parents[1] / "docs" / "enable-mxcubeqt.md").read_text()
    section = doc.split("### 2. Place it in the GUI layout file", 1)[1].split("\n### ", 1)[0]
    entry_text, connection_text = re.findall(r"```yaml\n(.*?)```", section, re.S)
    yaml = YAML(typ="safe", pure=True)
    (entry,) = yaml.load(entry_text)
    connections = yaml.load(connection_text)
    tree = {"brick": {"class": "TreeBrick", "name": "tree_brick"}, "type": "tree_brick",
            "name": "tree_brick", "properties": [], "children": [], "connections": connections}
    box = {"type": "hbox", "name": "hbox0", "properties": [], "connections": [], "children": [tree, entry]}
    return [{"type": "window", "name": "mxCuBE", "properties": [], "connections": [], "children": [box]}]


def pump(app, seconds: float) -> None:
    """Qt and gevent both turn, as mxcubeqt's own loop does (do_gevent on a timer)."""
    import gevent

    end = time.monotonic() + seconds
    while True:
        app.processEvents()
        gevent.sleep(0.01)
        if time.monotonic() >= end:
            return


def rows(view):
    from mxcubeqt.utils import qt_import

    it = qt_import.QTreeWidgetItemIterator(view)
    while it.value():
        yield it.value()
        it += 1


def mxcubeqt_commit(checkout: Path) -> str:
    import subprocess

    out = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as exc:  # one line, as the project's tools do
        print(f"mxcubeqt check failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
