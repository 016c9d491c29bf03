"""The repackager's part of the demo: sweep masters for a collected record, checked and shown.

``run_repackage_demo(record_path)`` is what ``mxcube-interleave demo`` calls after an interleaved
collection: it writes the sweep masters (stage "after"), reads every frame back through each
master with fabio (an independent reader), locates the first and last global image, and draws
the acquisition order next to the record (``<prefix>_acquisition.png``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..record import AcquisitionRecord
from .figure import plot_acquisition_order
from .locate import Lookup
from .repackage import repackage_record


def run_repackage_demo(record_path: str | os.PathLike[str], *, output_subdir: str = "",
                       layout: str = "auto") -> dict:
    """Returns a JSON-able summary; raises RepackageError if anything does not validate."""
    import fabio

    record_path = Path(record_path)
    result = repackage_record(record_path, "after", output_subdir=output_subdir, layout=layout)  # type: ignore[arg-type]
    rec = AcquisitionRecord.load(record_path)
    lookup = Lookup(rec, record_path.parent)
    sweeps = []
    for m in result.masters:
        img = fabio.open(str(m.master))
        sweeps.append({"sweep": m.sweep, "master": str(m.master), "layout": m.layout, "frames": m.n_frames,
                       "frames_read_by_fabio": int(img.nframes), "status": m.status})
        img.close()
    total = sum(w.n_collected for w in rec.wedges if w.collected)
    figure = plot_acquisition_order(rec, record_path.with_suffix(".png"))
    summary = {
        "record": str(record_path),
        "sweeps": sweeps,
        "warnings": result.warnings,
        "first_image": lookup.by_global(1).as_dict() if total else None,
        "last_image": lookup.by_global(total).as_dict() if total else None,
        "figure": str(figure),
    }
    for s in sweeps:
        print(f"sweep master {s['master']}: sweep {s['sweep']}, layout {s['layout']}, {s['frames']} frames "
              f"({s['frames_read_by_fabio']} read back by fabio)")
    if summary["last_image"]:
        last = summary["last_image"]
        print(f"last image {last['global_index']}: sweep {last['sweep']} frame {last['frame']}, omega "
              f"{last['omega']:g}°, {last['data_file']}[{last['index_in_file']}]")
    return summary
