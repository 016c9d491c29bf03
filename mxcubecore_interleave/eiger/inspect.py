"""What a detector series holds, read back from its master (for the demo and the CLI)."""

from __future__ import annotations

from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (bitshuffle for reading frames)
import numpy as np

from ..h5ascii import read_str


def summarize_master(master: str | Path) -> dict:
    master = Path(master)
    with h5py.File(master, "r") as f:
        data = f["/entry/data"]
        names = sorted(k for k in data if k.startswith("data"))
        files, n_frames = [], 0
        for k in names:
            link = data.get(k, getlink=True)
            ds = data[k]
            n_frames += ds.shape[0]
            files.append(getattr(link, "filename", master.name))
        omega = f.get("/entry/sample/transformations/omega")
        omega_end = f.get("/entry/sample/transformations/omega_end")
        wl = f.get("/entry/instrument/beam/incident_wavelength")
        first = data[names[0]] if names else None
        return {
            "master": master.name,
            "data_files": files,
            "frames": n_frames,
            "frame_shape": tuple(first.shape[1:]) if first is not None else None,
            "dtype": str(first.dtype) if first is not None else None,
            "omega_start": float(omega[0]) if omega is not None and len(omega) else None,
            "omega_end": float(omega_end[-1]) if omega_end is not None and len(omega_end) else None,
            "wavelength_A": float(np.asarray(wl[()]).ravel()[0]) if wl is not None else None,
            "start_time": read_str(f["/entry/start_time"][()]) if "start_time" in f["/entry"] else None,
        }
