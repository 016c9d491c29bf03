"""Bring the sample back into the beam after a kappa/phi change (adapter of interleave/orientation.py).

The pure core decides which wedge starts a new orientation and what is known there; this module
only finds the beamline's means and runs them:

* re-centre: the plugin's Murko centring (the ``murko`` role) where configured, else the
  diffractometer's own automatic centring through ``GenericDiffractometer``'s API
  (``start_centring_method(CENTRING_METHOD_AUTO)``, then its ``centringSuccessful`` /
  ``centringFailed`` signal). Not ``wait=True``: after a failure its ``ready_event`` is never set;
* correct: mxcubecore's ``MiniKappaCorrection`` (``shift(kappa1, phi1, [x, y, z], kappa2, phi2)``
  on the centring table and the alignment motor along the axis: ``sampx, sampy, phiy`` on an MD2,
  ``centringx, centringy, alignmenty`` on an MD3), found where EMBL's and SOLEIL's
  diffractometers keep it (``minikappa_correction_hwobj``, role ``minikappa_correction``) or as a
  beamline role of that name.

A failure records why, moves kappa/phi (and the centring motors) back to the orientation the
sample is centred at, and stops the collection before the wedge: nothing of it was collected,
and running the collection again resumes there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import gevent
import gevent.event

from mxcubecore_interleave.errors import InterleaveError
from mxcubecore_interleave.goniometer import MotorError, has_motor, move_motors, read_motors
from mxcubecore_interleave.interleave.bookkeeping import RecordKeeper, WedgeJob
from mxcubecore_interleave.interleave.orientation import (
    Orientation,
    OrientationPolicy,
    OrientationStep,
    OrientationTracker,
    count_new_orientations,
)
from mxcubecore_interleave.interleave.planner import Plan
from mxcubecore_interleave.record import OrientationChangeRecord

log = logging.getLogger("HWR")
user_log = logging.getLogger("user_level_log")

AUTO_CENTRING_TIMEOUT_S = 300.0
MOTION_TIMEOUT_S = 120.0
CORRECTION_ROLES = (("sampx", "sampy", "phiy"), ("centringx", "centringy", "alignmenty"))
"""The three motors ``MiniKappaCorrection.shift`` works on, MD2 names then MD3 names."""


class OrientationChangeError(InterleaveError):
    """The sample could not be brought back into the beam at a new kappa/phi."""


class _Signals:
    """Holds the outcome of a diffractometer centring (bound methods: signals hold slots weakly)."""

    def __init__(self) -> None:
        self.result = gevent.event.AsyncResult()

    def succeeded(self, *args: Any) -> None:
        self.result.set(("done", args))

    def failed(self, *args: Any) -> None:
        self.result.set(("failed", args))


def find_correction(bl: Any) -> Any:
    """The beamline's MiniKappaCorrection (anything with ``shift``), or None."""
    diffr = bl.diffractometer
    candidates = [getattr(diffr, "minikappa_correction_hwobj", None)]
    for owner in (diffr, bl):
        try:
            candidates.append(owner.get_object_by_role("minikappa_correction"))
        except Exception:
            pass
    return next((c for c in candidates if c is not None and callable(getattr(c, "shift", None))), None)


def _has_auto_centring(diffr: Any) -> bool:
    return callable(getattr(diffr, "start_centring_method", None)) and \
        getattr(diffr, "CENTRING_METHOD_AUTO", None) is not None


