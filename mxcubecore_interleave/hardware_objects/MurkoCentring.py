"""Automatic centring with Murko: N camera views in one request, a linear fit, one motor move.

A thin adapter: the request/reply protocol, the fit, the hull and the file formats live in
``mxcubecore_interleave.murko``. This HardwareObject takes the pictures at the configured omega
angles, asks Murko where the sample is, turns the clicks into millimetres with the beam mark and
pixels-per-mm the diffractometer reports, fits ``c + A cos w + B sin w`` by linear least squares, moves
phiy, phiz, sampx and sampy through ``diffractometer.set_value_motors`` and stores the 3D hull
(HDF5 + PLY) and a PNG next to the sample's data.

With a horizontal rotation axis (``orientation`` horizontal or horizontal_flipped) the picture's
rows are across the axis and its columns along it; with a vertical one (vertical_up,
vertical_down) they swap (murko.md §2.3): the fit, the moves, the hull and the stored
``axis_orientation`` all follow.

If Murko finds nothing, it turns omega by ``retry_rotation_deg`` and tries again; after
``max_attempts`` it gives up with ``CentringError`` and puts every motor back where it was.

Signals (on this object): ``centringStarted(method)``, ``centringSuccessful(method, status)`` as
soon as the motors are in place, then (``store_3d``) ``centringFilesStored(method, status)`` once
the 3D files are written (in a worker thread, so the gevent hub keeps serving the UI);
``centringFailed(method, status)``. ``MurkoSampleView`` emits the same on the sample view, where
mxcubeweb and the queue listen.

Example YAML (``configuration/murko.yaml``)::

    class: mxcubecore_interleave.hardware_objects.MurkoCentring.MurkoCentring
    configuration:
      host: 127.0.0.1
      port: 8901
      omega_angles_deg: [0, 90, 180, 270]
      signs: {sampx: 1, sampy: 1, phiz: 1, phiy: 1}
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gevent
import numpy as np
from mxcubecore import HardwareRepository as HWR
from mxcubecore.BaseHardwareObjects import HardwareObject, HardwareObjectState
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mxcubecore_interleave.errors import CentringError, MurkoError
from mxcubecore_interleave.paths import check_name

__all__ = ["CentringRound", "MurkoCentring", "MurkoCentringResult", "Signs"]

METHOD = "Murko"
TRANSLATIONS = ("phiy", "phiz", "sampx", "sampy")
CLIENT_SETTINGS = (
    "host", "port", "timeout_s", "timeout_per_image_s", "min_size", "orientation", "server_tip", "jpeg_quality",
)
"""Settings the Murko client is made from: a centring with other values gets its own client."""
log = logging.getLogger("HWR")
user_log = logging.getLogger("user_level_log")


class Signs(BaseModel):
    """Per-beamline sign factors: +1 or -1 for each correction.

    ``sampx += sampx * B``, ``sampy += sampy * A``, ``phiz += phiz * c``, ``phiy += phiy * mean(along)``,
    where ``c + A cos w + B sin w`` is fitted to the offsets across the axis (picture rows for a
    horizontal axis, columns for a vertical one, positive down / right) and ``along`` are the
    offsets along it (columns, positive right / rows, positive down).
    On mxcubecore's mockup (all SampleView ``motor_directions`` +1) they are all +1; in general
    each equals the SampleView direction of that motor (times the omega direction for sampx).
    A camera turned by 90 degrees turns these conventions with it (docs/murko-centring.md).
    """

    model_config = ConfigDict(frozen=True)

    sampx: int = 1
    sampy: int = 1
    phiz: int = 1
    phiy: int = 1

    @field_validator("sampx", "sampy", "phiz", "phiy")
    @classmethod
    def _unit(cls, value: int) -> int:
        if value not in (1, -1):
            raise ValueError(f"a sign factor must be +1 or -1, got {value}")
        return value


@dataclass
class CentringRound:
    """One acquisition: the views, what Murko said, the fit, the correction applied."""

    omega_deg: list[float]
    start_position: dict[str, float]
    views: list[Any]
    present: list[bool]
    shift_mm: np.ndarray
    """(N, 2) mm: (across the axis, along it) offsets of the clicks from the beam, one row per
    view, NaN where Murko found nothing."""
    fit: Any
    correction: dict[str, float]
    images: list[Any] = field(repr=False, default_factory=list)
    """The pictures as taken: RGB arrays, or the camera's own JPEG bytes."""
    axis: str = "horizontal"
    """Rotation axis on the picture: "horizontal" (along the rows) or "vertical"."""
    beam_px: tuple[float, float] = (0.0, 0.0)
    """Beam mark (x, y) pixels when the pictures were taken."""
    pixels_per_mm: tuple[float, float] = (1.0, 1.0)
    """(x, y) calibration when the pictures were taken."""


