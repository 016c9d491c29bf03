"""A thin collect that drives the simulated Eiger the way a site's collect drives its detector.

``AbstractCollect.do_collect`` does the common part (shutters, directories, energy, transmission,
resolution from the parameter dict); this class only adds ``data_collection_hook``: arm the
detector with a name pattern taken from ``fileinfo["template"]`` (the detector HO's own file
name, as SOLEIL's ``PX2Collect`` takes it), start it, trigger one frame per exposure period
while reporting progress, and return once the frames are acquired. The detector's filewriter closes the series a little later; the caller
learns what was written from disk. Nothing is published for the caller.

Quirks handled here (integration reference §1.10, §4): the image index in
``collectImageTaken`` is 0-based, as in the mockups; ``collectOscillationFinished`` is emitted
once (the stock mockup emits it twice); failures are raised as RuntimeError (anything else would
leave ``AbstractCollect.collect()`` waiting forever); a stop or kill ends the detector's series,
which keeps the frames already acquired, and releases the waiting caller.
"""

from __future__ import annotations

import logging
import time

import gevent
from mxcubecore import HardwareRepository as HWR
from mxcubecore.HardwareObjects.mockup.CollectMockup import CollectMockup

from mxcubecore_interleave.goniometer import has_motor, read_motors, set_phase
from mxcubecore_interleave.errors import DetectorError

log = logging.getLogger("HWR")
MASTER_SUFFIX = "_master.h5"


def name_pattern(fileinfo: dict) -> str:
    """The detector's series name: its master file name without ``_master.h5``."""
    template = str(fileinfo.get("template") or "")
    if template.endswith(MASTER_SUFFIX):
        return template[: -len(MASTER_SUFFIX)]
    return f"{fileinfo['prefix']}_{fileinfo['run_number']}"


class SimulatedEigerCollect(CollectMockup):
    """Configuration: ``readout_overhead`` (s per image on top of the exposure time)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._stop_requested = False

    def init(self) -> None:
        super().init()
        self.readout_overhead = float(self.get_property("readout_overhead", 0.0) or 0.0)

    def data_collection_hook(self) -> None:
        params = self.current_dc_parameters
        self._stop_requested = False
        osc = params["oscillation_sequence"][0]
        fileinfo = params["fileinfo"]
        detector = HWR.beamline.detector
        n = int(osc["number_of_images"])
        try:
            diffr = HWR.beamline.diffractometer
            motors = read_motors(diffr, [r for r in ("kappa", "kappa_phi") if has_motor(diffr, r)])
            wavelength = params.get("wavelength") or HWR.beamline.energy.get_wavelength()
            sample = params.get("sample_reference")
            detector.prepare_acquisition(
                fileinfo["directory"], name_pattern(fileinfo), n,
                omega_start=float(osc["start"]), omega_increment=float(osc["range"]),
                exposure_time=float(osc["exposure_time"]), wavelength_A=float(wavelength), kappa=float(motors.get("kappa") or 0.0),
                phi=float(motors.get("kappa_phi") or 0.0),
                first_image_number=int(osc.get("start_image_number", 1)),
                sample_name=str((sample or {}).get("sample_name") or "sample") if isinstance(sample, dict) else "sample")
        except DetectorError:
            raise
        except Exception as exc:  # only RuntimeError reaches collectOscillationFailed
            raise DetectorError(f"cannot prepare the simulated Eiger: {exc}") from exc

        self.emit("collectStarted", (None, 1))
        set_phase(HWR.beamline.diffractometer, "COLLECT")
        period = float(osc["exposure_time"]) + self.readout_overhead
        seen = 0
        try:
            detector.start_acquisition()
            for i in range(n):
                if self._stop_requested:
                    break
                t0 = time.monotonic()
                detector.trigger()
                gevent.sleep(max(0.0, period - (time.monotonic() - t0)))
                seen = i + 1
                self.emit("collectImageTaken", i)
                self.emit("progressStep", int(100.0 * seen / n))
            if seen < n:
                detector.stop_acquisition()
        except BaseException:
            # killed (stop_collect), or failed: the detector keeps what it acquired
            detector.stop_acquisition()
            self.emit("collectOscillationFailed", (None, False, "Data collection aborted",
                                                   params.get("collection_id"), None))
            self.emit("progressStop", ())
            self.ready_event.set()
            raise
        if detector.error:
            raise DetectorError(f"the simulated Eiger failed after {seen} of {n} images: {detector.error}")
        if seen < n:
            raise DetectorError(f"stopped after {seen} of {n} images")
        self.emit("collectEnded", None, "Data collection successful")

    # AbstractCollect.do_collect sets energy, transmission and resolution from the parameter
    # dict before the hook. Like many site collects, a value already in place is not set again
    # (the interleaved entry has set it when it changed). do_collect only survives RuntimeError:
    # an out-of-range value raised as ValueError by an actuator would leave collect() waiting
    # forever, so it is translated.
    def _guarded(self, what: str, setter, value, actuator=None, tol: float = 1e-4) -> None:
        try:
            if actuator is not None and abs(float(actuator.get_value()) - float(value)) <= tol:
                return
        except Exception:
            pass  # cannot read it: set it
        try:
            setter(value)
        except RuntimeError:
            raise
        except Exception as exc:
            raise DetectorError(f"cannot set {what} to {value}: {exc}") from exc

    def set_transmission(self, value) -> None:
        self._guarded("the transmission", super().set_transmission, value, HWR.beamline.transmission, 1e-6)

    def set_energy(self, value) -> None:
        self._guarded("the energy", super().set_energy, value, HWR.beamline.energy)

    def set_wavelength(self, value) -> None:
        energy = HWR.beamline.energy
        self._guarded("the wavelength", super().set_wavelength, value,
                      type("_W", (), {"get_value": staticmethod(energy.get_wavelength)})() if energy else None, 1e-6)

    def set_resolution(self, value) -> None:
        self._guarded("the resolution", super().set_resolution, value, HWR.beamline.resolution, 1e-3)

    def move_motors(self, motor_position_dict, *args, **kwargs):
        try:
            return super().move_motors(motor_position_dict, *args, **kwargs)
        except RuntimeError:
            raise
        except Exception as exc:
            raise DetectorError(f"cannot move to {motor_position_dict}: {exc}") from exc

    def stop_collect(self) -> None:
        """Stop now: the detector ends the series with the frames already acquired."""
        self._stop_requested = True
        HWR.beamline.detector.stop_acquisition()
        super().stop_collect()
