"""A mockup detector that knows DECTRIS file names and geometry.

mxcubecore's ``DetectorMockup`` writes nothing and names files ``<prefix>_<run>_%04d.h5``, so
run-number and path-collision checks never see the real Eiger names. This one reports
``<prefix>_<run>_master.h5`` (+ data files) and hands the simulated collect a
``DetectorGeometry`` for the pure series writer.
"""

from __future__ import annotations

import ast
import os

from mxcubecore.HardwareObjects.mockup.DetectorMockup import DetectorMockup

from mxcubecore_interleave.eiger import DetectorGeometry, master_name, series_files, series_name


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
    ``sensor_thickness`` (mm), ``dead_rows``/``dead_cols`` (pixel-mask gaps), ``<beam>``."""

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