@dataclass
class MurkoCentringResult:
    """What a centring did, for the queue, the LIMS and the front ends."""

    method: str
    start_position: dict[str, float]
    centred_position: dict[str, float]
    rounds: list[CentringRound]
    rms_mm: float
    files: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    hull: Any = field(default=None, repr=False)
    frame: Any = field(default=None, repr=False)

    def hull_contains(self, positions: np.ndarray) -> np.ndarray:
        """Which motor-coordinate points (N, 3: phiy, sampx, sampy) lie inside the stored hull."""
        if self.hull is None or self.frame is None:
            raise CentringError("this centring stored no hull (store_3d was off or failed)")
        return np.asarray(self.hull.contains(self.frame.to_hull(positions)), dtype=bool)

    files_pending: bool = False
    """True from centringSuccessful until the 3D files are written (centringFilesStored)."""

    def status(self) -> dict[str, Any]:
        """The ``centring_status`` dict mxcubecore's signals carry, plus a ``murko`` section."""
        return {
            "motors": dict(self.centred_position),
            "method": self.method,
            "valid": True,
            "murko": {
                "rms_um": self.rms_mm * 1000.0,
                "rounds": len(self.rounds),
                "files": dict(self.files),
                "files_pending": bool(self.files_pending),
            },
        }


