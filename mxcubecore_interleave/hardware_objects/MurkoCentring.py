"""Automatic centring with Murko: N camera views in one request, a linear fit, one motor move.

A thin adapter: the request/reply protocol, the solver (``murko.solver``), the plausibility
checks (``murko.plausibility``), the hull, its frames, the file formats and the result
(``murko.centring_result``) live in ``mxcubecore_interleave.murko``. This HardwareObject takes the pictures at the configured omega
angles, asks Murko where the sample is, hands the clicks, the beam mark and the pixels-per-mm the
diffractometer reports to the solver, moves phiy, phiz, sampx and sampy through
``diffractometer.set_value_motors`` only if every check passed, and stores the 3D hull (HDF5 +
PLY) and a PNG next to the sample's data. A refused centring moves nothing and still leaves its
HDF5 file, with the refusal as its ``outcome``.

With a horizontal rotation axis (``orientation`` horizontal or horizontal_flipped) the picture's
rows are across the axis and its columns along it; with a vertical one (vertical_up,
vertical_down) they swap (murko.md §2.3): the fit, the moves, the hull and the stored
``axis_orientation`` all follow.

If Murko finds nothing, it turns omega by ``retry_rotation_deg`` and tries again; after
``max_attempts`` it gives up with ``CentringError`` and puts every motor back where it was.

Signals (on this object): ``centringStarted(method)``, ``centringSuccessful(method, status)`` as
soon as the motors are in place, then (``store_3d``) ``centringFilesStored(method, status)`` once
the 3D files are written (in a worker thread, so the gevent hub keeps serving the UI);
``centringFailed(method, status)`` (``status["check"]`` names the refused check, e.g.
``coverage`` or ``verification``; ``status["files"]`` the refusal's HDF5 file).
``MurkoSampleView`` emits the same on the sample view, where mxcubeweb and the queue listen.

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
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gevent
import numpy as np
from mxcubecore import HardwareRepository as HWR
from mxcubecore.BaseHardwareObjects import HardwareObject, HardwareObjectState
from pydantic import Field, field_validator, model_validator

from mxcubecore_interleave.errors import CentringError, CentringRefused, MurkoError
from mxcubecore_interleave.murko.client import (
    DEFAULT_MAX_REPLY_MB_PER_IMAGE,
    DEFAULT_TIMEOUT_PER_IMAGE_S,
    DEFAULT_TIMEOUT_S,
)
from mxcubecore_interleave.goniometer import (
    MotorError, find_motor, motor_roles_from, move_motors, read_motors, wait_diffractometer_ready)
from mxcubecore_interleave.hardware_objects.camera_access import RgbCamera
from mxcubecore_interleave.murko.centring_result import CentringRound, MurkoCentringResult, Signs
from mxcubecore_interleave.murko.plausibility import usable_views
from mxcubecore_interleave.paths import check_name

__all__ = ["CentringRound", "MurkoCentring", "MurkoCentringResult", "Signs"]

METHOD = "Murko"
TRANSLATIONS = ("phiy", "phiz", "sampx", "sampy")
CLIENT_SETTINGS = (
    "host", "port", "timeout_s", "timeout_per_image_s", "min_size", "orientation", "server_tip", "jpeg_quality",
    "max_reply_mb_per_image",
)
"""Settings the Murko client is made from: a centring with other values gets its own client."""
log = logging.getLogger("HWR")
user_log = logging.getLogger("user_level_log")


class MurkoCentring(HardwareObject):
    """Centre the sample on the rotation axis and the beam from Murko's multi-angle clicks."""

    class HOConfig(HardwareObject.HOConfig):
        host: str = "127.0.0.1"
        port: int = Field(8901, gt=0, le=65535)
        timeout_s: float = Field(DEFAULT_TIMEOUT_S, gt=0)
        """Base deadline of one Murko request (send and reply together); covers the server's
        ~5 s retrace on a new picture size or batch size (murko.md §1.5; a cold 4-view request
        took 10.25 s)."""
        timeout_per_image_s: float = Field(DEFAULT_TIMEOUT_PER_IMAGE_S, ge=0)
        """Added to ``timeout_s`` per picture in the request (0.36 s per 1024x1360 picture warm on
        2 CPU cores, murko.md §1.5): 36 views get 15 + 18 s."""
        max_reply_mb_per_image: float = Field(DEFAULT_MAX_REPLY_MB_PER_IMAGE, gt=0)
        """Reply cap: 1 MB + this per picture (ZeroMQ MAXMSGSIZE); SOLEIL's replies are 2.5 MB per picture."""
        warm_up: bool = True
        """At start, send one request of the camera's picture size and batch size (in a
        greenlet): the server retraces then, not during the first centring."""
        warm_up_timeout_s: float = Field(60.0, gt=0)
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
        conventions: str = "default"
        """Named conventions (murko.solver.PRESETS): ``default``, or ``soleil`` (MD3 vertical
        axis, AlignmentZ -c, along-axis from the fit's c, clicks at f*H). A preset also gives
        ``signs`` and, for soleil, ``orientation: vertical_up`` / ``server_tip: up`` unless they
        are configured."""
        along_axis: str | None = None
        """``mean`` or ``fit`` (the along offsets' sinusoid c); None: the preset's."""
        pixel_convention: str | None = None
        """``centre`` ((f + 0.5/Hp) H - 0.5) or ``corner`` (f H); None: the preset's."""
        min_foreground_fraction: float = Field(0.001, ge=0, le=1)
        max_foreground_fraction: float = Field(0.7, gt=0, le=1)
        """A found sample's mask must cover between these fractions of the picture."""
        max_correction_mm: float | None = Field(None, gt=0)
        """Largest correction of any motor; None: the camera's field of view at the current zoom."""
        max_rms_fraction: float = Field(0.25, gt=0)
        """The fit's RMS must also be below this fraction of the sample's size across the axis."""
        min_views: int = Field(5, ge=3)
        """A round with fewer views where the sample was found is verified by one more round."""
        verify_ratio: float = Field(0.5, gt=0)
        verify_floor_mm: float = Field(0.005, ge=0)
        """The verifying round's correction must be below max(verify_ratio x the first's, this)."""
        omega_zero_deg: float = 0.0
        motor_roles: dict[str, str] | str = Field(default_factory=dict)
        """The diffractometer's motor role for each centring name (``omega``, ``phiy`` along the
        axis, ``phiz`` across it, ``sampx``/``sampy`` the table), or ``md2``/``md3``
        (goniometer.MD3_ROLES: alignmenty, alignmentz, centringx, centringy)."""
        table_offset_deg: float = 0.0
        """Angle from omega's zero to the centring table's sampx axis (goniometer.MotorRoles)."""
        motion_timeout_s: float = Field(60.0, gt=0)
        return_omega: bool = False
        """Turn omega back to where the centring started (costs a move)."""
        store_3d: bool = True
        hull_voxel_mm: float = Field(0.004, gt=0)
        output_subdir: str = "murko"

        @field_validator("omega_angles_deg", "signs", "motor_roles", mode="before")
        @classmethod
        def _from_xml_text(cls, value: Any) -> Any:
            """XML properties arrive as text ("[0, 90, 180, 270]"): read them as literals."""
            if isinstance(value, str) and value.strip().isidentifier():
                return value.strip()  # a preset name (motor_roles: md3)
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

        @model_validator(mode="after")
        def _apply_preset(self) -> Any:
            """A preset's signs and orientation, unless configured; along/pixel rules checked."""
            from mxcubecore_interleave.murko.solver import PRESET_ORIENTATION, conventions_from, preset

            conventions = preset(self.conventions)
            given = self.model_fields_set
            if "signs" not in given:
                self.signs = Signs(**conventions.signs)
            camera, server = PRESET_ORIENTATION.get(self.conventions, (None, None))
            if camera is not None and "orientation" not in given:
                self.orientation = camera
            if server is not None and "server_tip" not in given:
                self.server_tip = server
            conventions_from(self)  # raises a ValueError naming a bad along/pixel rule
            motor_roles_from(self)  # raises a ValueError naming a bad motor role
            if self.min_foreground_fraction >= self.max_foreground_fraction:
                raise ValueError("min_foreground_fraction must be below max_foreground_fraction")
            return self

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
        self._evidence: dict[str, Any] = {}
        self.warm_up_greenlet: Any = None
        self.warm_up_result: str | None = None

    def init(self) -> None:
        super().init()
        self._register_queue_entry()
        _import_file_writers()
        self.update_state(HardwareObjectState.READY)
        if self.config.warm_up:
            self.warm_up_greenlet = gevent.spawn(self.warm_up)

    def warm_up(self) -> str:
        """One request of the camera's picture, as many times as a round has views, with its own
        client and ``warm_up_timeout_s``: a cold server retraces now, not in the first centring.
        Never raises; the outcome is logged and kept in ``warm_up_result``."""
        settings = self.config
        n = len(settings.omega_angles_deg)
        try:
            picture = self._picture(settings)
            client = self._make_client(settings)
            try:
                t0 = time.monotonic()
                client.predict([picture] * n, timeout_s=settings.warm_up_timeout_s)
                seconds = time.monotonic() - t0
            finally:
                client.close()
            self.warm_up_result = f"Murko at {self.server_address} warmed up: {n} pictures answered in {seconds:.1f} s"
            log.info(self.warm_up_result)
        except Exception as exc:
            self.warm_up_result = f"Murko warm-up at {self.server_address} failed (the first centring may be slow): {exc}"
            log.warning(self.warm_up_result)
        return self.warm_up_result

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
            self._drop_client()
            self._client = self._make_client(settings)
            self._client_key = key
        return self._client

    @staticmethod
    def _make_client(settings: Any):
        import zmq.green

        return murko_core().MurkoClient(
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
            max_reply_mb_per_image=settings.max_reply_mb_per_image,
        )

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
        settings = self._active = self._settings(overrides)  # its motor roles read the positions
        if self._busy:
            raise CentringError("a Murko centring is already running; wait for it or abort it")
        self._busy = True
        self.update_state(HardwareObjectState.BUSY)
        self.emit("centringStarted", (METHOD,))
        self._evidence = {}
        start = self._positions()
        try:
            result = self._centre(start, settings)
        except BaseException as exc:
            self._restore(start, settings)
            self._set_idle()
            error = self._as_centring_error(exc, settings)
            reason = str(error) if error is not None else "cancelled"
            status = {"motors": start, "method": METHOD, "valid": False, "error": reason,
                      "check": getattr(error, "check", None)}
            if error is not None and settings.store_3d and self._evidence.get("images"):
                status["files"] = self._store_refusal(error, start, output_dir, prefix, settings)
            self.emit("centringFailed", (METHOD, status))
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
            from mxcubecore_interleave.errors import MurkoTimeoutError

            check = "timeout" if isinstance(exc, MurkoTimeoutError) else "reply"
            return CentringRefused(check, f"Murko server {settings.host}:{settings.port} failed, motors put back: {exc}")
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
        """Rounds of acquire, check, move. A round with fewer than ``min_views`` found views is
        verified by the next one (added once if it was the last): that round's correction must
        be small against it, or the centring is refused and the motors go back."""
        core = murko_core()
        limits = murko_core().limits_from(settings)
        t_start = time.monotonic()
        timings = {"motion": 0.0, "murko": 0.0, "images": 0.0}
        rounds: list[CentringRound] = []
        position = dict(start)
        planned = settings.rounds
        while len(rounds) < planned:
            cround = self._acquire(position, timings, settings)
            previous = rounds[-1] if rounds else None
            if previous is not None and core.needs_verification(int(sum(previous.present)), limits):
                core.check_verification(previous.correction, cround.correction, limits)
            rounds.append(cround)
            small = max(abs(v) for v in cround.correction.values()) < settings.tolerance_mm
            target = {role: position[role] + cround.correction[role] for role in TRANSLATIONS}
            t0 = time.monotonic()
            self._move(target, settings)
            timings["motion"] += time.monotonic() - t0
            position = self._positions()
            if small:
                break
            if (len(rounds) == planned == settings.rounds
                    and core.needs_verification(int(sum(cround.present)), limits)):
                planned += 1  # too few views for the fit's RMS to mean anything: verify once
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
            self._evidence = {"omega_deg": omegas, "images": images, "start_position": dict(position)}
            for angle in settings.omega_angles_deg:
                t0 = time.monotonic()
                self._move({"omega": offset + angle}, settings)
                timings["motion"] += time.monotonic() - t0
                t0 = time.monotonic()
                omegas.append(self._positions(("omega",))["omega"])
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
            if getattr(client, "last_first_at_size", False) and time.monotonic() - t0 > 2.0:
                log.info("Murko: the first request at this picture size took %.1f s (a cold server; "
                         "warm_up avoids it)", time.monotonic() - t0)
            for phase, seconds in getattr(client, "last_timings", {}).items():
                timings[f"murko_{phase}"] = timings.get(f"murko_{phase}", 0.0) + seconds
            present = [bool(v.present) for v in views]
            self._evidence.update(views=views, present=present, click_frac=np.array(
                [v.click_frac if p else (np.nan, np.nan) for v, p in zip(views, present)], dtype=float))
            seen.append(sum(present))
            if usable_views(omegas, present):
                return self._fit_round(omegas, images, views, present, self._positions(), settings)
            user_log.warning(
                "Murko found the sample in %d of %d views; turning omega by %g deg and trying again",
                sum(present), len(present), settings.retry_rotation_deg,
            )
        raise CentringRefused(
            "nothing_found",
            f"Murko found no sample in {settings.max_attempts} attempt(s) of "
            f"{len(settings.omega_angles_deg)} views (found per attempt: {seen}); "
            "check that a sample is mounted and in the camera's field of view. Motors put back.",
        )

    def _fit_round(self, omegas, images, views, present, position, settings) -> CentringRound:
        """The solver's corrections for this round, after every plausibility check (pure core)."""
        from mxcubecore_interleave.murko.orientation import axis_orientation

        core = murko_core()
        beam_x, beam_y = (float(v) for v in HWR.beamline.beam.get_beam_position_on_screen())
        ppmm_x, ppmm_y = (float(v) for v in self._diffractometer().get_pixels_per_mm())
        first = views[next(i for i, p in enumerate(present) if p)]
        geometry = core.Geometry(
            image_shape=tuple(first.image_shape), grid_shape=tuple(first.foreground_mask.shape),
            beam_px=(beam_x, beam_y), pixels_per_mm=(ppmm_x, ppmm_y),
            axis=axis_orientation(settings.orientation), omega_zero_deg=float(settings.omega_zero_deg),
        )
        frac = self._evidence["click_frac"]
        masks = [v.foreground_mask for v in views]
        limits = core.limits_from(settings)
        self._evidence.update(geometry=geometry)
        core.check_views(frac, present, masks, geometry.grid_shape, limits)
        solution = core.solve(omegas, frac, geometry, core.conventions_from(settings))
        self._evidence.update(solution=solution)
        core.check_solution(solution, geometry, core.sample_size_mm(masks, present, geometry), limits)
        return CentringRound(
            omega_deg=list(omegas),
            start_position=dict(position),
            views=list(views),
            present=list(present),
            shift_mm=solution.shift_mm,
            fit=solution.across,
            correction=dict(solution.correction),
            images=list(images),
            axis=geometry.axis,
            beam_px=(beam_x, beam_y),
            pixels_per_mm=(ppmm_x, ppmm_y),
            solution=solution,
            geometry=geometry,
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
        paths = murko_record().free_names(directory, prefix, self._reserved)
        self._reserved.update(paths.values())
        server = f"{settings.host}:{settings.port}"
        try:
            _off_hub(murko_record().write_centring_files, result, paths, settings, server, prefix)
        finally:
            self._reserved.difference_update(paths.values())
        return {key: str(path) for key, path in paths.items()}

    def _store_refusal(self, error: CentringError, start: dict[str, float], output_dir, prefix, settings) -> dict[str, str]:
        """The HDF5 file of a refused centring (pictures, replies, the refusal as ``outcome``)."""
        try:
            directory = Path(output_dir) if output_dir is not None else self.default_output_dir(settings)
            name = check_name(prefix or datetime.now().strftime("centring_%Y%m%d-%H%M%S"), "prefix")
            directory.mkdir(parents=True, exist_ok=True)
            paths = murko_record().free_names(directory, name, self._reserved)
            evidence = dict(self._evidence, start_position=dict(start))
            _off_hub(murko_record().write_refusal_file, paths["h5"], error, evidence, settings, self.server_address)
            return {"h5": str(paths["h5"])}
        except Exception:
            log.exception("Murko centring: could not store the refused centring's file")
            return {}

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
        return RgbCamera(camera)

    def _positions(self, names: tuple[str, ...] = ("omega", *TRANSLATIONS)) -> dict[str, float]:
        """Centring-name positions, each motor read by its configured role."""
        roles = motor_roles_from(getattr(self, "_active", None) or self.config)
        return roles.from_site(read_motors(self._diffractometer(), roles.site_roles(names)))

    def _move(self, target: dict[str, float], settings: Any = None) -> None:
        cfg = settings or self.config
        timeout = cfg.motion_timeout_s
        diffractometer = self._diffractometer()
        try:
            move_motors(diffractometer, motor_roles_from(cfg).to_site(target), timeout)
            wait_diffractometer_ready(diffractometer, timeout)
        except (MotorError, RuntimeError, gevent.Timeout) as exc:
            raise CentringError(f"a centring motor did not reach {target} within {timeout:g} s: {exc}") from exc

    def _restore(self, start: dict[str, float], settings: Any = None) -> None:
        """Put every motor back where the centring found it (the failure must change nothing).

        A move still under way (the centring was cancelled mid-rotation) is stopped first, or
        it would end after, and override, the move back.
        """
        try:
            diffractometer = self._diffractometer()
            for role in motor_roles_from(settings or self.config).site_roles(start):
                motor = find_motor(diffractometer, role)
                if not motor.is_ready() and hasattr(motor, "abort"):
                    motor.abort()
            now = self._positions()
            if any(abs(now[k] - start[k]) > 1e-9 for k in start):
                cfg = settings or self.config
                move_motors(diffractometer, motor_roles_from(cfg).to_site(start), cfg.motion_timeout_s)
        except Exception:
            log.exception("Murko centring: could not put the motors back to %s", start)


def murko_core() -> SimpleNamespace:
    """The pure Murko core functions this adapter uses (one place to swap them in tests)."""
    from mxcubecore_interleave.murko import client, frames, hull, plausibility, plot, solver, storage

    return SimpleNamespace(
        MurkoClient=client.MurkoClient,
        Geometry=solver.Geometry,
        solve=solver.solve,
        check_views=plausibility.check_views,
        check_solution=plausibility.check_solution,
        sample_size_mm=plausibility.sample_size_mm,
        needs_verification=plausibility.needs_verification,
        check_verification=plausibility.check_verification,
        limits_from=plausibility.limits_from,
        conventions_from=solver.conventions_from,
        MotorFrame=frames.MotorFrame,
        visual_hull=hull.visual_hull,
        write_centring_h5=storage.write_centring_h5,
        write_ply=storage.write_ply,
        write_point_cloud_ply=storage.write_point_cloud_ply,
        plot_centring=plot.plot_centring,
    )


def murko_record() -> Any:
    """The pure module that writes a centring's files."""
    from mxcubecore_interleave.murko import record

    return record


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
