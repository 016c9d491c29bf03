"""Queue entry "interleaved_collection": sweeps cut into wedges, collected in an interleaved order.

A thin adapter between mxcubecore's queue and the pure core (``mxcubecore_interleave.interleave``):

* the task parameters (``DATA_MODEL``: the five groups mxcubeweb turns into a form) become an
  ``InterleavedTask``; the planner orders its wedges;
* the entry stores one LIMS DataCollectionGroup ("Collect - Multiwedge") and one DataCollection
  per sweep (mxcubecore's collect skips LIMS for interleaved series), updated at the end with
  the frames actually collected;
* each wedge is its own detector series through ``HWR.beamline.collect``, any site's collect,
  with a unique prefix (``<prefix>_<sweep>_w<NNN>``); what it wrote is read from disk once the
  filewriter has closed it (``collect_contract``); energy, kappa/phi, transmission and
  resolution are set only when they change;
* after each wedge the acquisition record (``<prefix>_<run>_acquisition.json``) is written
  atomically and progress goes out on the queue manager's ``queue_interleaved_sw_done``;
* stopping: mxcubecore's queue has one stop, ``QueueManager.stop()``, which mxcubeweb's Stop
  and Abort and Qt's Stop all call, and which kills the queue's greenlet. It aborts the running
  wedge at once (``stop()``), except while the collection is held by the queue's Pause between
  two wedges: then nothing is cut and it ends there ("stopped"). Pause itself finishes the
  running wedge and waits; ``stop_after_wedge()`` (or ``stop_after_current_wedge()``) finishes
  the running wedge and ends the queue. Either way the record says what was collected, and
  running the entry again resumes with the wedges not yet collected;
* sweep masters come from the ``master_file_repackager`` role, after the collection (and before
  it with ``write_masters_before``).

Why the queue model is a ``TaskNode`` and not a ``DataCollection``: mxcubeweb serialises any
``DataCollection`` subclass as a plain DataCollection (integration reference §2.4), so a reloaded
queue would lose the task type and its sweeps. The price: no built-in run-number collision check
(the entry picks a free run itself and refuses to overwrite any file) and no
``isinstance(DataCollection)`` conveniences in front ends.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any, Literal

import gevent
import gevent.event
from mxcubecore import HardwareRepository as HWR
from mxcubecore.model.common import (
    CommonCollectionParamters,
    LegacyParameters,
    PathParameters,
    StandardCollectionParameters,
)
from mxcubecore.queue_entry.base_queue_entry import (
    BaseQueueEntry,
    QueueAbortedException,
    QueueExecutionException,
    TaskPrerequisite,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mxcubecore_interleave.eiger.written import WrittenSeries
from mxcubecore_interleave.errors import (
    DetectorError,
    InterleaveError,
    OverwriteRefusedError,
    RecordError,
)
from mxcubecore_interleave.interleave import (
    TASK_SCHEMA_VERSION,
    InterleavedTask,
    Plan,
    Sweep,
    check_limits,
    plan,
)
from mxcubecore_interleave.interleave.bookkeeping import RecordKeeper, WedgeJob, differences, record_prefix
from mxcubecore_interleave.interleave.form_schema import form_schema, form_ui_schema
from mxcubecore_interleave.interleave.orientation import ORIENTATION_CHANGE_HELP, ORIENTATION_CHANGE_TITLE, OrientationPolicy
from mxcubecore_interleave.interleave.task import explain
from mxcubecore_interleave.queue_entries.collect_contract import (
    EXPERIMENT_TYPE,
    CollectSettings,
    collect_parameters,
    collect_settings,
    master_finder,
    wait_for_series,
)
from mxcubecore_interleave.goniometer import has_motor, move_motors, read_motors
from mxcubecore_interleave.queue_entries.beamline_limits import CENTRED_MOTORS, beamline_limits, goniometer_motors
from mxcubecore_interleave.queue_entries.collection_directory import choose_run, data_directory, run_of
from mxcubecore_interleave.queue_entries.interleave_lims import finalize_lims, store_lims, update_sweep
from mxcubecore_interleave.queue_entries.orientation_change import OrientationChanger
from mxcubecore_interleave.queue_entries.standard_fields import FIELDS_REPLACED_BY, NEVER_READ_FIELDS
from mxcubecore_interleave.queue_entries.task_node import PluginTaskNode
from mxcubecore_interleave.queue_entries.duplicate_task import refuse_pending_twin
from mxcubecore_interleave.queue_entries.task_messages import ReadableParameters
from mxcubecore_interleave.queue_entries.task_outcome import announce, outcome_of, refusal
from mxcubecore_interleave.queue_entries.uninterruptible import uninterruptible
from mxcubecore_interleave.record import RECORD_SUFFIX, AcquisitionRecord

__all__ = [
    "CollectSettings",
    "EXPERIMENT_TYPE",
    "InterleavedCollectionQueueEntry",
    "InterleavedCollectionQueueModel",
    "InterleavedCollectionTaskParameters",
    "InterleavedUserParameters",
    "QUEUE_SCHEMA_VERSION",
    "TASK_FROM_QUEUE",
    "beamline_limits",
    "collect_settings",
    "register",
    "stop_after_current_wedge",
    "task_from_parameters",
]

log = logging.getLogger("HWR")
user_log = logging.getLogger("user_level_log")
class InterleavedUserParameters(BaseModel):
    """What the user chooses for an interleaved collection (the task's own form fields)."""

    model_config = ConfigDict(extra="ignore")

    sweeps: list[Sweep] = Field(
        default_factory=list, title="Sweeps",
        description="one row per sweep; empty: one sweep from the standard collection fields")
    wedge_size: float = Field(10, title="Wedge size", description="images (or degrees) per wedge")
    wedge_unit: Literal["images", "degrees"] = Field("images", title="Wedge unit")
    strategy: Literal["min_motion", "inverse_adjacent", "round_robin"] = Field(
        "min_motion", title="Order", description="min_motion: fewest energy/kappa/phi changes")
    images_per_file: int | None = Field(None, ge=1, title="Images per data file",
                                        description="empty: one data file per wedge")
    write_masters_before: bool = Field(False, title="Sweep masters before collecting")
    exp_time: float = Field(0.01, gt=0, title="Exposure time (s)", description="for a sweep from the standard fields")
    orientation_change: OrientationPolicy = Field("recentre", title=ORIENTATION_CHANGE_TITLE,
                                                  description=ORIENTATION_CHANGE_HELP)


class InterleavedPathParameters(PathParameters):
    """mxcubecore's path group; ``experiment_name`` is not used here, so it may be left out."""

    experiment_name: str | None = None


class InterleavedCommonParameters(CommonCollectionParamters):
    """mxcubecore's common group with this task's type and label as defaults.

    mxcubeweb's ``acq_parameters`` (``GET /queue/available_tasks``) lack ``type``, ``label``,
    ``experiment_name`` and ``beam_size``; with these defaults a script can post those
    parameters plus the task's own fields, as the UI does.
    """

    type: str = "interleaved_collection"
    label: str = "Interleaved collection"


class InterleavedStandardParameters(StandardCollectionParameters):
    """mxcubecore's collection group; the beam size comes from the beamline, not the task."""

    beam_size: str = ""


class InterleavedCollectionTaskParameters(ReadableParameters):
    """The five parameter groups mxcubeweb fills for every generic task."""

    path_parameters: InterleavedPathParameters
    common_parameters: InterleavedCommonParameters
    collection_parameters: InterleavedStandardParameters
    user_collection_parameters: InterleavedUserParameters
    legacy_parameters: LegacyParameters

    @model_validator(mode="after")
    def _valid_task(self) -> "InterleavedCollectionTaskParameters":
        task = task_from_parameters(self)  # raises ValueError with the scientist's message
        bl = getattr(HWR, "beamline", None)
        if getattr(bl, "energy", None) is not None:
            # refuse out-of-range values when the task is added (the queue API answers with
            # this message), not only when it starts; the start checks again
            try:
                check_limits(task, beamline_limits(bl))
            except InterleaveError as exc:
                raise ValueError(str(exc)) from None
        return self

    @staticmethod
    def update_dependent_fields(field_data: dict) -> dict:
        return {}

    @classmethod
    def ui_schema(cls) -> str:
        return form_ui_schema(cls.model_json_schema())

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """What mxcubeweb's and the Qt form show: the task's fields with the beamline's limits."""
        bl = getattr(HWR, "beamline", None)
        limits = beamline_limits(bl) if getattr(bl, "energy", None) is not None else None
        return form_schema(super().model_json_schema(*args, **kwargs), limits)


QUEUE_SCHEMA_VERSION = "mxcube-interleaved-queue-task/1"

# Where each InterleavedTask field comes from in the DATA_MODEL (task_from_parameters does this;
# ``mxcube-interleave schema --queue-model`` prints it as "x-task-mapping").
TASK_FROM_QUEUE = {
    "schema_version": f"fixed: {TASK_SCHEMA_VERSION}",
    "sweeps": "user_collection_parameters.sweeps; if empty, one sweep 's1' from collection_parameters "
              "(energy, kappa, kappa_phi, osc_start, osc_range, num_images, transmission, resolution), "
              "user_collection_parameters.exp_time and legacy_parameters.inverse_beam",
    "wedge_size": "user_collection_parameters.wedge_size",
    "wedge_unit": "user_collection_parameters.wedge_unit",
    "strategy": "user_collection_parameters.strategy",
    "prefix": "path_parameters.prefix",
    "subdir": "path_parameters.subdir (the directory is the session's RAW_DATA/<subdir>[/<experiment_name>], "
              "set by the queue builder)",
    "run_number": "not in the DATA_MODEL: the entry picks it when it starts (resume or next free run)",
    "images_per_file": "user_collection_parameters.images_per_file",
    "write_masters_before": "user_collection_parameters.write_masters_before",
    "orientation_change": "user_collection_parameters.orientation_change",
}


def task_from_parameters(params: InterleavedCollectionTaskParameters, run: int = 1) -> InterleavedTask:
    """The pure task of the queue parameters (ValueError with a readable message if invalid)."""
    user = params.user_collection_parameters
    sweeps = list(user.sweeps)
    if not sweeps:
        c = params.collection_parameters
        sweeps = [Sweep(id="s1", energy_keV=c.energy, kappa=c.kappa or 0.0, phi=c.kappa_phi or 0.0,
                        omega_start=c.osc_start or 0.0, osc_range=c.osc_range or 0.1, num_images=c.num_images,
                        exposure_time=user.exp_time, transmission=c.transmission, resolution=c.resolution,
                        inverse_beam=bool(params.legacy_parameters.inverse_beam))]
    try:
        return InterleavedTask(
            sweeps=sweeps, wedge_size=user.wedge_size, wedge_unit=user.wedge_unit, strategy=user.strategy,
            prefix=params.path_parameters.prefix, subdir=params.path_parameters.subdir or "", run_number=run,
            images_per_file=user.images_per_file, write_masters_before=user.write_masters_before,
            orientation_change=user.orientation_change)
    except ValidationError as exc:
        raise ValueError(explain(exc)) from None


class InterleavedCollectionQueueModel(PluginTaskNode):
    """Queue model of an interleaved collection: a generic task node with ``task_data``."""

    def __init__(self, task_data: InterleavedCollectionTaskParameters | None = None) -> None:
        super().__init__("interleaved_collection", task_data)
        self.lims_group_id = None
        self.interleave_num_images = None  # > 0: mxcubeweb reads progress from queue_interleaved_sw_done
        self.record_path: str | None = None
        self.sweep_masters: list[str] = []
        if task_data is not None:
            refuse_pending_twin(InterleavedCollectionQueueModel, task_data)
            self.fill_acquisition_parameters()

    def get_display_name(self) -> str:
        return "Interleaved collection"

    def get_task(self, run: int | None = None) -> InterleavedTask:
        run = run or self.get_path_template().run_number or 1
        return task_from_parameters(self.task_data, run=run)

    def fill_acquisition_parameters(self) -> None:
        """What the queue builder leaves empty for a generic task (reference §2.4)."""
        task = self.get_task()
        first = task.all_sweeps()[0]
        ap = self.acquisitions[0].acquisition_parameters
        ap.num_images = task.total_images
        ap.first_image = 1
        ap.osc_start = first.omega_start
        ap.osc_range = first.osc_range
        ap.exp_time = first.exposure_time
        ap.energy = first.energy
        ap.transmission = first.transmission
        if first.resolution is not None:
            ap.resolution = first.resolution
        ap.kappa, ap.kappa_phi = first.kappa, first.phi
        ap.take_snapshots = 0
        self.interleave_num_images = task.wedge_images(first)


class InterleavedCollectionQueueEntry(BaseQueueEntry):
    """Collect the wedges of an interleaved task; keep the acquisition record; resume after a stop."""

    QMO = InterleavedCollectionQueueModel
    DATA_MODEL = InterleavedCollectionTaskParameters
    NAME = "Interleaved collection"
    REQUIRES = [TaskPrerequisite.POINT, TaskPrerequisite.NO_SHAPE_2D]
    # for forms (Qt's TaskForm): standard fields the task does not read, always or with sweeps
    FIELDS_REPLACED_BY, NEVER_READ_FIELDS = FIELDS_REPLACED_BY, NEVER_READ_FIELDS

    def __init__(self, view=None, data_model: InterleavedCollectionQueueModel | None = None) -> None:
        super().__init__(view=view, data_model=data_model)
        # stop requests: kept until a run honours them (a request made before execute() starts
        # is not lost), dropped when the queue stops while this entry is not running
        self._abort = False
        self._stop_after_wedge = False
        self._held = False  # waiting in the queue's Pause between two wedges
        self._collecting = False  # a wedge of this entry is in HWR.beamline.collect
        self._failure: str | None = None
        self.keeper: RecordKeeper | None = None
        self.plan: Plan | None = None
        self.bookkeeping_s: list[float] = []  # per wedge, without the hardware time
        self._idle = gevent.event.Event()  # set when no execute() of this entry is running
        self._idle.set()
        qm = getattr(getattr(HWR, "beamline", None), "queue_manager", None)
        if qm is not None:  # a bound method: PyDispatcher holds slots weakly
            qm.connect("queue_stopped", self._queue_stopped)

    def wait_idle(self, timeout: float | None = 60.0) -> bool:
        """Wait until a stopped run has settled its record (and sweep masters); True if idle."""
        return self._idle.wait(timeout)

    # -- control ----------------------------------------------------------------------------------
    def stop(self) -> None:
        """What the queue's stop calls: abort the running wedge now (its frames are kept and
        recorded). Held by the queue's Pause between two wedges, nothing is cut: the collection
        ends there ("stopped")."""
        if self._held:
            self._stop_after_wedge = True
            text = "Stopped"
        else:
            self._abort = True
            text = "Aborted"
        view = self.get_view()
        if view is not None:
            view.setText(1, text)
        collect = HWR.beamline.collect
        if self._collecting and collect is not None:  # never another task's collection
            collect.stop_collect()
        logging.getLogger("queue_exec").info("Calling stop on: %s", self)

    def stop_after_wedge(self) -> None:
        """End after the wedge being collected (nothing cut short) and stop the queue.

        Asked before the entry runs, it ends the entry before its first wedge.
        """
        self._stop_after_wedge = True

    def _queue_stopped(self, *args) -> None:
        # the queue stopped while this entry was not running (e.g. waiting in the queue's pause
        # before it): a stop aimed at that queue run must not stop the next one
        if self._idle.is_set():
            self._abort = self._stop_after_wedge = False

    def post_execute(self) -> None:
        """An unfinished collection stays checked (with its sample and group) so that running the
        queue again resumes it; a finished one is marked executed as usual."""
        super().post_execute()
        keeper = self.keeper
        if keeper is not None and keeper.record.status == "completed":
            return  # (no keeper: stopped before its first wedge, still to do)
        self._keep_checked()
        # the sample's and group's post_execute run after this one (normal end, soft stop): check
        # them again once they are done
        gevent.spawn_later(0, self._keep_checked)

    def _keep_checked(self) -> None:
        entry: Any = self
        while entry is not None and hasattr(entry, "get_data_model"):
            model = entry.get_data_model()
            if model is not None and hasattr(model, "set_executed"):
                model.set_executed(False)
                model.set_enabled(True)
            entry.set_enabled(True)
            entry = entry.get_container() if hasattr(entry, "get_container") else None

    # -- run ----------------------------------------------------------------------------------------
    def execute(self) -> None:
        # a run killed by the queue's stop settles its record after the queue says "stopped":
        # never let a new run overlap it
        if not self._idle.wait(120):
            raise QueueExecutionException("the previous run of this collection is still ending", self)
        self._idle.clear()
        try:
            self._execute()
        finally:
            # the requests were for this run (honoured, or the run ended anyway)
            self._abort = self._stop_after_wedge = self._held = self._collecting = False
            self._idle.set()

    def _execute(self) -> None:
        super().execute()
        if self._abort or self._stop_after_wedge:  # asked before the run started: nothing moves
            what = "aborted" if self._abort else "stopped"
            raise QueueAbortedException(f"interleaved collection {what} before its first wedge; "
                                        "run it again to start it", self)
        self._failure = None
        model: InterleavedCollectionQueueModel = self.get_data_model()
        bl = HWR.beamline
        pt = model.get_path_template()
        try:
            directory = data_directory(pt.directory, bl.session)
            task0 = model.get_task(1)
            check_limits(task0, beamline_limits(bl))
            run, resume = self._choose_run(directory, task0.prefix)
            pt.run_number = run
            task = model.get_task(run)
            self.plan = p = plan(task)
            model.fill_acquisition_parameters()
            orientation = OrientationChanger.prepare(bl, task.orientation_change, model, p, CENTRED_MOTORS)
            keeper = self._open_record(p, directory, run, resume)
        except (InterleaveError, ValueError) as exc:
            announce(bl.queue_manager, model, refusal(model.task_data.path_parameters.prefix, str(exc)))
            raise QueueExecutionException(f"interleaved collection refused: {exc}", self) from exc
        self.keeper = keeper
        model.record_path = str(keeper.path)
        if task.write_masters_before:
            if self._sweep_masters("before"):
                split = ", ".join(f"{s.id} {s.images_per_file}" for s in keeper.record.sweeps)
                user_log.info("Interleaved collection %s: the sweep masters written before the collection assume "
                              "images per data file %s (the plan's split); after it they are written again "
                              "from the files the detector wrote", keeper.record.prefix, split)
        qm = bl.queue_manager
        qm.emit("queue_interleaved_started", ())
        jobs = keeper.pending()
        n_total = len(keeper.record.wedges)
        done_before = n_total - len(jobs)
        user_log.info("Interleaved collection %s: %d wedges to collect (%d already collected), record %s",
                      keeper.record.prefix, len(jobs), done_before, keeper.path)
        collect_slot = _FailureSlot()
        bl.collect.connect("collectOscillationFailed", collect_slot.failed)
        state = "completed"
        current: WedgeJob | None = None
        try:
            self._move_to_centred_position(model)
            applied: dict[str, Any] = {}
            for k, job in enumerate(jobs):
                if not self._abort and not self._stop_after_wedge and qm.is_paused():
                    user_log.info("Interleaved collection %s paused after wedge %d of %d",
                                  keeper.record.prefix, done_before + k, n_total)
                    self._held = True
                    try:
                        qm.wait_for_pause_event()
                    finally:
                        self._held = False
                if self._abort or self._stop_after_wedge:
                    state = "aborted" if self._abort else "stopped"
                    break
                sweep = p.sweep(job.sweep)
                self._apply_settings(sweep, applied)
                orientation.before_wedge(keeper, job, (sweep.kappa, sweep.phi))
                t0 = time.perf_counter()
                keeper.begin(job)
                current = job
                params = self._wedge_params(job, sweep, directory)
                t1 = time.perf_counter()
                collect_slot.message = None
                self._collecting = True
                try:
                    bl.collect.collect("mxcube", [params])
                finally:
                    self._collecting = False
                try:  # what was written is learned from disk, once the filewriter has closed it
                    written = self._wait_for_series(keeper, job, lambda: self._abort or bool(collect_slot.message))
                except DetectorError as exc:
                    keeper.finish(job, None, [], 0)  # the wedge stays planned
                    current = None
                    why = f"{exc}" + (f" (the collect said: {collect_slot.message})" if collect_slot.message else "")
                    raise QueueExecutionException(f"wedge {job.wedge_part} was not collected: {why}", self) from exc
                t3 = time.perf_counter()
                self._record_series(job, written)
                current = None
                self._progress(qm, model, done_before + k, n_total, keeper)
                self.bookkeeping_s.append((t1 - t0) + (time.perf_counter() - t3))
                if written.n_frames < job.n:
                    state = "aborted" if self._abort else "failed"
                    if not self._abort:
                        self._failure = collect_slot.message or (
                            f"the detector wrote {written.n_frames} of {job.n} frames of wedge {job.wedge_part}")
                    break
        except BaseException as exc:  # killed by the queue's stop, or failed: settle the record first
            killed = isinstance(exc, gevent.GreenletExit)
            if current is None and self._stop_after_wedge and not self._abort:
                state = "stopped"  # the queue's stop while held by its pause: nothing was cut
            elif self._abort or killed:
                state = "aborted"
            else:
                state = "failed"
            if current is not None:
                self._settle_killed_wedge(current)
            self._finish(state, model, str(exc) or type(exc).__name__)
            if isinstance(exc, gevent.GreenletExit):
                raise
            if isinstance(exc, (QueueAbortedException, QueueExecutionException)):
                raise
            raise QueueExecutionException(f"interleaved collection failed: {exc}", self) from exc
        self._finish(state, model)
        if state == "aborted":
            raise QueueAbortedException("interleaved collection aborted; run it again to resume", self)
        if state == "stopped":  # ends the queue, as a stop should; the entry stays checked
            raise QueueAbortedException(
                f"interleaved collection stopped after wedge {len(keeper.record.wedges) - len(keeper.pending())} "
                f"of {len(keeper.record.wedges)}; run it again to resume", self)
        if state == "failed":
            raise QueueExecutionException(f"interleaved collection failed: {self._failure}", self)

    # -- helpers ------------------------------------------------------------------------------------
    def _choose_run(self, directory: Path, prefix: str) -> tuple[int, bool]:
        """The run to collect, and whether it resumes an unfinished one.

        * This queue entry's own run was interrupted: it is resumed; if the task was edited
          since, in a way that changes the data, it is refused (resuming would mix settings in
          one sweep) with what changed.
        * Otherwise the latest run of ``prefix`` (``choose_run``) is unfinished: a task with the
          same settings resumes it (e.g. the queue was rebuilt after a restart); a different
          task reusing the prefix starts the next run, and the unfinished one is left as it is.
        """
        model = self.get_data_model()
        own = Path(model.record_path) if model.record_path else None
        own_run = run_of(own, prefix) if own is not None and own.parent == directory else None
        if own_run is not None and own.is_file():
            rec = AcquisitionRecord.load(own)
            if rec.status == "completed" and self._masters_to_repair(rec, directory, own_run):
                return own_run, True
            if rec.status != "completed":  # this entry's own interrupted run: resume it or refuse
                changed = differences(rec, plan(model.get_task(own_run)))
                if changed:
                    raise RecordError(
                        f"this collection (run {own_run} of {prefix!r}) was interrupted and its settings changed "
                        f"since: {'; '.join(changed)}. Restore them to resume it, or queue it as a new task "
                        "(which starts a new run)")
                return own_run, True
        run, resume = choose_run(directory, prefix)
        if not resume and run > 1:  # the last run says completed: are its sweep masters there?
            last = directory / f"{record_prefix(prefix, run - 1)}{RECORD_SUFFIX}"
            with contextlib.suppress(InterleaveError, OSError):
                rec = AcquisitionRecord.load(last)
                if (rec.status == "completed" and self._masters_to_repair(rec, directory, run - 1)
                        and not differences(rec, plan(model.get_task(run - 1)))):
                    return run - 1, True
        if not resume:
            return run, False
        path = directory / f"{record_prefix(prefix, run)}{RECORD_SUFFIX}"
        changed = differences(AcquisitionRecord.load(path), plan(model.get_task(run)))
        if not changed:
            return run, True
        user_log.warning("Interleaved collection %s: run %d is unfinished and was collected with other "
                         "settings (%s); this task starts run %d", prefix, run, "; ".join(changed), run + 1)
        return run + 1, False

    def _masters_to_repair(self, rec: AcquisitionRecord, directory: Path, run: int) -> list[str]:
        """Sweeps of a completed run whose after-master is missing or older than its data
        (a kill after the record was saved, by an older version): the run is resumed to write
        them instead of being skipped for a new run number. Empty without a repackager."""
        if HWR.beamline.get_object_by_role("master_file_repackager") is None:
            return []
        newest = 0.0
        for w in rec.wedges:
            for name in [w.source_master, *w.data_files]:
                if name:
                    with contextlib.suppress(OSError):
                        newest = max(newest, (directory / name).stat().st_mtime)
        out = []
        for s in rec.sweeps:
            path = directory / s.master if s.master else None
            try:
                stale = path is None or path.stat().st_mtime < newest
            except OSError:
                stale = True
            if stale:
                out.append(s.id)
        if out:
            user_log.warning("Interleaved collection %s: run %d says completed but the sweep masters of %s are "
                             "missing or older than the data; writing them now", rec.prefix,
                             run, ", ".join(out))
        return out

    def _master_of(self, directory: Path):
        return master_finder(self.get_data_model().get_path_template(), directory)

    def _wait_for_series(self, keeper: RecordKeeper, job: WedgeJob, stopped) -> WrittenSeries:
        return wait_for_series(keeper.master_path(job), job.n, stopped)

    def _record_series(self, job: WedgeJob, written: WrittenSeries) -> None:
        assert self.keeper is not None
        self.keeper.finish(job, str(written.master), [str(p) for p in written.data_files], written.n_frames,
                           written.start_time, None, list(written.frames_per_file))
        update_sweep(self.keeper, self.get_data_model(), job.sweep)

    def _open_record(self, p: Plan, directory: Path, run: int, resume: bool) -> RecordKeeper:
        path = directory / f"{record_prefix(p.task.prefix, run)}{RECORD_SUFFIX}"
        master_of = self._master_of(directory)
        if resume:
            keeper = RecordKeeper.resume(path, p, run, master_of=master_of)
            keeper.save()
            if keeper.set_aside:
                user_log.warning("Interleaved collection %s: %s had no detector master (the process was killed); "
                                 "kept in %s, collected again", p.task.prefix,
                                 ", ".join(f.name for f in keeper.set_aside), keeper.set_aside[0].parent)
            return keeper
        keeper = RecordKeeper.create(p, directory, run, master_of=master_of)
        clash = keeper.clashes()
        if clash:
            raise OverwriteRefusedError(f"{clash[0]} already exists; refusing to overwrite it "
                                        "(choose another prefix or sub-directory)")
        directory.mkdir(parents=True, exist_ok=True)
        self._store_lims(keeper, p)
        keeper.save()
        return keeper

    def _store_lims(self, keeper: RecordKeeper, p: Plan) -> None:
        store_lims(keeper, self.get_data_model())

    def _move_to_centred_position(self, model) -> None:
        """The task's centred position (sample motors only; kappa/phi come with each sweep)."""
        cpos = getattr(model.acquisitions[0].acquisition_parameters, "centred_position", None)
        if cpos is None:
            return
        diffr = HWR.beamline.diffractometer
        pos = {k: v for k, v in cpos.as_dict().items() if v is not None and k in CENTRED_MOTORS and has_motor(diffr, k)}
        if pos:
            move_motors(diffr, pos, timeout=120)

    def _apply_settings(self, sweep: Sweep, applied: dict[str, Any]) -> None:
        """Energy, kappa/phi, transmission, resolution: only what differs from the last wedge
        (the first wedge of a run compares with what the hardware reads)."""
        bl = HWR.beamline
        timeout = 120

        def differs(key: str, target: Any, read, tol: float = 1e-4) -> bool:
            if key not in applied:
                try:
                    applied[key] = read()
                except Exception:
                    return True
            cur = applied[key]
            if isinstance(target, tuple):
                return cur is None or any(c is None or abs(c - t) > tol for c, t in zip(cur, target))
            return cur is None or abs(cur - target) > tol

        energy_changed = differs("energy", sweep.energy, bl.energy.get_value)
        if energy_changed:
            bl.energy.set_value(sweep.energy, timeout=timeout)
            applied["energy"] = sweep.energy
            applied.pop("resolution", None)  # at a fixed detector distance it moved with the energy
        diffr = bl.diffractometer
        motors = goniometer_motors(diffr)  # the start refused kappa/phi a missing motor cannot set
        if motors:
            names = sorted(motors)
            target = tuple(sweep.kappa if n == "kappa" else sweep.phi for n in names)

            def read_kp():
                v = read_motors(diffr, names)
                return tuple(v[n] for n in names)

            if differs("kappa_phi", target, read_kp, tol=1e-3):
                move_motors(diffr, dict(zip(names, target)), timeout=timeout)
                applied["kappa_phi"] = target
        if differs("transmission", sweep.transmission, bl.transmission.get_value, tol=1e-6):
            bl.transmission.set_value(sweep.transmission, timeout=timeout)
            applied["transmission"] = sweep.transmission
        if sweep.resolution is not None:
            # after an energy change the same resolution needs another distance: set it again
            if energy_changed or differs("resolution", sweep.resolution, bl.resolution.get_value):
                bl.resolution.set_value(sweep.resolution, timeout=timeout)
                applied["resolution"] = sweep.resolution
                applied.pop("distance", None)
        elif sweep.detector_distance is not None:  # the distance does not move with the energy
            if differs("distance", sweep.detector_distance, bl.detector.distance.get_value, tol=1e-3):
                bl.detector.distance.set_value(sweep.detector_distance, timeout=timeout)
                applied["distance"] = sweep.detector_distance
                applied.pop("resolution", None)

    def _wedge_params(self, job: WedgeJob, sweep: Sweep, directory: Path) -> dict:
        fallback = self.keeper.master_path(job).name if self.keeper is not None else ""
        return collect_parameters(self.get_data_model(), job, sweep, directory, fallback)

    @uninterruptible
    def _settle_killed_wedge(self, job: WedgeJob) -> None:
        """The entry was killed mid-wedge: wait for the detector to close the series, then record
        what is on disk."""
        collect = HWR.beamline.collect
        task = getattr(collect, "data_collect_task", None)
        if task is not None and not task.ready():
            task.join(timeout=30)
        keeper = self.keeper
        if keeper is None:
            return
        try:
            written = self._wait_for_series(keeper, job, lambda: True)
        except DetectorError:  # the series never started: the wedge stays planned (fresh name if needed)
            keeper.finish(job, None, [], 0)
            return
        self._record_series(job, written)

    def _progress(self, qm, model, idx: int, n: int, keeper: RecordKeeper) -> None:
        done = sum(w.n_collected for w in keeper.record.wedges)
        total = sum(s.n_frames for s in keeper.record.sweeps)
        qm.emit("queue_interleaved_sw_done", ({
            "current_idx": idx, "item": model, "nitems": n, "sw_size": model.interleave_num_images or 1,
            "wedge": idx + 1, "n_wedges": n, "image": done, "n_images": total,
        },))
        view = self.get_view()
        if view is not None:
            view.setText(1, f"wedge {idx + 1} of {n}, image {done} of {total}")

    @uninterruptible  # a stop during the after-masters must not leave one stale
    def _finish(self, state: str, model, reason: str | None = None) -> None:
        """Final record status, LIMS updates with the frames collected, sweep masters."""
        keeper = self.keeper
        if keeper is None:
            return
        if all(w.status == "complete" for w in keeper.record.wedges):
            state = "completed"
        collected = keeper.collected_frames()
        # the record never runs ahead of the files: the after-masters are final before the record
        # says so (a kill in between leaves the run resumable, and its next start writes them)
        if any(n for n in collected.values()):
            self._sweep_masters("after")
        keeper.set_status(state)
        finalize_lims(keeper, model, state)
        keeper.save()
        outcome = outcome_of(keeper.record, state, reason or self._failure)
        (user_log.info if state == "completed" else user_log.warning)(
            "%s (%s)", outcome.message, ", ".join(f"{k} {v} frames" for k, v in collected.items()))
        announce(HWR.beamline.queue_manager, model, outcome)

    def _sweep_masters(self, stage: Literal["before", "after"]) -> list[Path]:
        keeper = self.keeper
        repackager = HWR.beamline.get_object_by_role("master_file_repackager")
        if repackager is None:
            log.warning("interleaved collection: no 'master_file_repackager' in the beamline; "
                        "no sweep masters written (%s)", stage)
            return []
        try:
            paths = list(repackager.write_sweep_masters(keeper.path, stage))
        except Exception as exc:
            log.warning("interleaved collection: sweep masters (%s) not written: %s", stage, exc)
            return []
        keeper.reload()
        self.get_data_model().sweep_masters = [str(p) for p in paths]
        return paths

    def get_type_str(self) -> str:
        return "Interleaved collection"


class _FailureSlot:
    """Keeps the last collectOscillationFailed message (a bound method: signals hold slots weakly)."""

    def __init__(self) -> None:
        self.message: str | None = None

    def failed(self, *args) -> None:
        if len(args) >= 3 and isinstance(args[2], str):
            self.message = args[2]


def stop_after_current_wedge(queue_manager: Any = None) -> bool:
    """Ask the running interleaved collection to end after its current wedge (and stop the
    queue there); for scripts and site front ends. False if none is running."""
    qm = queue_manager or HWR.beamline.queue_manager
    entry = qm.get_current_entry()
    if isinstance(entry, InterleavedCollectionQueueEntry) and not entry._idle.is_set():
        entry.stop_after_wedge()
        return True
    return False


def register(entry_cls: type[BaseQueueEntry] = InterleavedCollectionQueueEntry) -> None:
    """Make mxcubecore (and so mxcubeweb and the Qt queue) know the entry (reference §2.3)."""
    from . import register_entry

    register_entry(entry_cls)