class MurkoCentring(HardwareObject):
    """Centre the sample on the rotation axis and the beam from Murko's multi-angle clicks."""

    class HOConfig(HardwareObject.HOConfig):
        host: str = "127.0.0.1"
        port: int = Field(8901, gt=0, le=65535)
        timeout_s: float = Field(10.0, gt=0)
        """Base deadline of one Murko request (send and reply together); covers the server's
        ~5 s retrace on a new picture size or batch size (murko.md §1.5)."""
        timeout_per_image_s: float = Field(0.5, ge=0)
        """Added to ``timeout_s`` per picture in the request (0.36 s per 1024x1360 picture warm on
        2 CPU cores, murko.md §1.5): 36 views get 10 + 18 s."""
        min_size: int = Field(64, ge=1)
        jpeg_quality: int = Field(85, ge=1, le=100)
        """Pillow quality for pictures the client encodes (Murko shrinks them to 256x320)."""
        camera_jpeg: bool = True
        """Send the camera's own JPEG (``camera.get_jpeg()``) when it has one, instead of
        encoding its RGB picture again."""
        orientation: str = "horizontal"
        """Where the sample tip points in the camera picture: horizontal (left),
        horizontal_flipped (right): a horizontal rotation axis; vertical_up, vertical_down: a
        vertical one (picture columns are then across the axis, rows along it)."""
        server_tip: str = "left"
        """Where the Murko server expects the tip: left (Murko main), up (SOLEIL 2026)."""
        omega_angles_deg: list[float] = Field(default_factory=lambda: [0.0, 90.0, 180.0, 270.0])
        """Angles of the views, relative to omega when the centring starts (at least 3)."""
        max_attempts: int = Field(3, ge=1, le=12)
        retry_rotation_deg: float = 45.0
        rounds: int = Field(1, ge=1, le=5)
        tolerance_mm: float = Field(0.001, gt=0)
        """Stop iterating once a correction is smaller than this."""
        max_rms_mm: float = Field(0.02, gt=0)
        """Refuse a fit whose residual RMS is larger (clicks that do not lie on one sinusoid:
        Murko picked different features in different views); nothing is moved."""
        signs: Signs = Signs()
        omega_zero_deg: float = 0.0
        motion_timeout_s: float = Field(60.0, gt=0)
        return_omega: bool = False
        """Turn omega back to where the centring started (costs a move)."""
        store_3d: bool = True
        hull_voxel_mm: float = Field(0.004, gt=0)
        output_subdir: str = "murko"

        @field_validator("omega_angles_deg", "signs", mode="before")
        @classmethod
        def _from_xml_text(cls, value: Any) -> Any:
            """XML properties arrive as text ("[0, 90, 180, 270]"): read them as literals."""
            if isinstance(value, str):
                import ast

                try:
                    return ast.literal_eval(value.strip())
                except (ValueError, SyntaxError) as exc:
                    raise ValueError(f"cannot read {value!r} as a list or dict") from exc
            return value

        @field_validator("orientation", "server_tip")
        @classmethod
        def _direction(cls, value: str) -> str:
            from mxcubecore_interleave.murko.orientation import tip_direction

            tip_direction(value)  # raises a ValueError that lists the allowed names
            return value

        @field_validator("omega_angles_deg")
        @classmethod
        def _enough_angles(cls, value: list[float]) -> list[float]:
            if len(value) < 3:
                raise ValueError(f"Murko centring needs at least 3 omega angles, got {len(value)}")
            if len({round(a % 180.0, 6) for a in value}) < 2:
                raise ValueError("the omega angles must not all be equal modulo 180 degrees")
            return [float(a) for a in value]

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._client = None
        self._client_key: tuple | None = None
        self.last_result: MurkoCentringResult | None = None
        self._busy = False
        self._reserved: set[Path] = set()

    def init(self) -> None:
        super().init()
        self._register_queue_entry()
        _import_file_writers()
        self.update_state(HardwareObjectState.READY)

    @staticmethod
    def _register_queue_entry() -> None:
        """Make the "murko_centring" task known to mxcubecore's queue (idempotent)."""
        from mxcubecore_interleave.queue_entries.murko_centring import register

        register()

    # --- the Murko client ------------------------------------------------------------------

    @property
    def server_address(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    def set_server(self, host: str, port: int) -> None:
        """Point at another Murko server (tests and the demo use an embedded mock)."""
        self.config.host = host
        self.config.port = int(port)
        self._drop_client()

    def _drop_client(self) -> None:
        client, self._client, self._client_key = self._client, None, None
        if client is not None:
            client.close()

    def client(self, settings: Any = None):
        """The Murko client for ``settings`` (default: the configuration), gevent-friendly.

        ZeroMQ through ``zmq.green`` and JPEG encoding in gevent's thread pool: neither blocks
        the hub. One client is kept; settings that differ in host, port, timeouts, min_size,
        orientation, server_tip or jpeg_quality get a new one.
        """
        settings = settings or self.config
        key = tuple(getattr(settings, name) for name in CLIENT_SETTINGS)
        if self._client is None or self._client_key != key:
            import zmq.green

            self._drop_client()
            self._client = murko_core().MurkoClient(
                host=settings.host,
                port=settings.port,
                timeout_s=settings.timeout_s,
                timeout_per_image_s=settings.timeout_per_image_s,
                min_size=settings.min_size,
                orientation=settings.orientation,
                server_tip=settings.server_tip,
                jpeg_quality=settings.jpeg_quality,
                zmq_module=zmq.green,
                encoder_map=_off_hub_map,
            )
            self._client_key = key
        return self._client

    # --- centring --------------------------------------------------------------------------

    def is_busy(self) -> bool:
        return self._busy

    def centre(
        self,
        output_dir: str | Path | None = None,
        prefix: str | None = None,
        on_centred: Any = None,
        **overrides: Any,
    ) -> MurkoCentringResult:
        """Centre the sample now (blocks this greenlet, not the hub). Raises ``CentringError``.

        ``overrides`` replace configuration values for this centring only (any field of the
        configuration: ``omega_angles_deg``, ``rounds``, ``host``, ``timeout_s``, ``orientation``,
        ``motion_timeout_s``, ...); they are validated like the configuration.

        Once the motors are in place: ``centringSuccessful``, then ``on_centred(result)`` (the
        sample view emits its own signals there), then, with ``store_3d``, the 3D files are
        written off the hub and ``centringFilesStored`` follows; the returned result has them.
        """
        settings = self._settings(overrides)
        if self._busy:
            raise CentringError("a Murko centring is already running; wait for it or abort it")
        self._busy = True
        self.update_state(HardwareObjectState.BUSY)
        self.emit("centringStarted", (METHOD,))
        start = self._positions()
        try:
            result = self._centre(start, settings)
        except BaseException as exc:
            self._restore(start, settings)
            self._set_idle()
            error = self._as_centring_error(exc, settings)
            reason = str(error) if error is not None else "cancelled"
            self.emit("centringFailed", (METHOD, {"motors": start, "method": METHOD, "valid": False, "error": reason}))
            user_log.error("Murko centring failed: %s", reason)
            if error is None or error is exc:
                raise
            raise error from exc
        result.files_pending = bool(settings.store_3d)
        self.last_result = result
        self._set_idle()
        self.emit("centringSuccessful", (METHOD, result.status()))
        user_log.info(
            "Murko centring done (fit RMS %.1f um, %d round(s))", result.rms_mm * 1000.0, len(result.rounds)
        )
        if on_centred is not None:
            try:
                on_centred(result)
            except Exception:
                log.exception("Murko centring: the on_centred callback failed")
        if settings.store_3d:
            self._store_after_centring(result, output_dir, prefix, settings)
        return result

    def _store_after_centring(self, result: MurkoCentringResult, output_dir, prefix, settings) -> None:
        """Write the 3D files of a successful centring; a failure is reported, not raised."""
        t0 = time.monotonic()
        try:
            result.files = self.store(result, output_dir=output_dir, prefix=prefix, settings=settings)
        except Exception as exc:  # the centring itself succeeded: keep it, report the files
            log.exception("Murko centring: could not store the 3D files")
            user_log.warning("Murko centring: the 3D files were not written (%s)", exc)
        finally:
            result.files_pending = False
            result.timings_s["store"] = time.monotonic() - t0
        self.emit("centringFilesStored", (METHOD, result.status()))

    def _set_idle(self) -> None:
        self._busy = False
        self.update_state(HardwareObjectState.READY)

    def _as_centring_error(self, exc: BaseException, settings: Any = None) -> CentringError | None:
        """The error to raise for ``exc`` (None: not an error, e.g. the greenlet was killed)."""
        settings = settings or self.config
        if isinstance(exc, CentringError):
            return exc
        if isinstance(exc, MurkoError):
            return CentringError(f"Murko server {settings.host}:{settings.port} failed, motors put back: {exc}")
        if isinstance(exc, (RuntimeError, ValueError, OSError)):
            return CentringError(f"Murko centring failed, motors put back: {exc}")
        if isinstance(exc, Exception):
            log.error("Murko centring: unexpected error", exc_info=exc)
            return CentringError(f"Murko centring failed ({type(exc).__name__}), motors put back: {exc}")
        return None

    def _settings(self, overrides: dict[str, Any]):
        if not overrides:
            return self.config
        cls = type(self.config)
        known = set(cls.model_fields)
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise CentringError(f"unknown Murko centring setting(s) {unknown}; known: {sorted(known)}")
        values = {name: getattr(self.config, name) for name in known}
        values.update(overrides)
        return cls.model_validate(values)

    def _centre(self, start: dict[str, float], settings) -> MurkoCentringResult:
        t_start = time.monotonic()
        timings = {"motion": 0.0, "murko": 0.0, "images": 0.0}
        rounds: list[CentringRound] = []
        position = dict(start)
        for _ in range(settings.rounds):
            cround = self._acquire(position, timings, settings)
            target = {role: position[role] + cround.correction[role] for role in TRANSLATIONS}
            t0 = time.monotonic()
            self._move(target, settings)
            timings["motion"] += time.monotonic() - t0
            position = self._positions()
            rounds.append(cround)
            if max(abs(v) for v in cround.correction.values()) < settings.tolerance_mm:
                break
        if settings.return_omega:
            t0 = time.monotonic()
            self._move({"omega": start["omega"]}, settings)
            timings["motion"] += time.monotonic() - t0
            position = self._positions()
        timings["centring"] = time.monotonic() - t_start
        return MurkoCentringResult(
            method=METHOD,
            start_position=start,
            centred_position=position,
            rounds=rounds,
            rms_mm=float(rounds[-1].fit.rms),
            timings_s=timings,
        )

    def _acquire(self, position: dict[str, float], timings: dict[str, float], settings) -> CentringRound:
        """Views at the configured angles; rotate and retry while Murko finds nothing."""
        base = position["omega"]
        seen = []
        for attempt in range(settings.max_attempts):
            offset = base + attempt * settings.retry_rotation_deg
            omegas, images, encoding = [], [], []
            client = self.client(settings)
            for angle in settings.omega_angles_deg:
                t0 = time.monotonic()
                self._move({"omega": offset + angle}, settings)
                timings["motion"] += time.monotonic() - t0
                t0 = time.monotonic()
                omegas.append(float(self._diffractometer().omega.get_value()))
                images.append(self._picture(settings))
                # an RGB picture is encoded in a thread while omega turns to the next view, so
                # the request does not wait for it (camera JPEGs need no encoding)
                encoding.append(gevent.get_hub().threadpool.spawn(client.prepare, images[-1]))
                timings["images"] += time.monotonic() - t0
            t0 = time.monotonic()
            prepared = [job.get() for job in encoding]
            timings["encode_wait"] = timings.get("encode_wait", 0.0) + time.monotonic() - t0
            t0 = time.monotonic()
            views = client.predict(prepared)
            timings["murko"] += time.monotonic() - t0
            for phase, seconds in getattr(client, "last_timings", {}).items():
                timings[f"murko_{phase}"] = timings.get(f"murko_{phase}", 0.0) + seconds
            present = [bool(v.present) for v in views]
            seen.append(sum(present))
            if _usable(omegas, present):
                return self._fit_round(omegas, images, views, present, self._positions(), settings)
            user_log.warning(
                "Murko found the sample in %d of %d views; turning omega by %g deg and trying again",
                sum(present), len(present), settings.retry_rotation_deg,
            )
        raise CentringError(
            f"Murko found no sample in {settings.max_attempts} attempt(s) of "
            f"{len(settings.omega_angles_deg)} views (found per attempt: {seen}); "
            "check that a sample is mounted and in the camera's field of view. Motors put back."
        )

    def _fit_round(self, omegas, images, views, present, position, settings) -> CentringRound:
        from mxcubecore_interleave.murko.orientation import axis_orientation

        beam_x, beam_y = (float(v) for v in HWR.beamline.beam.get_beam_position_on_screen())
        ppmm_x, ppmm_y = (float(v) for v in self._diffractometer().get_pixels_per_mm())
        axis = axis_orientation(settings.orientation)
        idx = [i for i, p in enumerate(present) if p]
        clicks = np.array([views[i].click_px for i in idx], dtype=float)  # (row, col) pixels
        d_row, d_col = (clicks[:, 0] - beam_y) / ppmm_y, (clicks[:, 1] - beam_x) / ppmm_x
        # murko.md §2.3: across the axis are the rows for a horizontal axis, the columns for a
        # vertical one; along it the other picture axis
        found = np.column_stack([d_row, d_col] if axis == "horizontal" else [d_col, d_row])
        shift = np.full((len(views), 2), np.nan)  # one row per view, NaN where nothing was found
        shift[idx] = found
        angles = np.array([omegas[i] for i in idx]) - settings.omega_zero_deg
        result = murko_core().fit_sinusoid(angles, found[:, 0])
        if result.rms > settings.max_rms_mm:
            raise CentringError(
                f"the Murko clicks do not fit one sinusoid (RMS {result.rms * 1000:.1f} um > "
                f"{settings.max_rms_mm * 1000:.1f} um): Murko picked different features in different "
                "views. Motors put back; centre by hand or retry with more views."
            )
        s = settings.signs
        correction = {
            "sampx": s.sampx * float(result.B),
            "sampy": s.sampy * float(result.A),
            "phiz": s.phiz * float(result.c),
            "phiy": s.phiy * float(np.mean(found[:, 1])),
        }
        return CentringRound(
            omega_deg=list(omegas),
            start_position=dict(position),
            views=list(views),
            present=list(present),
            shift_mm=shift,
            fit=result,
            correction=correction,
            images=list(images),
            axis=axis,
            beam_px=(beam_x, beam_y),
            pixels_per_mm=(ppmm_x, ppmm_y),
        )

    # --- 3D and files ----------------------------------------------------------------------

    def store(
        self,
        result: MurkoCentringResult,
        output_dir: str | Path | None = None,
        prefix: str | None = None,
        settings: Any = None,
    ) -> dict[str, str]:
        """Write ``<prefix>_murko.h5``, ``_murko_mesh.ply``, ``_murko_points.ply`` and ``_murko.png``.

        The hull is carved from the last round's foreground masks; its points and mesh are
        written in motor coordinates (the phiy, sampx, sampy that centre each point). The carving
        and writing run in gevent's thread pool, so the hub keeps running meanwhile.
        Existing files are never overwritten: a counter is added to the prefix instead.
        """
        settings = settings or self.config
        directory = Path(output_dir) if output_dir is not None else self.default_output_dir(settings)
        prefix = check_name(prefix or datetime.now().strftime("centring_%Y%m%d-%H%M%S"), "prefix")
        directory.mkdir(parents=True, exist_ok=True)
        paths = _free_names(directory, prefix, self._reserved)
        self._reserved.update(paths.values())
        server = f"{settings.host}:{settings.port}"
        try:
            _off_hub(_write_centring_files, result, paths, settings, server, prefix)
        finally:
            self._reserved.difference_update(paths.values())
        return {key: str(path) for key, path in paths.items()}

    def default_output_dir(self, settings: Any = None) -> Path:
        """``<session process directory>/<output_subdir>`` when no sample directory is given."""
        session = HWR.beamline.session
        base = Path(session.get_base_process_directory())
        return base / (settings or self.config).output_subdir

    # --- hardware --------------------------------------------------------------------------

    @staticmethod
    def _diffractometer():
        diffractometer = HWR.beamline.diffractometer
        if diffractometer is None:
            raise CentringError("no diffractometer in the beamline configuration")
        return diffractometer

    def _picture(self, settings: Any) -> Any:
        """The camera's picture now: its own JPEG bytes if it has them (and ``camera_jpeg``),
        else an RGB array."""
        camera = self._camera()
        if settings.camera_jpeg and hasattr(camera, "get_jpeg"):
            return camera.get_jpeg()
        return camera.get_image_array()

    @staticmethod
    def _camera():
        sample_view = HWR.beamline.sample_view
        camera = getattr(sample_view, "camera", None)
        if camera is None:
            raise CentringError("the sample view has no camera; Murko needs the sample camera")
        if hasattr(camera, "get_image_array"):
            return camera
        return _RgbCamera(camera)

    def _positions(self) -> dict[str, float]:
        return self._diffractometer().get_value_motors(["omega", *TRANSLATIONS])

    def _move(self, target: dict[str, float], settings: Any = None) -> None:
        timeout = (settings or self.config).motion_timeout_s
        diffractometer = self._diffractometer()
        try:
            diffractometer.set_value_motors(target, timeout=timeout)
        except (RuntimeError, gevent.Timeout) as exc:
            raise CentringError(f"a centring motor did not reach {target} within {timeout:g} s: {exc}") from exc
        if hasattr(diffractometer, "wait_ready"):
            diffractometer.wait_ready(timeout)

    def _restore(self, start: dict[str, float], settings: Any = None) -> None:
        """Put every motor back where the centring found it (the failure must change nothing).

        A move still under way (the centring was cancelled mid-rotation) is stopped first, or
        it would end after, and override, the move back.
        """
        try:
            diffractometer = self._diffractometer()
            motors = diffractometer.get_motors()
            for role in start:
                motor = motors.get(role)
                if motor is not None and not motor.is_ready() and hasattr(motor, "abort"):
                    motor.abort()
            now = self._positions()
            if any(abs(now[k] - start[k]) > 1e-9 for k in start):
                diffractometer.set_value_motors(start, timeout=(settings or self.config).motion_timeout_s)
        except Exception:
            log.exception("Murko centring: could not put the motors back to %s", start)


def _usable(omegas: list[float], present: list[bool]) -> bool:
    """At least 3 views with the sample, at angles not all equal modulo 180 degrees."""
    found = [o for o, p in zip(omegas, present) if p]
    if len(found) < 3:
        return False
    return len({round(math.fmod(o, 180.0) % 180.0, 3) for o in found}) >= 2


class _RgbCamera:
    """Any mxcubecore camera with ``get_last_image() -> (rgb bytes, w, h)``, as arrays."""

    def __init__(self, camera: Any) -> None:
        self._camera = camera

    def get_image_array(self) -> np.ndarray:
        data, width, height = self._camera.get_last_image()
        return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)


