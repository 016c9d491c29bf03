"""A simulated DECTRIS Eiger: an ``AbstractDetector`` whose filewriter writes real HDF5 series.

mxcubecore's ``DetectorMockup`` writes nothing and names files ``<prefix>_<run>_%04d.h5``. This
one behaves as a DECTRIS detector does for a site's collect:

* ``prepare_acquisition(...)`` arms it with a name pattern (``<prefix>_<run>``), the number of
  frames and the oscillation, and its own ``images_per_file`` (configuration, as a filewriter's
  ``nimages_per_file``); an existing file of that name is refused before anything is acquired;
* ``start_acquisition()`` starts the series; each ``trigger()`` takes one frame (the Eiger's
  "exts" mode, one trigger per image, driven by the collect as it rotates);
  ``stop_acquisition()`` ends it early, keeping the frames already taken;
* the filewriter closes the series ``close_delay`` s after the last frame, asynchronously: the
  master appears after the collect has returned, as on a real beamline.

Nothing it writes is handed to the collect or the queue: they find the files on disk. File names
(``get_image_file_name``) are the DECTRIS ones, so mxcubecore's run-number and collision checks
see the real masters.
"""

from __future__ import annotations

import ast
import logging
import os
from pathlib import Path

import gevent
import gevent.event
from mxcubecore.HardwareObjects.mockup.DetectorMockup import DetectorMockup

from mxcubecore_interleave.eiger import (
    DetectorGeometry,
    SeriesSpec,
    SeriesWriter,
    master_name,
    series_files,
    series_name,
    synthetic_frame,
)
from mxcubecore_interleave.errors import DetectorError

log = logging.getLogger("HWR")


def _tuple_property(value: object) -> tuple[int, ...]:
    """``[96, 97]`` lists pixels; an item ``[512, 550]`` stands for the range 512..549."""
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        value = ast.literal_eval(value)
    if isinstance(value, (int, float)):
        return (int(value),)
    out: list[int] = []
    for item in value:  # type: ignore[union-attr]
        if isinstance(item, (list, tuple)):
            out.extend(range(int(item[0]), int(item[1])))
        else:
            out.append(int(item))
    return tuple(out)


