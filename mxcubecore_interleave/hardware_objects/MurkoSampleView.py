"""mxcubecore's SampleView with automatic centring by Murko.

In mxcubecore 2.149 automatic centring lives in the sample view: mxcubeweb's auto-centring button
and the queue's sample mounting (``CENTRING_METHOD.LOOP`` / ``FULLY_AUTOMATIC``) both call
``sample_view.start_auto_centring()`` and wait for ``centringAccepted``. This subclass runs the
``murko`` HardwareObject (``MurkoCentring``) there instead of lucid, and emits the usual signals
on the sample view:

* ``centringStarted("Murko")``;
* on success ``centringSuccessful("Murko", status)`` then ``centringAccepted(True, status)``,
  where ``status["motors"]`` is the centred position and ``status["murko"]`` holds the fit RMS
  and the paths of the stored HDF5 / PLY / PNG;
* on failure ``centringFailed("Murko", status)`` then ``centringAccepted(False, status)``;
  the motors are where they were before.

Example XML (``configuration/sample_view.xml``)::

    <object class="mxcubecore_interleave.hardware_objects.MurkoSampleView">
      <object href="/md_camera" role="camera"/>
      <centring_motors>["omega", "phiy", "phiz", "sampx", "sampy"]</centring_motors>
      <murko_role>murko</murko_role>
    </object>

Without a ``murko`` object in the beamline it falls back to mxcubecore's own auto-centring.
"""

from __future__ import annotations

import logging
from typing import Any

import gevent
from mxcubecore import HardwareRepository as HWR
from mxcubecore.HardwareObjects.SampleView import SampleView

from mxcubecore_interleave.hardware_objects.MurkoCentring import METHOD

__all__ = ["MurkoSampleView"]

log = logging.getLogger("HWR")


class MurkoSampleView(SampleView):
    """SampleView whose automatic centring is Murko's."""

    class HOConfig(SampleView.HOConfig):
        murko_role: str = "murko"
        use_murko: bool = True

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.last_murko_result = None
        self._murko_task: gevent.Greenlet | None = None

    def murko(self):
        """The MurkoCentring object of the beamline, or None."""
        if not self.config.use_murko or HWR.beamline is None:
            return None
        return HWR.beamline.get_object_by_role(self.config.murko_role)

    def start_auto_centring(self) -> dict:
        """Start a Murko centring in a greenlet; returns at once (like the stock method).

        ``centringStarted`` is emitted before returning, as the stock sample view does. Returns a
        small dict (mxcubeweb's route for an exported method needs a JSON-serialisable value).
        """
        murko = self.murko()
        if murko is None:
            log.warning("MurkoSampleView: no '%s' object; using mxcubecore's auto-centring", self.config.murko_role)
            super().start_auto_centring()
            return {"method": "Automatic", "started": True}
        if self.current_centring_procedure is not None or murko.is_busy():
            log.error("MurkoSampleView: a centring is already running; its signals will follow")
            return {"method": METHOD, "started": False, "reason": "a centring is already running"}
        self._start(murko)
        self._murko_task = gevent.spawn(self._run, murko, None, None, {})
        self.current_centring_procedure = self._murko_task
        return {"method": METHOD, "started": True}

    def centre_with_murko(self, output_dir=None, prefix=None, **overrides: Any):
        """Centre now with Murko, emitting the sample view's centring signals; blocks the caller.

        Returns the ``MurkoCentringResult``, or None when the centring failed (the signals carry
        the reason; the motors are where they were).
        """
        murko = self.murko()
        if murko is None:
            raise RuntimeError(f"no '{self.config.murko_role}' object in the beamline configuration")
        self._start(murko)
        return self._run(murko, output_dir, prefix, overrides)

    def _start(self, murko: Any) -> None:
        self.current_centring_method = METHOD
        self.emit("centringStarted", (METHOD,))

    def _run(self, murko: Any, output_dir, prefix, overrides: dict[str, Any]):
        diffractometer = HWR.beamline.diffractometer
        try:
            diffractometer.wait_status_ready(60)
            diffractometer.set_phase(diffractometer.get_phase_enum.CENTRE)
            result = murko.centre(output_dir=output_dir, prefix=prefix, **overrides)
        except gevent.GreenletExit:
            self._murko_failed("cancelled")
            raise
        except Exception as exc:  # reported through the signals, never raised into the hub
            log.error("Murko centring failed: %s", exc)
            self._murko_failed(str(exc))
            return None
        finally:
            self._murko_task = None
        self.last_murko_result = result
        self.centring_status = result.status()
        diffractometer.save_centring_positions()
        self.emit("centringSuccessful", (METHOD, self.get_centring_status()))
        self.current_centring_method = None
        self.current_centring_procedure = None
        self.accept_centring()
        return result

    def cancel_centring(self) -> None:
        """Abort a running Murko centring (the motors go back); otherwise the stock behaviour."""
        task = self._murko_task
        if task is not None and not task.dead and task is not gevent.getcurrent():
            task.kill(block=True)
            return
        super().cancel_centring()

    def _murko_failed(self, reason: str) -> None:
        # "motors" (where the sample still is) because listeners such as mxcubeweb's adapter read
        # status["motors"] on every centringAccepted, successful or not
        self.centring_status = {"valid": False, "method": METHOD, "error": reason, "motors": self.get_positions()}
        self.emit("centringFailed", (METHOD, self.get_centring_status()))
        self.current_centring_method = None
        self.current_centring_procedure = None
        self.centring_status["valid"] = False
        self.emit("centringAccepted", (False, self.get_centring_status()))
