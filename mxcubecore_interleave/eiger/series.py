"""Write one detector series the way the DECTRIS filewriter does: data files, then a master.

Every file is written under a temporary name and linked into place only when complete, and an
existing file is never replaced: a collision is refused before a single frame is written. On
abort (any exception, including gevent's GreenletExit) the frames already acquired are kept in
a shortened last data file and the master describes exactly those frames.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

from ..atomic import FILE_MODE, atomic_output, fsync_path
from ..errors import DetectorError, OverwriteRefusedError
from ..h5ascii import ascii_attr, ascii_dataset, nx_group
from .frames import synthetic_frame
from .naming import data_name, master_name, split_counts

HC_KEV_A = 12.398419843320026  # h*c in keV*Angstrom (CODATA 2018)

COMPRESSIONS = {
    "bslz4": lambda: hdf5plugin.Bitshuffle(nelems=0, cname="lz4"),  # filter 32008
    "lz4": lambda: hdf5plugin.LZ4(),  # filter 32004
    "none": lambda: {},
}


# The DECTRIS filewriter's HDF5 file format: its data files (dectris/h5-testfiles, in
# ../shared/data) have superblock version 2, version-2 object headers (checksummed) and a version-1
# B-tree chunk index, which is what HDF5 writes with these bounds. Files written with h5py's
# default ("earliest": superblock 0, symbol-table groups) read the same through HDF5 but are not
# what a site's readers meet. The benchmark's byte-patched copies set the default back (v0
# metadata has no checksums).
LIBVER: tuple[str, str] = ("v108", "v108")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class DetectorGeometry:
    """What a DECTRIS master says about the detector (defaults: a small Eiger2-like module)."""

    nx: int = 1028
    ny: int = 512
    x_pixel_size_m: float = 75e-6
    y_pixel_size_m: float = 75e-6
    sensor_material: str = "Si"
    sensor_thickness_m: float = 450e-6
    beam_center_x_px: float | None = None  # default: detector centre
    beam_center_y_px: float | None = None
    distance_m: float = 0.2
    bit_depth: int = 16
    description: str = "Dectris EIGER2 Si (simulated by mxcubecore-interleave)"
    detector_number: str = "E-SIM-0001"
    eiger_fw_version: str = "release-2022.1.2 (simulated)"
    software_version: str = "mxcubecore-interleave simulated filewriter"
    readout_time_s: float = 1e-7
    countrate_cutoff: int = 2**16 - 2
    dead_rows: tuple[int, ...] = ()  # module gaps, as the pixel mask marks them
    dead_cols: tuple[int, ...] = ()

    @property
    def shape(self) -> tuple[int, int]:
        return (self.ny, self.nx)

    @property
    def beam_center(self) -> tuple[float, float]:
        bx = self.nx / 2.0 if self.beam_center_x_px is None else self.beam_center_x_px
        by = self.ny / 2.0 if self.beam_center_y_px is None else self.beam_center_y_px
        return (bx, by)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint16 if self.bit_depth <= 16 else np.uint32)

    def pixel_mask(self) -> np.ndarray:
        mask = np.zeros(self.shape, dtype=np.uint32)
        for r in self.dead_rows:
            if 0 <= r < self.ny:
                mask[r, :] = 1  # bit 0: gap pixel (DECTRIS convention)
        for c in self.dead_cols:
            if 0 <= c < self.nx:
                mask[:, c] = 1
        return mask


@dataclass(frozen=True)
class SeriesSpec:
    """One acquisition (one arm/trigger): where, what name, how many frames, which geometry."""

    directory: Path
    series: str  # file-name stem: <series>_master.h5, <series>_data_NNNNNN.h5
    n_images: int
    images_per_file: int
    omega_start: float
    omega_increment: float
    wavelength_A: float
    exposure_time: float
    detector: DetectorGeometry = field(default_factory=DetectorGeometry)
    kappa: float = 0.0
    phi: float = 0.0
    first_image_number: int = 1  # the number encoded in the first frame's tag
    compression: str = "bslz4"
    sample_name: str = "sample"
    beamline_name: str = "mxcubecore mockup beamline"

    def __post_init__(self) -> None:
        if self.n_images < 1:
            raise DetectorError(f"a series needs at least one image, got {self.n_images}")
        if self.images_per_file < 1:
            raise DetectorError(f"images per file must be at least 1, got {self.images_per_file}")
        if self.wavelength_A <= 0:
            raise DetectorError(f"the wavelength must be positive, got {self.wavelength_A} Å")
        if self.compression not in COMPRESSIONS:
            raise DetectorError(f"unknown compression {self.compression!r}; use {sorted(COMPRESSIONS)}")

    @property
    def master_path(self) -> Path:
        return Path(self.directory) / master_name(self.series)

    def data_paths(self) -> list[Path]:
        n = len(split_counts(self.n_images, self.images_per_file))
        return [Path(self.directory) / data_name(self.series, i + 1) for i in range(n)]

    def omega(self, i: int) -> float:
        return self.omega_start + i * self.omega_increment


@dataclass
class SeriesResult:
    master: Path | None
    data_files: list[Path]
    n_written: int
    n_planned: int
    aborted: bool
    start_time: str
    end_time: str

    @property
    def complete(self) -> bool:
        return not self.aborted and self.n_written == self.n_planned


class SeriesWriter:
    """Frames in, DECTRIS files out. Use as a context manager; ``write`` one frame at a time."""

    def __init__(self, spec: SeriesSpec) -> None:
        self.spec = spec
        self.counts = split_counts(spec.n_images, spec.images_per_file)
        targets = [spec.master_path, *spec.data_paths()]
        existing = [p for p in targets if p.exists()]
        if existing:
            raise OverwriteRefusedError(
                f"refusing to overwrite existing detector files: {', '.join(str(p) for p in existing)}; "
                "choose another prefix or run number"
            )
        Path(spec.directory).mkdir(parents=True, exist_ok=True)
        self.start_time = now_iso()
        self.n_written = 0
        self.data_files: list[Path] = []
        self._file: h5py.File | None = None
        self._tmp: Path | None = None
        self._ds: h5py.Dataset | None = None
        self._in_file = 0
        self._closed = False
        self._mask = spec.detector.pixel_mask()

    # -- data files ----------------------------------------------------------------------------
    def _open_next(self) -> None:
        idx = len(self.data_files) + 1
        n = self.counts[idx - 1]
        fd, tmp = tempfile.mkstemp(prefix=f".{self.spec.series}_data_{idx:06d}.", suffix=".tmp",
                                   dir=self.spec.directory)
        os.close(fd)
        self._tmp = Path(tmp)
        f = h5py.File(self._tmp, "w", libver=LIBVER)
        entry = nx_group(f, "entry", "NXentry")
        data = nx_group(entry, "data", "NXdata")
        det = self.spec.detector
        self._ds = data.create_dataset(
            "data", shape=(n, det.ny, det.nx), maxshape=(None, det.ny, det.nx), dtype=det.dtype,
            chunks=(1, det.ny, det.nx), **COMPRESSIONS[self.spec.compression](),
        )
        first = self.n_written + 1  # DECTRIS numbers images 1..N within the series
        self._ds.attrs.create("image_nr_low", first, dtype=np.uint64)
        self._ds.attrs.create("image_nr_high", first + n - 1, dtype=np.uint64)
        self._file = f
        self._in_file = 0

    def _close_current(self) -> None:
        if self._file is None:
            return
        assert self._ds is not None and self._tmp is not None
        idx = len(self.data_files) + 1
        if self._in_file < self._ds.shape[0]:  # aborted mid-file: keep only acquired frames
            self._ds.resize(self._in_file, axis=0)
            self._ds.attrs.create("image_nr_high", self.n_written, dtype=np.uint64)
        self._file.close()
        self._file = None
        target = Path(self.spec.directory) / data_name(self.spec.series, idx)
        tmp, self._tmp = self._tmp, None
        try:
            if self._in_file == 0:
                tmp.unlink()
                return
            fsync_path(tmp)
            os.chmod(tmp, FILE_MODE)
            try:
                os.link(tmp, target)  # fails instead of replacing a file that appeared meanwhile
            except FileExistsError as exc:
                raise OverwriteRefusedError(f"{target} appeared during the acquisition; not replaced") from exc
            self.data_files.append(target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def write(self, frame: np.ndarray) -> None:
        if self._closed:
            raise DetectorError("the series is closed")
        if self.n_written >= self.spec.n_images:
            raise DetectorError(f"the series holds {self.spec.n_images} images; got one more")
        det = self.spec.detector
        if frame.shape != det.shape or frame.dtype != det.dtype:
            raise DetectorError(f"frame {frame.shape} {frame.dtype} does not match the detector {det.shape} {det.dtype}")
        if self._file is None:
            self._open_next()
        assert self._ds is not None
        self._ds[self._in_file] = frame
        self._in_file += 1
        self.n_written += 1
        if self._in_file == self._ds.shape[0]:
            self._close_current()

    # -- master --------------------------------------------------------------------------------
    def close(self, *, aborted: bool = False) -> SeriesResult:
        if self._closed:
            raise DetectorError("the series is already closed")
        self._closed = True
        self._close_current()
        end = now_iso()
        master = None
        if self.n_written:
            master = self.spec.master_path
            with atomic_output(master, overwrite=False) as tmp:
                with h5py.File(tmp, "w", libver=LIBVER) as f:
                    self._write_master(f, end, aborted)
        return SeriesResult(master, list(self.data_files), self.n_written, self.spec.n_images,
                            aborted or self.n_written < self.spec.n_images, self.start_time, end)

    def _write_master(self, f: h5py.File, end_time: str, aborted: bool) -> None:
        spec, n = self.spec, self.n_written
        entry = nx_group(f, "entry", "NXentry")
        ascii_dataset(entry, "definition", "NXmx")
        ascii_dataset(entry, "start_time", self.start_time)
        ascii_dataset(entry, "end_time", end_time)
        ascii_dataset(entry, "end_time_estimated", end_time)
        if aborted or n < spec.n_images:
            ascii_attr(entry, "acquisition_status", "aborted")

        data = nx_group(entry, "data", "NXdata")
        for i, p in enumerate(self.data_files):
            # relative file names: the tree can be moved (NXmx reference §3)
            data[f"data_{i + 1:06d}"] = h5py.ExternalLink(p.name, "/entry/data/data")

        instrument = nx_group(entry, "instrument", "NXinstrument")
        ascii_dataset(instrument, "name", spec.beamline_name)
        source = nx_group(instrument, "source", "NXsource")
        ascii_dataset(source, "name", "simulated synchrotron")
        beam = nx_group(instrument, "beam", "NXbeam")
        wl = beam.create_dataset("incident_wavelength", data=np.float32(spec.wavelength_A))
        ascii_attr(wl, "units", "angstrom")

        d = nx_group(instrument, "detector", "NXdetector")
        self._write_detector(d, n)

        sample = nx_group(entry, "sample", "NXsample")
        ascii_dataset(sample, "name", spec.sample_name)
        ascii_dataset(sample, "depends_on", "/entry/sample/transformations/phi")
        self._write_goniometer(sample, n)

    def _write_detector(self, d: h5py.Group, n: int) -> None:
        spec, det = self.spec, self.spec.detector
        bx, by = det.beam_center

        def num(name: str, value, units: str | None = None, dtype=None):
            ds = d.create_dataset(name, data=np.asarray(value, dtype=dtype))
            if units:
                ascii_attr(ds, "units", units)
            return ds

        ascii_dataset(d, "description", det.description)
        ascii_dataset(d, "detector_number", det.detector_number)
        ascii_dataset(d, "sensor_material", det.sensor_material)
        num("sensor_thickness", det.sensor_thickness_m, "m", np.float32)
        num("x_pixel_size", det.x_pixel_size_m, "m", np.float32)
        num("y_pixel_size", det.y_pixel_size_m, "m", np.float32)
        num("beam_center_x", bx, "pixel", np.float32)
        num("beam_center_y", by, "pixel", np.float32)
        num("count_time", spec.exposure_time - det.readout_time_s, "s", np.float32)
        num("frame_time", spec.exposure_time, "s", np.float32)
        num("detector_readout_time", det.readout_time_s, "s", np.float32)
        num("detector_distance", det.distance_m, "m", np.float32)
        num("distance", det.distance_m, "m", np.float32)
        num("bit_depth_image", det.bit_depth, None, np.uint32)
        num("bit_depth_readout", det.bit_depth, None, np.uint32)
        energy_ev = HC_KEV_A / spec.wavelength_A * 1000.0
        num("threshold_energy", energy_ev / 2.0, "eV", np.float32)
        num("countrate_correction_applied", 1, None, np.uint8)
        num("flatfield_correction_applied", 1, None, np.uint8)
        num("pixel_mask_applied", 1, None, np.uint8)
        num("saturation_value", det.countrate_cutoff, None, np.uint32)
        ascii_dataset(d, "depends_on", "/entry/instrument/detector/transformations/translation")

        ds = nx_group(d, "detectorSpecific", "NXcollection")
        ds.create_dataset("nimages", data=np.uint32(n))
        ds.create_dataset("ntrigger", data=np.uint32(1))
        ds.create_dataset("nimages_planned", data=np.uint32(spec.n_images))
        ds.create_dataset("x_pixels_in_detector", data=np.uint32(det.nx))
        ds.create_dataset("y_pixels_in_detector", data=np.uint32(det.ny))
        mask = ds.create_dataset("pixel_mask", data=self._mask)  # contiguous: Neggia needs that
        d["pixel_mask"] = mask  # NXmx place, a hard link to the same dataset
        pe = ds.create_dataset("photon_energy", data=np.float32(energy_ev))
        ascii_attr(pe, "units", "eV")
        ascii_dataset(ds, "eiger_fw_version", det.eiger_fw_version)
        ascii_dataset(ds, "software_version", det.software_version)
        ds.create_dataset("countrate_correction_count_cutoff", data=np.uint32(det.countrate_cutoff))
        ascii_dataset(ds, "data_collection_date", self.start_time)
        ds.create_dataset("frame_count_time", data=np.float32(spec.exposure_time))
        ds.create_dataset("number_of_excluded_pixels", data=np.uint32(int((self._mask != 0).sum())))
        ascii_dataset(ds, "compression", spec.compression)

        tr = nx_group(d, "transformations", "NXtransformations")
        t = tr.create_dataset("translation", data=np.float64(det.distance_m))
        ascii_attr(t, "units", "m")
        ascii_attr(t, "transformation_type", "translation")
        t.attrs["vector"] = np.array([0.0, 0.0, 1.0])
        ascii_attr(t, "depends_on", ".")

        module = nx_group(d, "module", "NXdetector_module")
        module.create_dataset("data_origin", data=np.array([0, 0], dtype=np.int32))
        module.create_dataset("data_size", data=np.array([det.ny, det.nx], dtype=np.int32))
        off = module.create_dataset("module_offset", data=np.float64(0.0))
        ascii_attr(off, "units", "m")
        ascii_attr(off, "transformation_type", "translation")
        off.attrs["vector"] = np.array([1.0, 0.0, 0.0])
        # the beam centre lies on the z axis: origin of pixel (0, 0) is offset by -centre
        off.attrs["offset"] = np.array([bx * det.x_pixel_size_m, by * det.y_pixel_size_m, 0.0])
        ascii_attr(off, "offset_units", "m")
        ascii_attr(off, "depends_on", "/entry/instrument/detector/transformations/translation")
        for name, size, vec in (("fast_pixel_direction", det.x_pixel_size_m, [-1.0, 0.0, 0.0]),
                                ("slow_pixel_direction", det.y_pixel_size_m, [0.0, -1.0, 0.0])):
            px = module.create_dataset(name, data=np.float64(size))
            ascii_attr(px, "units", "m")
            ascii_attr(px, "transformation_type", "translation")
            px.attrs["vector"] = np.array(vec)
            px.attrs["offset"] = np.array([0.0, 0.0, 0.0])
            ascii_attr(px, "offset_units", "m")
            ascii_attr(px, "depends_on", "/entry/instrument/detector/module/module_offset")

    def _write_goniometer(self, sample: h5py.Group, n: int) -> None:
        spec = self.spec
        omega = spec.omega_start + spec.omega_increment * np.arange(n, dtype=np.float64)
        omega_end = omega + spec.omega_increment
        tr = nx_group(sample, "transformations", "NXtransformations")
        axes = (
            # name, values, vector (McStas: z along the beam, y up), depends_on
            ("omega", omega, [-1.0, 0.0, 0.0], "."),
            ("kappa", np.full(n, spec.kappa), [-0.642788, -0.766044, 0.0], "/entry/sample/transformations/omega"),
            ("phi", np.full(n, spec.phi), [-1.0, 0.0, 0.0], "/entry/sample/transformations/kappa"),
        )
        for name, values, vec, dep in axes:
            ax = tr.create_dataset(name, data=values)
            ascii_attr(ax, "units", "deg")
            ascii_attr(ax, "transformation_type", "rotation")
            ax.attrs["vector"] = np.array(vec)
            ascii_attr(ax, "depends_on", dep)
        # kappa and phi stand still during a rotation sweep: end = start, increment 0
        for name, start, step in (("omega", omega, spec.omega_increment), ("kappa", np.full(n, spec.kappa), 0.0),
                                  ("phi", np.full(n, spec.phi), 0.0)):
            end = tr.create_dataset(f"{name}_end", data=start + step)
            ascii_attr(end, "units", "deg")
            inc = tr.create_dataset(f"{name}_increment_set", data=np.float64(step))
            ascii_attr(inc, "units", "deg")

        gonio = nx_group(sample, "goniometer", "NXtransformations")
        for name, values in (
            ("omega", omega),
            ("omega_end", omega_end),
            ("omega_range_average", np.float32(spec.omega_increment)),
            ("omega_range_total", np.float32(spec.omega_increment * n)),
            ("kappa", np.full(n, spec.kappa, dtype=np.float32)),
            ("kappa_end", np.full(n, spec.kappa, dtype=np.float32)),
            ("kappa_range_average", np.float32(0.0)),
            ("kappa_range_total", np.float32(0.0)),
            ("phi", np.full(n, spec.phi, dtype=np.float32)),
            ("phi_end", np.full(n, spec.phi, dtype=np.float32)),
            ("phi_range_average", np.float32(0.0)),
            ("phi_range_total", np.float32(0.0)),
        ):
            ds = gonio.create_dataset(name, data=values)
            ascii_attr(ds, "units", "degree")


def write_series(
    spec: SeriesSpec,
    frames: Iterable[np.ndarray] | None = None,
    *,
    on_frame: Callable[[int], None] | None = None,
) -> SeriesResult:
    """Write a whole series; ``frames`` defaults to synthetic frames tagged with their image number.

    ``on_frame(i)`` is called after frame ``i`` (0-based) is stored; it may sleep (exposure) or
    raise to abort, in which case the acquired frames are kept and the exception propagates.
    """
    writer = SeriesWriter(spec)
    det = spec.detector
    if frames is None:
        mask = det.pixel_mask()
        frames = (
            synthetic_frame(spec.first_image_number + i, spec.omega(i), det.shape,
                            beam_center=det.beam_center, dtype=det.dtype, mask=mask)
            for i in range(spec.n_images)
        )
    try:
        for i, frame in enumerate(frames):
            writer.write(frame)
            if on_frame is not None:
                on_frame(i)
    except BaseException:
        writer.close(aborted=True)
        raise
    return writer.close()