def murko_core() -> SimpleNamespace:
    """The pure Murko core functions this adapter uses (one place to swap them in tests)."""
    from mxcubecore_interleave.murko import client, fit, hull, plot, storage

    return SimpleNamespace(
        MurkoClient=client.MurkoClient,
        fit_sinusoid=fit.fit_sinusoid,
        visual_hull=hull.visual_hull,
        write_centring_h5=storage.write_centring_h5,
        write_ply=storage.write_ply,
        write_point_cloud_ply=storage.write_point_cloud_ply,
        plot_centring=plot.plot_centring,
    )


def _import_file_writers() -> None:
    """Import what the 3D files need now, at beamline load, not in the writer thread: a first
    import (and, in a fresh environment, its bytecode compile) holds the GIL for tenths of a
    second, which would stall the gevent hub while the files are written."""
    import h5py  # noqa: F401
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import skimage.measure  # noqa: F401


def _off_hub(fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` in gevent's thread pool and wait for it without blocking the hub."""
    return gevent.get_hub().threadpool.apply(fn, args)


def _off_hub_map(fn: Any, items: Any) -> list:
    """``map`` in gevent's thread pool (the Murko client encodes JPEGs with it)."""
    return list(gevent.get_hub().threadpool.map(fn, items))


def _write_centring_files(result: MurkoCentringResult, paths: dict[str, Path], settings: Any, server: str, prefix: str) -> None:
    """Carve the hull and write the HDF5, the PLYs and the PNG (pure: no hardware, no gevent)."""
    core = murko_core()
    from mxcubecore_interleave.murko.protocol import encode_jpeg

    cround = result.rounds[-1]
    frame = MotorFrame.for_round(cround, settings)
    hull = core.visual_hull(
        frame.masks, frame.omega_deg, pixel_mm=frame.mask_pixel_mm,
        axis_row_px=frame.axis_row_mask_px, voxel_mm=settings.hull_voxel_mm,
    )
    result.hull = hull
    result.frame = frame
    vertices = frame.to_motor(hull.vertices_mm)
    points = frame.to_motor(hull.points_mm)
    fit = cround.fit
    along = "columns from the image's left edge" if frame.axis == "horizontal" else "rows from the image's top edge"
    across = "row" if frame.axis == "horizontal" else "column"
    beam, ppmm = cround.beam_px, cround.pixels_per_mm
    data = {
        "omega_deg": np.asarray(cround.omega_deg, dtype=float),
        # the inputs: the camera pictures of the last round as JPEG (the camera's own when it had one)
        "images_jpeg": [bytes(im) if isinstance(im, bytes | bytearray) else encode_jpeg(np.asarray(im), settings.jpeg_quality)
                        for im in cround.images],
        "present": np.asarray(cround.present, dtype=np.uint8),
        "most_likely_click_px": np.array([v.click_px for v in cround.views], dtype=float),
        "most_likely_click_frac": np.array([v.click_frac for v in cround.views], dtype=float),
        "extreme_px": np.array([v.extreme_px for v in cround.views], dtype=float),
        "shift_mm": np.asarray(cround.shift_mm, dtype=float),
        "shift_mm_axes": "across the rotation axis, along it",
        "masks": np.stack([np.asarray(cround.views[i].foreground_mask, dtype=np.uint8)
                           for i, p in enumerate(cround.present) if p]),
        "mask_omega_deg": np.asarray(frame.omega_deg, dtype=float),
        "original_shape": np.asarray(frame.image_shape),
        "prediction_shape": np.asarray(frame.grid_shape),
        "beam_position_px": np.asarray(beam, dtype=float),
        "calibration_mm_per_px": np.array([1.0 / ppmm[0], 1.0 / ppmm[1]]),
        "axis_orientation": frame.axis,
        "camera_orientation": str(settings.orientation),
        "server_tip": str(settings.server_tip),
        "murko_server": server,
        "reference_position": {k: float(v) for k, v in cround.start_position.items()},
        "result_position": {k: float(v) for k, v in result.centred_position.items()},
        "signs": settings.signs.model_dump(),
        "omega_zero_deg": float(settings.omega_zero_deg),
        "fit": {"c": fit.c, "A": fit.A, "B": fit.B, "r": fit.r, "alpha": fit.alpha, "rms": fit.rms},
        "hull": {
            "volume": hull.volume.astype(np.uint8),
            "voxel_size_mm": float(hull.voxel_size_mm),
            "origin_mm": np.asarray(hull.origin_mm, dtype=float),
            "frame": (
                f"volume axes (x, u, v), mm: x along the rotation axis, i.e. the image {along}; "
                f"a voxel projects to image {across} (axis {across}) + u cos(w) + v sin(w), w = "
                "omega - omega_zero_deg. points_mm and mesh/vertices_mm are motor coordinates "
                "(phiy, sampx, sampy): the positions that centre each point, phiz = "
                "result_position/phiz."
            ),
            "points_mm": points.astype(np.float32),
        },
        "mesh": {"vertices_mm": vertices.astype(np.float32), "faces": np.asarray(hull.faces, dtype=np.int32)},
    }
    core.write_centring_h5(paths["h5"], data)
    core.write_ply(paths["ply"], vertices, hull.faces)
    core.write_point_cloud_ply(paths["points"], points)
    found = np.asarray(cround.present, dtype=bool)
    core.plot_centring(
        paths["png"], frame.omega_deg_all[found], np.asarray(cround.shift_mm)[found, 0] * 1000.0, fit, hull.volume,
        title=f"Murko centring {prefix}: RMS {fit.rms * 1000:.2f} um, {len(hull.faces)} mesh faces",
        voxel_mm=float(hull.voxel_size_mm),
    )


def _free_names(directory: Path, prefix: str, reserved: set[Path] = frozenset()) -> dict[str, Path]:
    """``<prefix>[_n]_murko.h5 / _murko_mesh.ply / _murko.png`` that do not exist (nor are being written)."""
    for n in range(1, 1000):
        stem = prefix if n == 1 else f"{prefix}_{n}"
        paths = {
            "h5": directory / f"{stem}_murko.h5",
            "ply": directory / f"{stem}_murko_mesh.ply",
            "png": directory / f"{stem}_murko.png",
            "points": directory / f"{stem}_murko_points.ply",
        }
        if not any(p.exists() or p in reserved for p in paths.values()):
            return paths
    raise CentringError(f"{directory} already holds 999 Murko centrings named {prefix}; use another prefix")


@dataclass
class MotorFrame:
    """Between the hull's frame (x, u, v; murko.hull.Hull) and motor coordinates.

    A point with hull coordinates (x, u, v) is centred by ``phiy = phiy0 + s_a (x - x_beam)``,
    ``sampx = sampx0 + s_x v``, ``sampy = sampy0 + s_y u`` (with phiz at the centred value):
    ``u``/``v`` are its ``A``/``B`` in ``c + A cos w + B sin w`` (murko.md §2.3). ``masks`` are the
    foreground masks turned so that the rotation axis runs along their columns (a vertical
    axis' masks are transposed).
    """

    start: dict[str, float]
    signs: Signs
    x_beam_mm: float
    masks: np.ndarray
    omega_deg: np.ndarray
    omega_deg_all: np.ndarray
    mask_pixel_mm: tuple[float, float]
    axis_row_mask_px: float
    image_shape: tuple[int, int]
    axis: str = "horizontal"
    grid_shape: tuple[int, int] = (0, 0)
    """The prediction grid (rows, columns) in the camera's frame."""

    @classmethod
    def for_round(cls, cround: CentringRound, settings: Any) -> MotorFrame:
        idx = [i for i, p in enumerate(cround.present) if p]
        masks = np.stack([np.asarray(cround.views[i].foreground_mask, dtype=bool) for i in idx])
        grid = masks.shape[1:]
        h, w = cround.views[idx[0]].image_shape
        (beam_x, beam_y), (ppmm_x, ppmm_y) = cround.beam_px, cround.pixels_per_mm
        if cround.axis == "vertical":  # along the axis: the rows; across it: the columns
            masks = np.ascontiguousarray(masks.transpose(0, 2, 1))
            along, across = (h, grid[0], beam_y, ppmm_y), (w, grid[1], beam_x, ppmm_x)
        else:
            along, across = (w, grid[1], beam_x, ppmm_x), (h, grid[0], beam_y, ppmm_y)
        s_along = along[0] / along[1]  # camera pixels per mask pixel
        s_across = across[0] / across[1]
        axis_px = across[2] + cround.fit.c * across[3]  # where the axis is, camera pixels across it
        omega = np.asarray(cround.omega_deg, dtype=float) - settings.omega_zero_deg
        return cls(
            start=dict(cround.start_position),
            signs=settings.signs,
            # mask pixel j covers camera pixels centred on (j + 0.5) * s - 0.5
            x_beam_mm=(along[2] - (0.5 * s_along - 0.5)) / along[3],
            masks=masks,
            omega_deg=omega[idx],
            omega_deg_all=omega,
            mask_pixel_mm=(s_across / across[3], s_along / along[3]),
            axis_row_mask_px=(axis_px + 0.5) / s_across - 0.5,
            image_shape=(int(h), int(w)),
            axis=cround.axis,
            grid_shape=(int(grid[0]), int(grid[1])),
        )

    def to_motor(self, points: np.ndarray) -> np.ndarray:
        p = np.atleast_2d(np.asarray(points, dtype=float)).reshape(-1, 3)
        s = self.signs
        return np.column_stack([
            self.start["phiy"] + s.phiy * (p[:, 0] - self.x_beam_mm),
            self.start["sampx"] + s.sampx * p[:, 2],
            self.start["sampy"] + s.sampy * p[:, 1],
        ])

    def to_hull(self, positions: np.ndarray) -> np.ndarray:
        q = np.atleast_2d(np.asarray(positions, dtype=float)).reshape(-1, 3)
        s = self.signs
        return np.column_stack([
            self.x_beam_mm + s.phiy * (q[:, 0] - self.start["phiy"]),
            s.sampy * (q[:, 2] - self.start["sampy"]),
            s.sampx * (q[:, 1] - self.start["sampx"]),
        ])