class SimulatedEigerDetector(DetectorMockup):
    """Configuration (XML or YAML): ``width``, ``height`` (pixels), ``px``, ``py`` (mm),
    ``images_per_file``, ``compression`` (bslz4 | lz4 | none), ``bit_depth`` (16 | 32),
    ``sensor_thickness`` (mm), ``dead_rows``/``dead_cols`` (pixel-mask gaps), ``close_delay``
    (s from the last frame to the closed series), ``<beam>``."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._writer: SeriesWriter | None = None
        self._series: SeriesWriter | None = None  # started, still taking frames
        self._closed = gevent.event.Event()
        self._closed.set()
        self._mask = None
        self.frames_acquired = 0
        self.error: str | None = None

    def init(self) -> None:
        super().init()
        self._width = int(self.get_property("width", 256))
        self._height = int(self.get_property("height", 192))
        self.compression = str(self.get_property("compression", "bslz4"))
        self.bit_depth = int(self.get_property("bit_depth", 16))
        self.sensor_thickness_mm = float(self.get_property("sensor_thickness", 0.45))
        self.dead_rows = _tuple_property(self.get_property("dead_rows", ()))
        self.dead_cols = _tuple_property(self.get_property("dead_cols", ()))
        self._images_per_file = int(self.get_property("images_per_file", 100))
        self.close_delay = float(self.get_property("close_delay", 0.2))

    # -- the DECTRIS-like acquisition ----------------------------------------------------------
    def has_shutterless(self) -> bool:
        return True

    def prepare_acquisition(self, directory: str, name_pattern: str, n_images: int, *, omega_start: float,
                            omega_increment: float, exposure_time: float, wavelength_A: float,
                            kappa: float = 0.0, phi: float = 0.0, first_image_number: int = 1,
                            sample_name: str = "sample") -> None:
        """Arm for one series ``<directory>/<name_pattern>_master.h5`` (DetectorError if refused)."""
        if not self._closed.is_set():
            raise DetectorError("the simulated Eiger is still writing the previous series")
        try:
            spec = SeriesSpec(
                directory=Path(directory), series=name_pattern, n_images=int(n_images),
                images_per_file=int(self.images_per_file or 100), omega_start=float(omega_start),
                omega_increment=float(omega_increment), wavelength_A=float(wavelength_A),
                exposure_time=float(exposure_time), detector=self.get_geometry(), kappa=float(kappa),
                phi=float(phi), first_image_number=int(first_image_number), compression=self.compression,
                sample_name=sample_name)
            self._writer = SeriesWriter(spec)  # refuses to overwrite before anything is acquired
        except DetectorError:
            raise
        except Exception as exc:  # a collect survives only RuntimeError
            raise DetectorError(f"cannot arm the simulated Eiger: {exc}") from exc
        self.frames_acquired = 0
        self.error = None

    def start_acquisition(self) -> None:
        if self._writer is None:
            raise DetectorError("the simulated Eiger is not armed (prepare_acquisition first)")
        self._closed.clear()
        self._series, self._writer = self._writer, None
        self._mask = self._series.spec.detector.pixel_mask()

    def trigger(self) -> None:
        """Take the next frame of the started series (DetectorError if none is running)."""
        writer = self._series
        if writer is None:
            raise DetectorError("the simulated Eiger has no series running (start_acquisition first)")
        spec, i = writer.spec, self.frames_acquired
        det = spec.detector
        try:
            writer.write(synthetic_frame(spec.first_image_number + i, spec.omega(i), det.shape,
                                         beam_center=det.beam_center, dtype=det.dtype, mask=self._mask))
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("simulated Eiger: acquisition failed: %s", self.error)
            self._end()
            raise DetectorError(f"the simulated Eiger failed at image {i + 1}: {exc}") from exc
        self.frames_acquired = i + 1
        if self.frames_acquired >= spec.n_images:
            self._end()

    def stop_acquisition(self) -> None:
        """End the series now, with the frames already taken; the filewriter still closes it."""
        if self._writer is not None:  # armed, never started: nothing to keep
            self._writer.close(aborted=True)
            self._writer = None
        self._end()

    def acquiring(self) -> bool:
        return self._series is not None

    def last_image_saved(self) -> int:
        return self.frames_acquired

    def wait_closed(self, timeout: float | None = None) -> bool:
        """For tests and the demo: True once the filewriter has closed the last series."""
        return self._closed.wait(timeout)

    def _end(self) -> None:
        writer, self._series = self._series, None
        if writer is not None:  # the filewriter finishes after the acquisition, asynchronously
            gevent.spawn_later(self.close_delay, self._close, writer, self.frames_acquired < writer.spec.n_images)

    def _close(self, writer: SeriesWriter, aborted: bool) -> None:
        try:
            writer.close(aborted=aborted)
        except Exception as exc:
            self.error = f"the filewriter could not close {writer.spec.series}: {exc}"
            log.error("simulated Eiger: %s", self.error)
        finally:
            self._closed.set()

    # -- geometry for the writer ---------------------------------------------------------------
    def get_geometry(self, distance_mm: float | None = None) -> DetectorGeometry:
        if distance_mm is None:
            distance_mm = float(self.distance.get_value()) if self.distance is not None else 200.0
        bx, by = self.get_beam_position(distance_mm)
        px, py = self.get_pixel_size()
        return DetectorGeometry(
            nx=self._width,
            ny=self._height,
            x_pixel_size_m=float(px) * 1e-3,
            y_pixel_size_m=float(py) * 1e-3,
            sensor_thickness_m=self.sensor_thickness_mm * 1e-3,
            beam_center_x_px=float(bx),
            beam_center_y_px=float(by),
            distance_m=distance_mm * 1e-3,
            bit_depth=self.bit_depth,
            description=f"{self.get_property('manufacturer', 'DECTRIS')} {self.get_property('type', 'Eiger2')} "
            f"{self.get_property('model', '')} (simulated)".strip(),
            dead_rows=self.dead_rows,
            dead_cols=self.dead_cols,
        )

    # -- file names that mxcubecore's collision checks see -------------------------------------
    def get_image_file_name(self, path_template, suffix=None) -> str:
        return master_name(series_name(path_template.get_prefix(), path_template.run_number))

    def get_first_and_last_file(self, pt) -> tuple[str, str]:
        series = series_name(pt.get_prefix(), pt.run_number)
        master, data = series_files(series, max(int(pt.num_files or 1), 1), self.images_per_file or 100)
        return (os.path.join(pt.directory, master), os.path.join(pt.directory, data[-1]))

    def get_actual_file_path(self, master_file: str, image_number: int) -> tuple[str, int]:
        """The data file holding 1-based ``image_number`` of a series, and its 0-based index there."""
        ipf = self.images_per_file or 100
        base = master_file[: -len("_master.h5")]
        file_index, index = divmod(image_number - 1, ipf)
        return f"{base}_data_{file_index + 1:06d}.h5", index
