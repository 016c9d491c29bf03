"""A picture of an acquisition record: wedges in acquisition order, and the sweep masters that
gather them in omega order (the one thing a sweep master loses, shown)."""

from __future__ import annotations

import os
from pathlib import Path

from ..record import AcquisitionRecord


def plot_acquisition_order(record: AcquisitionRecord, path: str | os.PathLike[str]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweeps = [s.id for s in record.sweeps]
    colours = {sid: plt.get_cmap("tab10")(i % 10) for i, sid in enumerate(sweeps)}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.2), gridspec_kw={"height_ratios": [1, 1.4]})
    for w in record.wedges:
        n = w.n_collected if w.status in ("complete", "partial") else w.n
        top.barh(0, n, left=w.first_global - 0.5, color=colours[w.sweep], edgecolor="black",
                 hatch=None if w.collected else "//")
        top.text(w.first_global - 0.5 + n / 2, 0, f"{w.sweep}{w.order}", ha="center", va="center", fontsize=8)
    top.set_yticks([])
    top.set_xlim(0.5, max((w.first_global + (w.n_collected if w.collected else w.n)) for w in record.wedges) - 0.5)
    top.set_xlabel("global image number (acquisition order)")
    top.set_title(f"acquisition {record.acquisition_id}: wedges as collected")
    for row, sid in enumerate(sweeps):
        s = record.sweep(sid)
        for w in record.wedges_of(sid):
            n = w.n_collected if w.status in ("complete", "partial") else w.n
            bottom.barh(row, n * abs(s.omega_increment), left=w.omega_start if s.omega_increment > 0 else
                        w.omega_start - n * abs(s.omega_increment), color=colours[sid], edgecolor="black",
                        hatch=None if w.collected else "//")
            bottom.text(w.omega_start + n * s.omega_increment / 2, row, f"{sid}{w.order}", ha="center",
                        va="center", fontsize=8)
    bottom.set_yticks(range(len(sweeps)))
    bottom.set_yticklabels([f"{record.prefix}_{sid}_master.h5" for sid in sweeps], fontsize=8)
    bottom.invert_yaxis()
    bottom.set_xlabel("omega (°)")
    bottom.set_title("sweep masters: one monotonic sweep each")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
