"""A collect written the way a site writes its own (for the three-collect tests), not the simulator.

It subclasses mxcubecore's ``AbstractCollect`` directly, names the series itself from
``fileinfo`` (``<prefix>_<run>``, DECTRIS style), uses its own images per file (configuration
``images_per_file``, never a key of the parameter dict), and leaves the files to a "filewriter"
greenlet that writes and closes them ``close_delay`` s after ``collect()`` has returned. It
publishes nothing: the queue entry must find the files on disk.
"""

from __future__ import annotations

from pathlib import Path

import gevent
from mxcubecore import HardwareRepository as HWR
from mxcubecore.HardwareObjects.abstract.AbstractCollect import AbstractCollect

from mxcubecore_interleave.eiger import DetectorGeometry, SeriesSpec, SeriesWriter, synthetic_frame


class SiteStyleCollect(AbstractCollect):
    def init(self) -> None:
        super().init()
        self.images_per_file = int(self.get_property("images_per_file", 2))
        self.close_delay = float(self.get_property("close_delay", 0.3))
        # "dectris": <directory>/<prefix>_<run>_master.h5; "p11": DESY P11's
        # <directory>/<prefix>/rotational_<NNN>/<prefix>_<run>_master.h5
        self.layout = str(self.get_property("layout", "dectris"))
        self.filewriters: list[gevent.Greenlet] = []

    def data_collection_hook(self) -> None:
        params = self.current_dc_parameters
        osc = params["oscillation_sequence"][0]
        info = params["fileinfo"]
        directory = Path(info["directory"])
        if self.layout == "p11":
            directory = directory / info["prefix"] / f"rotational_{int(info['run_number']):03d}"
        spec = SeriesSpec(
            directory=directory, series=f"{info['prefix']}_{info['run_number']}",
            n_images=int(osc["number_of_images"]), images_per_file=self.images_per_file,
            omega_start=float(osc["start"]), omega_increment=float(osc["range"]),
            wavelength_A=HWR.beamline.energy.calculate_wavelength(float(params["energy"])),
            exposure_time=float(osc["exposure_time"]), detector=DetectorGeometry(nx=32, ny=24),
            first_image_number=int(osc["start_image_number"]))
        self.filewriters.append(gevent.spawn_later(self.close_delay, self._filewriter, spec))
        gevent.sleep(spec.n_images * spec.exposure_time)  # the detector counts; files come later

    @staticmethod
    def _filewriter(spec: SeriesSpec) -> None:
        writer = SeriesWriter(spec)
        det = spec.detector
        for i in range(spec.n_images):
            writer.write(synthetic_frame(spec.first_image_number + i, spec.omega(i), det.shape, dtype=det.dtype))
        writer.close()

    def move_motors(self, motor_position_dict) -> None:
        if motor_position_dict:
            HWR.beamline.diffractometer.set_value_motors(motor_position_dict)

    def _take_crystal_snapshot(self, snapshot_filename) -> None:
        pass

    def trigger_auto_processing(self, process_event, frame_number) -> None:
        pass