class OrientationChanger:
    """Runs the task's orientation policy before each wedge of one run of the entry."""

    def __init__(self, bl: Any, policy: OrientationPolicy, reference: Orientation,
                 sample_motors: Iterable[str]) -> None:
        self.bl = bl
        self.policy = policy
        self.reference = reference
        diffr = bl.diffractometer
        self.sample_motors = [r for r in sample_motors if has_motor(diffr, r)]
        self.tracker: OrientationTracker | None = None
        self.murko = bl.get_object_by_role("murko") if policy == "recentre" else None
        self.correction = find_correction(bl) if policy == "correct" else None

    @classmethod
    def prepare(cls, bl: Any, policy: OrientationPolicy, model: Any, p: Plan,
                sample_motors: Iterable[str]) -> "OrientationChanger":
        """Before anything moves: the reference orientation (the task's centred position, else
        the goniometer's), and a refusal if the plan changes orientation without the means."""
        changer = cls(bl, policy, cls._reference(bl, model), sample_motors)
        sweeps = {s.id: s for s in p.sweeps}
        steps = count_new_orientations([(sweeps[w.sweep].kappa, sweeps[w.sweep].phi) for w in p.wedges],
                                       changer.reference)
        if steps and policy == "recentre" and changer.murko is None and not _has_auto_centring(bl.diffractometer):
            raise OrientationChangeError(
                f"the sweeps change kappa/phi ({steps} new orientation(s)) and the task re-centres at each, but "
                f"the beamline has no 'murko' centring and {type(bl.diffractometer).__name__} no automatic "
                "centring (start_centring_method with CENTRING_METHOD_AUTO); configure one, or choose "
                "orientation change 'correct' (with a MiniKappaCorrection) or 'none'")
        if steps and policy == "correct":
            if changer.correction is None:
                raise OrientationChangeError(
                    "the task corrects the translations at kappa/phi changes, but the beamline has no "
                    "MiniKappaCorrection (role 'minikappa_correction' of the diffractometer or the beamline)")
            changer._correction_roles()
        return changer

    @staticmethod
    def _reference(bl: Any, model: Any) -> Orientation:
        cpos = getattr(model.acquisitions[0].acquisition_parameters, "centred_position", None)
        given = {k: getattr(cpos, k, None) for k in ("kappa", "kappa_phi")} if cpos is not None else {}
        diffr = bl.diffractometer
        out = []
        for role in ("kappa", "kappa_phi"):
            if given.get(role) is not None:
                out.append(float(given[role]))
            elif has_motor(diffr, role):
                out.append(read_motors(diffr, [role])[role])
            else:
                out.append(0.0)
        return out[0], out[1]

    def _correction_roles(self) -> tuple[str, str, str]:
        diffr = self.bl.diffractometer
        for roles in CORRECTION_ROLES:
            if all(has_motor(diffr, r) for r in roles):
                return roles
        raise OrientationChangeError(
            f"the MiniKappaCorrection needs the motors {' / '.join(', '.join(r) for r in CORRECTION_ROLES)}; "
            f"{type(diffr).__name__} has neither set")

    def _translations(self) -> dict[str, float]:
        return read_motors(self.bl.diffractometer, self.sample_motors)

    def _positions(self) -> dict[str, float]:
        diffr = self.bl.diffractometer
        roles = [r for r in ("omega", "kappa", "kappa_phi") if has_motor(diffr, r)]
        return {**read_motors(diffr, roles), **self._translations()}

    # -- run -------------------------------------------------------------------------------------
    def before_wedge(self, keeper: RecordKeeper, job: WedgeJob, target: Orientation) -> None:
        """The goniometer is at ``target`` (the settings were applied): bring the sample back if
        it changed orientation. Raises OrientationChangeError (recorded) when that fails."""
        if self.tracker is None:  # the translations at the reference: the run's starting point
            self.tracker = OrientationTracker.start(self.policy, self.reference, self._translations())
        step = self.tracker.step(target)
        if step is None:
            return
        before = self._translations()
        entry = dict(wedge=job.wedge_part, sweep=job.sweep, kappa_from=step.from_[0], phi_from=step.from_[1],
                     kappa=step.to[0], phi=step.to[1])
        method = "none"
        files: dict[str, str] = {}
        try:
            if step.method == "stored":
                method = "stored"
                move_motors(self.bl.diffractometer, dict(step.translations or {}), MOTION_TIMEOUT_S)
            elif step.method == "new" and self.policy == "correct":
                method = "correction"
                self._correct(step)
            elif step.method == "new":
                method = "murko" if self.murko is not None else "auto"
                files = self._recentre(keeper, job) if self.murko is not None else self._auto_centre()
        except BaseException as exc:
            why = str(exc) or type(exc).__name__
            if isinstance(exc, gevent.GreenletExit):
                why = "stopped during the orientation change"
            keeper.note_orientation(OrientationChangeRecord(**entry, method=method, status="failed",
                                                            positions=self._safe_positions(), error=why))
            back = self._go_back(step, before)
            if not isinstance(exc, Exception):
                raise
            raise OrientationChangeError(
                f"the sample could not be brought back into the beam at kappa {step.to[0]:g}, phi {step.to[1]:g} "
                f"before wedge {job.wedge_part} ({method}: {why}); {back}. Nothing of that wedge was collected: "
                "run the collection again to resume") from exc
        self.tracker.done(step, self._translations())
        positions = self._positions()
        keeper.note_orientation(OrientationChangeRecord(**entry, method=method, positions=positions, files=files))
        user_log.info("Interleaved collection %s: kappa %g, phi %g (wedge %s): %s", keeper.record.prefix,
                      step.to[0], step.to[1], job.wedge_part,
                      {"murko": "re-centred with Murko", "auto": "re-centred (automatic centring)",
                       "correction": "translations corrected", "stored": "back to its centred position",
                       "none": "no correction (as the task asks)"}[method])

    def _safe_positions(self) -> dict[str, float]:
        try:
            return self._positions()
        except Exception:
            return {}

    def _go_back(self, step: OrientationStep, translations: dict[str, float]) -> str:
        """After a failure: the orientation the sample is centred at, and its translations."""
        diffr = self.bl.diffractometer
        target = {r: v for r, v in zip(("kappa", "kappa_phi"), step.from_) if has_motor(diffr, r)}
        try:
            move_motors(diffr, {**target, **translations}, MOTION_TIMEOUT_S)
        except Exception as exc:
            log.exception("interleaved collection: could not move back to kappa/phi %s", step.from_)
            return f"moving back to kappa {step.from_[0]:g}, phi {step.from_[1]:g} failed too ({exc}): check the sample"
        return f"kappa/phi and the centring motors are back at kappa {step.from_[0]:g}, phi {step.from_[1]:g}"

    def _correct(self, step: OrientationStep) -> None:
        roles = self._correction_roles()
        x = read_motors(self.bl.diffractometer, roles)
        new = self.correction.shift(step.from_[0], step.from_[1], [x[r] for r in roles], step.to[0], step.to[1])
        target = {r: float(v) for r, v in zip(roles, list(new))}
        try:
            move_motors(self.bl.diffractometer, target, MOTION_TIMEOUT_S)
        except MotorError as exc:
            raise OrientationChangeError(f"the corrected position {target} was not reached: {exc}") from exc

    def _recentre(self, keeper: RecordKeeper, job: WedgeJob) -> dict[str, str]:
        """Murko centring (it puts the motors back itself when it fails)."""
        result = self.murko.centre(prefix=f"{keeper.record.prefix}_{job.wedge_part}_centring")
        return dict(getattr(result, "files", None) or {})

    def _auto_centre(self) -> dict[str, str]:
        """The diffractometer's automatic centring, through GenericDiffractometer's API."""
        diffr = self.bl.diffractometer
        if not _has_auto_centring(diffr):
            raise OrientationChangeError(f"{type(diffr).__name__} has no automatic centring")
        if getattr(diffr, "current_centring_method", None) is not None:
            raise OrientationChangeError(f"a {diffr.current_centring_method} centring is already running")
        signals = _Signals()
        diffr.connect("centringSuccessful", signals.succeeded)
        diffr.connect("centringFailed", signals.failed)
        try:
            diffr.start_centring_method(diffr.CENTRING_METHOD_AUTO)
            try:
                kind, args = signals.result.get(timeout=AUTO_CENTRING_TIMEOUT_S)
            except (gevent.Timeout, BaseException) as exc:
                cancel = getattr(diffr, "cancel_centring_method", None)
                if callable(cancel):
                    try:
                        cancel(reject=True)
                    except Exception:
                        log.exception("interleaved collection: could not cancel the automatic centring")
                if isinstance(exc, gevent.Timeout):
                    raise OrientationChangeError(
                        f"the automatic centring did not end within {AUTO_CENTRING_TIMEOUT_S:g} s") from None
                raise
        finally:
            diffr.disconnect("centringSuccessful", signals.succeeded)
            diffr.disconnect("centringFailed", signals.failed)
        status = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        if kind == "failed" or not status.get("valid", kind == "done"):
            raise OrientationChangeError(f"the automatic centring failed{': ' + status['error'] if status.get('error') else ''}")
        return {}
