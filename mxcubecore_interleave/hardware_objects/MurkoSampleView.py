"""mxcubecore's SampleView with automatic centring by Murko.

In mxcubecore 2.149 automatic centring lives in the sample view: mxcubeweb's auto-centring button
and the queue's sample mounting (``CENTRING_METHOD.LOOP`` / ``FULLY_AUTOMATIC``) both call
``sample_view.start_auto_centring()`` and wait for ``centringAccepted``. This subclass runs the
``murko`` HardwareObject (``MurkoCentring``) there instead of lucid, and emits the usual signals
on the sample view:

* ``centringStarted("Murko")``;
* on success, as soon as the motors are in place, ``centringSuccessful("Murko", status)`` then
  ``centringAccepted(True, status)``, where ``status["motors"]`` is the centred position and
  ``status["murko"]`` holds the fit RMS; the centred position is saved as a point (the one
  mxcubeweb adds on these signals, or a new one without a front end);
* then ``centringFilesStored("Murko", status)`` once the HDF5 / PLY / PNG are written, with their
  paths in ``status["murko"]["files"]``; the same paths are attached to the saved point's centred
  position (``point.get_centred_position().murko_files``, ``centring_method = "murko"``);
* on failure ``centringFailed("Murko", status)`` (``status["error"]`` the reason, also said on
  the user-level log) then ``centringAccepted(False, status)``; the motors are where they were
  before and no centred point is saved.

The auto-centring button's files go to the mounted sample's processing directory, named with
its default prefix, as the queue's tasks for that sample would be
(``session.get_process_directory(session.get_default_subdir(sample))``); with no sample known
they go to ``<base process directory>/murko``.

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
from pathlib import Path
from typing import Any

import gevent
from mxcubecore import HardwareRepository as HWR
from mxcubecore.HardwareObjects.SampleView import Point, SampleView

from mxcubecore_interleave import goniometer
from mxcubecore_interleave.hardware_objects.MurkoCentring import METHOD

__all__ = ["MurkoSampleView"]

log = logging.getLogger("HWR")
user_log = logging.getLogger("user_level_log")


class MurkoSampleView(SampleView):
    """SampleView whose automatic centring is Murko's."""

    class HOConfig(SampleView.HOConfig):
        murko_role: str = "murko"
        use_murko: bool = True

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.last_murko_result = None
        self.last_murko_point: Point | None = None
        self._murko_task: gevent.Greenlet | None = None

    def init(self) -> None:
        super().init()
        from mxcubecore_interleave.web import activate_if_running

        activate_if_running()  # mxcubeweb's adapter for this class, when mxcubeweb is the front end

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
        centred: dict[str, Any] = {}

        def on_centred(result: Any) -> None:  # the motors are in place; the files come later
            self._murko_task_done()
            self.centring_status = result.status()
            goniometer.save_centring_positions(diffractometer)
            self.emit("centringSuccessful", (METHOD, self.get_centring_status()))
            self.current_centring_method = None
            self.current_centring_procedure = None
            self.accept_centring()
            centred["point"] = self._centred_point(result.centred_position)

        try:
            if output_dir is None:
                output_dir, default_prefix = self.sample_output()
                prefix = prefix or default_prefix
            goniometer.wait_diffractometer_ready(diffractometer, 60)
            goniometer.set_centring_phase(diffractometer)
            result = murko.centre(output_dir=output_dir, prefix=prefix, on_centred=on_centred, **overrides)
        except gevent.GreenletExit:
            if "point" not in centred:
                self._murko_task_done()
                self._murko_failed("cancelled")
            raise
        except Exception as exc:  # reported through the signals, never raised into the hub
            self._murko_task_done()
            log.error("Murko centring failed: %s", exc)
            self._murko_failed(str(exc))
            return None
        self._attach_files(centred.get("point"), result)
        self.last_murko_result = result
        return result

    def _murko_task_done(self) -> None:
        if self._murko_task is gevent.getcurrent():
            self._murko_task = None

    def _centred_point(self, motors: dict[str, float]) -> Point:
        """The saved point of this centred position: the newest one at these motor positions
        (mxcubeweb adds it on centringSuccessful / centringAccepted), else a new one."""
        for point in reversed(self.get_points()):
            saved = point.get_centred_position().as_dict()
            if all(saved.get(role) is not None and abs(float(saved[role]) - float(value)) < 1e-6
                   for role, value in motors.items() if role in saved):
                break
        else:
            x, y = self.motor_positions_to_screen(motors)
            point = self.add_shape_from_mpos([dict(motors)], (x, y), "P")
            self.emit("shapesChanged")
        cpos = point.get_centred_position()
        cpos.centring_method = "murko"
        cpos.murko_files = {}
        self.last_murko_point = point
        return point

    def _attach_files(self, point: Point | None, result: Any) -> None:
        """Put the stored file paths on the saved point's centred position and in the status."""
        files = dict(result.files)
        if point is not None:
            point.get_centred_position().murko_files = files
        murko_status = self.centring_status.get("murko")
        if isinstance(murko_status, dict):
            murko_status.update(files=files, files_pending=False)
        if "store" in result.timings_s:  # storing was asked for (the paths are {} if it failed)
            self.emit("centringFilesStored", (METHOD, self.get_centring_status()))

    def sample_output(self) -> tuple[Path | None, str | None]:
        """Processing directory and prefix of the mounted sample, as its queue tasks get them.

        The mounted sample is the sample changer's loaded one; its queue node (same location)
        gives the protein acronym and name. (None, None) when no sample is known.
        """
        beamline = HWR.beamline
        changer = getattr(beamline, "sample_changer", None)
        try:
            loaded = changer.get_loaded_sample() if changer is not None else None
            if loaded is None:
                log.warning("MurkoSampleView: no mounted sample known; Murko files go to the session's murko directory")
                return None, None
            session = beamline.session
            node = _queue_sample(loaded)
            if node is not None:
                subdir, prefix = session.get_default_subdir(node), session.get_default_prefix(node)
            else:
                name = str(loaded.get_name() or loaded.get_address()).replace(":", "-")
                subdir = session.get_default_subdir({"sampleName": name, "proteinAcronym": ""})
                prefix = name
            return Path(session.get_process_directory(subdir)), _safe_prefix(prefix)
        except Exception:  # never lose a centring over a directory name: fall back, say so
            log.exception("MurkoSampleView: could not find the mounted sample's directory; using the session's")
            return None, None

    def cancel_centring(self) -> None:
        """Abort a running Murko centring (the motors go back); otherwise the stock behaviour.

        Once the motors are in place the centring is done: writing its files is not cancelled.
        """
        task = self._murko_task
        if task is not None and not task.dead and task is not gevent.getcurrent():
            task.kill(block=True)
            return
        super().cancel_centring()

    def _murko_failed(self, reason: str) -> None:
        """A failed or refused centring saves no point and says why.

        ``centringFailed`` is the failure signal mxcubeweb (``_wait_for_centring_finishes``) and
        mxcubeqt react to. ``centringAccepted(False)`` still follows, because mxcubecore's sample
        mounting waits for it; but mxcubeweb 4.791's ``_centring_add_current_point`` saves a
        point on it whatever the flag, so any point added while it is emitted is removed again.
        """
        # "motors" (where the sample still is): listeners such as mxcubeweb's adapter read it
        self.centring_status = {"valid": False, "method": METHOD, "error": reason, "motors": self.get_positions()}
        self.emit("centringFailed", (METHOD, self.get_centring_status()))
        self.current_centring_method = None
        self.current_centring_procedure = None
        self.centring_status["valid"] = False
        user_log.error("Automatic centring failed: %s. The motors are where they were; no centred point "
                       "was saved", reason.rstrip(". "))
        before = {shape.id for shape in self.get_shapes()}
        self.emit("centringAccepted", (False, self.get_centring_status()))
        added = [shape.id for shape in self.get_shapes() if shape.id not in before]
        for sid in added:
            self.delete_shape(sid)
        if added:
            self.emit("shapesChanged")


def _queue_sample(loaded: Any) -> Any:
    """The queue model's Sample node at the sample changer sample ``loaded``'s location."""
    from mxcubecore.model import queue_model_objects as qmo

    queue_model = getattr(HWR.beamline, "queue_model", None)
    if queue_model is None:
        return None
    address = str(loaded.get_address())
    coords = tuple(loaded.get_coords()) if hasattr(loaded, "get_coords") else None
    stack = [queue_model.get_model_root()]
    while stack:
        node = stack.pop()
        if isinstance(node, qmo.Sample):
            location = tuple(str(v) for v in node.location) if node.location else None
            if node.loc_str == address or (coords and location == tuple(str(v) for v in coords)):
                return node
        stack.extend(node.get_children())
    return None


def _safe_prefix(prefix: str | None) -> str | None:
    """A file-name prefix from LIMS names (``check_name``'s characters), or None."""
    import re

    if not prefix:
        return None
    cleaned = re.sub(r"[^A-Za-z0-9_.+-]", "_", str(prefix)).strip("._+-")
    return cleaned or None
