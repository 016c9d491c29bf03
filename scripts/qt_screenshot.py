"""Render a plugin task's Qt form (TaskForm) offscreen and save it as a PNG (for docs/img).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/qt_screenshot.py docs/img/qt-interleaved-form.png
"""

from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from gevent import monkey  # noqa: E402

monkey.patch_all(thread=False)


def main(argv: list[str]) -> int:
    out = argv[1] if len(argv) > 1 else "qt-interleaved-form.png"
    task = argv[2] if len(argv) > 2 else "interleaved_collection"
    from qtpy.QtWidgets import QApplication

    from mxcubecore_interleave.qt.task_form import TaskForm
    from mxcubecore_interleave.testing import load_beamline

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as data:
        beamline = load_beamline(data_root=data)
        values = {"prefix": "lyso", "subdir": "interleaved"}
        if task == "interleaved_collection":
            values["sweeps"] = [
                {"id": "peak", "energy_keV": 12.66, "omega_start": 0.0, "osc_range": 0.1, "num_images": 1800},
                {"id": "remote", "energy_keV": 12.9, "omega_start": 0.0, "osc_range": 0.1, "num_images": 1800,
                 "inverse_beam": True},
            ]
        form = TaskForm(task, beamline, values)
        form.resize(1180, 980)
        form.show()
        app.processEvents()
        form.validate() if hasattr(form, "validate") else None
        app.processEvents()
        if not form.grab().save(out):
            print(f"could not write {out}", file=sys.stderr)
            return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
