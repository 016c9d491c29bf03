"""A mockup collect that really acquires: every collection becomes a DECTRIS-style file series.

mxcubecore's ``CollectMockup`` only sleeps and emits signals. This subclass keeps its signals and
timing (one exposure time per image) but writes each frame through the pure series writer, so
what the queue collects can be opened by XDS/DIALS readers, fabio and h5py.

Quirks handled here (integration reference §1.10, §4): the image index in
``collectImageTaken`` is 0-based, as in the mockups; ``collectOscillationFinished`` is emitted
once (the stock mockup emits it twice); failures are raised as RuntimeError (anything else would
leave ``AbstractCollect.collect()`` waiting forever); a stop or kill closes the series, keeps the
frames already acquired and releases the waiting caller.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import gevent
from mxcubecore import HardwareRepository as HWR
from mxcubecore.HardwareObjects.mockup.CollectMockup import CollectMockup

from mxcubecore_interleave.eiger import SeriesSpec, SeriesWriter, series_name, synthetic_frame
from mxcubecore_interleave.errors import DetectorError

log = logging.getLogger("HWR")


class SimulatedEigerCollect(CollectMockup):
    """Configuration: ``readout_overhead`` (s per image on top of the exposure time)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.last_series = None
        self._stop_requested = False

    def init(self) -> None:
        super().init()
        self.readout_overhead = float(self.get_property("readout_overhead", 0.0) or 0.0)

    # -- acquisition ---------------------------------------------------------------------------
    def _series_spec(self, params: dict) -> SeriesSpec:
        osc = params["oscillation_sequence"][0]
        fileinfo = params["fileinfo"]
        detector = HWR.beamline.detector
        wavelength = params.get("wavelength") or HWR.beamline.energy.get_wavelength()
        motors = HWR.beamline.diffractometer.get_value_motors(["kappa", "kappa_phi"])
        ipf = int(params.get("nimages_per_file") or detector.images_per_file or 100)
        return SeriesSpec(
            directory=Path(fileinfo["directory"]),
            series=series_name(fileinfo["prefix"], fileinfo["run_number"]),
            n_images=int(osc["number_of_images"]),
            images_per_file=ipf,
            omega_start=float(osc["start"]),
            omega_increment=float(osc["range"]),
            wavelength_A=float(wavelength),
            exposure_time=float(osc["exposure_time"]),
            detector=detector.get_geometry(),
            kappa=float(motors.get("kappa") or 0.0),
            phi=float(motors.get("kappa_phi") or 0.0),
            first_image_number=int(osc.get("start_image_number", 1)),
            compression=getattr(detector, "compression", "bslz4"),
            sample_name=str(params.get("sample_reference", {}).get("sample_name") or "sample")
            if isinstance(params.get("sample_reference"), dict) else "sample",
        )

    def data_collection_hook(self) -> None:
        params = self.current_dc_parameters
        self._stop_requested = False
        self.last_series = None
        try:
            spec = self._series_spec(params)
            writer = SeriesWriter(spec)  # refuses to overwrite before anything is acquired
        except DetectorError:
            raise
        except Exception as exc:  # only RuntimeError reaches collectOscillationFailed
            raise DetectorError(f"cannot prepare the simulated Eiger: {exc}") from exc

        self.emit("collectStarted", (None, 1))
        diffr = HWR.beamline.diffractometer
        diffr.set_phase(diffr.get_phase_enum.COLLECT)
        det = spec.detector
        mask = det.pixel_mask()
        period = spec.exposure_time + self.readout_overhead
        try:
            for i in range(spec.n_images):
                if self._stop_requested:
                    break
                t0 = time.monotonic()
                frame = synthetic_frame(spec.first_image_number + i, spec.omega(i), det.shape,
                                        beam_center=det.beam_center, dtype=det.dtype, mask=mask)
                writer.write(frame)
                gevent.sleep(max(0.0, period - (time.monotonic() - t0)))
                self.emit("collectImageTaken", i)
                self.emit("progressStep", int(100.0 * (i + 1) / spec.n_images))
        except BaseException:
            # killed (stop_collect), or failed: keep what was acquired, never a half-written file
            self.last_series = writer.close(aborted=True)
            self._publish(params, self.last_series)
            self.emit("collectOscillationFailed", (None, False, "Data collection aborted",
                                                   params.get("collection_id"), None))
            self.emit("progressStop", ())
            self.ready_event.set()
            raise
        self.last_series = result = writer.close(aborted=self._stop_requested)
        self._publish(params, result)
        if result.aborted:
            raise DetectorError(f"stopped after {result.n_written} of {result.n_planned} images")
        self.emit("collectEnded", None, "Data collection successful")

    @staticmethod
    def _publish(params: dict, result) -> None:
        """Where the frames went: read by queue entries after ``collect()`` returns."""
        params["detector_files"] = {
            "master": str(result.master) if result.master else None,
            "data_files": [str(p) for p in result.data_files],
            "n_written": result.n_written,
            "n_planned": result.n_planned,
            "aborted": result.aborted,
            "start_time": result.start_time,
            "end_time": result.end_time,
        }

    # AbstractCollect.do_collect only survives RuntimeError: an out-of-range value raised as
    # ValueError by an actuator would leave collect() waiting forever. Translate it.
    def _guarded(self, what: str, setter, value) -> None:
        try:
            setter(value)
        except RuntimeError:
            raise
        except Exception as exc:
            raise DetectorError(f"cannot set {what} to {value}: {exc}") from exc

    def set_transmission(self, value) -> None:
        self._guarded("the transmission", super().set_transmission, value)

    def set_energy(self, value) -> None:
        self._guarded("the energy", super().set_energy, value)

    def set_wavelength(self, value) -> None:
        self._guarded("the wavelength", super().set_wavelength, value)

    def set_resolution(self, value) -> None:
        self._guarded("the resolution", super().set_resolution, value)

    def move_motors(self, motor_position_dict, *args, **kwargs):
        try:
            return super().move_motors(motor_position_dict, *args, **kwargs)
        except RuntimeError:
            raise
        except Exception as exc:
            raise DetectorError(f"cannot move to {motor_position_dict}: {exc}") from exc

    def stop_collect(self) -> None:
        """Stop now: the running series is closed with the frames already written."""
        self._stop_requested = True
        super().stop_collect()
