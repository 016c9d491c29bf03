"""The interleaved task: sweeps, wedge size, order strategy, paths (pure pydantic, no mxcubecore).

A *sweep* is one homogeneous rotation data set (one energy, one kappa/phi orientation). An
interleaved collection cuts every sweep into *wedges* of a few images and collects the wedges
of all sweeps in turn, so that radiation damage is spread evenly over the sweeps. Validation
happens here, once, with messages a beamline scientist can act on; the planner can then trust
its input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import PlanError, UnsafePathError
from ..paths import check_name, check_subdir
from .duplicates import duplicate_message
from .orientation import ORIENTATION_CHANGE_HELP, ORIENTATION_CHANGE_TITLE, OrientationPolicy


def _path_checked(check: Callable[..., str], *args: str) -> str:
    """Path checks raise UnsafePathError; pydantic validators must raise ValueError to report it."""
    try:
        return check(*args)
    except UnsafePathError as exc:
        raise ValueError(str(exc)) from None

TASK_SCHEMA_VERSION = "mxcube-interleaved-task/1"
HC_KEV_A = 12.398419843320026  # h*c in keV*Angstrom (CODATA 2018)

# What no beamline has: the model refuses these whatever the beamline (its own limits come later).
ENERGY_KEV_RANGE = (1.0, 300.0)
MAX_EXPOSURE_S = 3600.0
MAX_ANGLE_DEG = 3600.0  # |omega|, |kappa|, |phi|; ten turns
MAX_OSC_RANGE_DEG = 360.0
MAX_RESOLUTION_A = 1000.0
MAX_DISTANCE_MM = 100000.0
MAX_IMAGES_PER_SWEEP = 1_000_000
MAX_SWEEPS = 100  # as given, before inverse-beam partners
MAX_WEDGES = 100_000  # wedges of the whole task

Strategy = Literal["round_robin", "inverse_adjacent", "min_motion"]
WedgeUnit = Literal["images", "degrees"]


def wavelength_from_energy(energy_keV: float) -> float:
    return HC_KEV_A / energy_keV


def energy_from_wavelength(wavelength_A: float) -> float:
    return HC_KEV_A / wavelength_A


class Sweep(BaseModel):
    """One rotation sweep as the user asks for it (before inverse-beam expansion)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: str = Field(title="Sweep id", description="a short name, used in file names (e.g. 'peak', 'A')")
    energy_keV: float | None = Field(None, title="Energy (keV)", gt=0)
    wavelength_A: float | None = Field(None, title="Wavelength (Å)", gt=0)
    kappa: float = Field(0.0, title="Kappa (deg)")
    phi: float = Field(0.0, title="Phi (deg)")
    omega_start: float = Field(0.0, title="Omega start (deg)")
    osc_range: float = Field(0.1, title="Oscillation per image (deg)")
    num_images: int = Field(100, title="Number of images")
    exposure_time: float = Field(0.01, title="Exposure time (s)")
    transmission: float = Field(100.0, title="Transmission (%)")
    resolution: float | None = Field(None, title="Resolution (Å)")
    detector_distance: float | None = Field(None, title="Detector distance (mm)")
    inverse_beam: bool = Field(False, title="Inverse beam", description="add the partner sweep at omega + 180 deg")
    inverse_of: str | None = Field(None, description="set on the generated partner sweep only")
    repeat: bool = Field(False, title="Intended repeat",
                         description="collect again what another sweep collects (same energy, kappa, phi "
                                     "and overlapping omega), on purpose; without it such a sweep is refused")

    @field_validator("id")
    @classmethod
    def _safe_id(cls, v: str) -> str:
        return _path_checked(check_name, v, "sweep id")

    @field_validator("osc_range")
    @classmethod
    def _positive_range(cls, v: float) -> float:
        if not 0 < v <= MAX_OSC_RANGE_DEG:
            raise ValueError(f"the oscillation range per image must be in (0, {MAX_OSC_RANGE_DEG:g}] deg, got {v} deg")
        return v

    @field_validator("num_images")
    @classmethod
    def _positive_count(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"a sweep needs at least one image, got {v}")
        if v > MAX_IMAGES_PER_SWEEP:
            raise ValueError(f"{v} images in one sweep is more than the limit of {MAX_IMAGES_PER_SWEEP}")
        return v

    @field_validator("exposure_time")
    @classmethod
    def _positive_exposure(cls, v: float) -> float:
        if not 0 < v <= MAX_EXPOSURE_S:
            raise ValueError(f"the exposure time must be in (0, {MAX_EXPOSURE_S:g}] s, got {v} s")
        return v

    @field_validator("omega_start", "kappa", "phi")
    @classmethod
    def _angle(cls, v: float, info) -> float:
        if abs(v) > MAX_ANGLE_DEG:
            raise ValueError(f"{info.field_name} {v} deg is beyond the limit of ±{MAX_ANGLE_DEG:g} deg")
        return v

    @field_validator("energy_keV")
    @classmethod
    def _physical_energy(cls, v: float | None) -> float | None:
        lo, hi = ENERGY_KEV_RANGE
        if v is not None and not lo <= v <= hi:
            raise ValueError(f"an energy of {v} keV is outside {lo:g}–{hi:g} keV (no beamline has it)")
        return v

    @field_validator("wavelength_A")
    @classmethod
    def _physical_wavelength(cls, v: float | None) -> float | None:
        lo, hi = HC_KEV_A / ENERGY_KEV_RANGE[1], HC_KEV_A / ENERGY_KEV_RANGE[0]
        if v is not None and not lo <= v <= hi:
            raise ValueError(f"a wavelength of {v} Å is outside {lo:.4g}–{hi:.4g} Å "
                             f"({ENERGY_KEV_RANGE[0]:g}–{ENERGY_KEV_RANGE[1]:g} keV; no beamline has it)")
        return v

    @field_validator("transmission")
    @classmethod
    def _transmission(cls, v: float) -> float:
        if not 0 < v <= 100:
            raise ValueError(f"the transmission is a percentage in (0, 100], got {v}")
        return v

    @model_validator(mode="after")
    def _one_energy(self) -> "Sweep":
        if self.energy_keV is None and self.wavelength_A is None:
            raise ValueError(f"sweep {self.id!r}: give the energy (keV) or the wavelength (Å)")
        if self.energy_keV is not None and self.wavelength_A is not None:
            if not math.isclose(self.energy_keV * self.wavelength_A, HC_KEV_A, rel_tol=1e-4):
                raise ValueError(
                    f"sweep {self.id!r}: energy {self.energy_keV} keV and wavelength "
                    f"{self.wavelength_A} Å disagree; give only one of them"
                )
        if self.resolution is not None and self.detector_distance is not None:
            raise ValueError(f"sweep {self.id!r}: give the resolution or the detector distance, not both")
        if self.resolution is not None and not 0 < self.resolution <= MAX_RESOLUTION_A:
            raise ValueError(f"sweep {self.id!r}: the resolution must be in (0, {MAX_RESOLUTION_A:g}] Å, got {self.resolution} Å")
        if self.detector_distance is not None and not 0 < self.detector_distance <= MAX_DISTANCE_MM:
            raise ValueError(f"sweep {self.id!r}: the detector distance must be in (0, {MAX_DISTANCE_MM:g}] mm, "
                             f"got {self.detector_distance} mm")
        if abs(self.omega_end) > MAX_ANGLE_DEG:
            raise ValueError(f"sweep {self.id!r}: it ends at omega {self.omega_end:g} deg, beyond the limit of "
                             f"±{MAX_ANGLE_DEG:g} deg")
        return self

    @property
    def energy(self) -> float:
        """keV, whichever of energy or wavelength was given."""
        return self.energy_keV if self.energy_keV is not None else energy_from_wavelength(self.wavelength_A)  # type: ignore[arg-type]

    @property
    def wavelength(self) -> float:
        return self.wavelength_A if self.wavelength_A is not None else wavelength_from_energy(self.energy_keV)  # type: ignore[arg-type]

    @property
    def omega_end(self) -> float:
        return self.omega_start + self.osc_range * self.num_images

    def inverse_partner(self) -> "Sweep":
        """The inverse-beam partner: same settings, omega + 180 deg, id ``<id>_inv``."""
        return self.model_copy(update={
            "id": f"{self.id}_inv", "omega_start": self.omega_start + 180.0,
            "inverse_beam": False, "inverse_of": self.id,
        })


class BeamlineLimits(BaseModel):
    """What the beamline can do; a task outside these is refused before anything moves."""

    model_config = ConfigDict(extra="ignore")

    energy_keV: tuple[float, float] = (4.0, 25.0)
    transmission: tuple[float, float] = (0.0, 100.0)
    resolution_A: tuple[float, float] = (0.5, 50.0)
    detector_distance_mm: tuple[float, float] = (50.0, 1500.0)
    exposure_time: tuple[float, float] = (0.001, 1000.0)
    kappa: tuple[float, float] = (-360.0, 360.0)
    phi: tuple[float, float] = (-720.0, 720.0)
    omega: tuple[float, float] = (-MAX_ANGLE_DEG, MAX_ANGLE_DEG)
    max_images: int = 99999
    has_kappa: bool = Field(True, description="False: no kappa motor, every sweep must have kappa 0")
    has_phi: bool = Field(True, description="False: no kappa_phi motor, every sweep must have phi 0")


class InterleavedTask(BaseModel):
    """An interleaved collection: the sweeps, how they are cut into wedges and in which order."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    schema_version: Literal["mxcube-interleaved-task/1"] = TASK_SCHEMA_VERSION
    sweeps: list[Sweep] = Field(title="Sweeps", max_length=MAX_SWEEPS)
    wedge_size: float = Field(10, title="Wedge size", description="in images or degrees (see wedge_unit)")
    wedge_unit: WedgeUnit = Field("images", title="Wedge unit")
    strategy: Strategy = Field("min_motion", title="Order strategy")
    prefix: str = Field("interleaved", title="Prefix")
    subdir: str = Field("", title="Sub-directory")
    run_number: int = Field(1, ge=1, le=99999, title="Run number")
    images_per_file: int | None = Field(
        None, ge=1, le=MAX_IMAGES_PER_SWEEP, title="Images per data file",
        description="detector data file size for every wedge (a divisor of the wedge size; empty: the wedge size)")
    write_masters_before: bool = Field(
        False, title="Sweep masters before collecting",
        description="also write the sweep masters from the plan before the first wedge (online processing)")
    orientation_change: OrientationPolicy = Field(
        "recentre", title=ORIENTATION_CHANGE_TITLE, description=ORIENTATION_CHANGE_HELP)

    @field_validator("prefix")
    @classmethod
    def _safe_prefix(cls, v: str) -> str:
        return _path_checked(check_name, v, "prefix")

    @field_validator("subdir")
    @classmethod
    def _safe_subdir(cls, v: str) -> str:
        return _path_checked(check_subdir, v)

    @field_validator("wedge_size")
    @classmethod
    def _positive_wedge(cls, v: float) -> float:
        if not v > 0:
            raise ValueError(f"the wedge size must be positive, got {v}")
        if v > MAX_IMAGES_PER_SWEEP:
            raise ValueError(f"the wedge size {v} is beyond the limit of {MAX_IMAGES_PER_SWEEP}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "InterleavedTask":
        if not self.sweeps:
            raise ValueError("an interleaved collection needs at least one sweep")
        if self.wedge_unit == "images" and self.wedge_size != int(self.wedge_size):
            raise ValueError(f"a wedge size in images must be a whole number, got {self.wedge_size}")
        seen: dict[str, Sweep] = {}
        for s in self.all_sweeps():
            if s.id in seen:
                partner = s.inverse_of or seen[s.id].inverse_of
                what = f"the inverse-beam partner id {s.id!r} (of sweep {partner!r})" if partner else f"the sweep id {s.id!r}"
                raise ValueError(f"{what} is used twice; every sweep needs its own id")
            seen[s.id] = s
        duplicate = duplicate_message(self.all_sweeps())
        if duplicate:
            raise ValueError(duplicate)
        for s in self.sweeps:
            n = self.wedge_images(s)
            if n > s.num_images:
                raise ValueError(
                    f"the wedge ({n} images) is larger than sweep {s.id!r} ({s.num_images} images); "
                    "make the wedge smaller or the sweep longer")
            if self.images_per_file is not None and n % self.images_per_file:
                raise ValueError(
                    f"images per data file ({self.images_per_file}) must divide the wedge size ({n} images "
                    f"for sweep {s.id!r}) so that sweep masters can link whole data files")
        wedges = sum(-(-s.num_images // self.wedge_images(s)) for s in self.all_sweeps())
        if wedges > MAX_WEDGES:
            raise ValueError(f"the task has {wedges} wedges, more than the limit of {MAX_WEDGES}; "
                             "use larger wedges or fewer images")
        return self

    def wedge_images(self, sweep: Sweep) -> int:
        """Images per wedge for ``sweep`` (a size in degrees is rounded to whole images)."""
        if self.wedge_unit == "images":
            return int(self.wedge_size)
        n = round(self.wedge_size / sweep.osc_range)
        if n < 1 or not math.isclose(n * sweep.osc_range, self.wedge_size, rel_tol=1e-6, abs_tol=1e-9):
            raise ValueError(
                f"a wedge of {self.wedge_size} deg is not a whole number of images of {sweep.osc_range} deg "
                f"(sweep {sweep.id!r})")
        return n

    def all_sweeps(self) -> list[Sweep]:
        """The sweeps in the order given, each followed by its inverse-beam partner if asked."""
        out: list[Sweep] = []
        for s in self.sweeps:
            out.append(s)
            if s.inverse_beam:
                out.append(s.inverse_partner())
        return out

    @property
    def total_images(self) -> int:
        return sum(s.num_images for s in self.all_sweeps())


def check_limits(task: InterleavedTask, limits: BeamlineLimits) -> None:
    """Refuse a task that asks for more than the beamline can do (every problem in one message)."""
    problems: list[str] = []

    def outside(value: float, lo_hi: tuple[float, float]) -> bool:
        return not (lo_hi[0] <= value <= lo_hi[1])

    for s in task.sweeps:
        if outside(s.energy, limits.energy_keV):
            problems.append(f"sweep {s.id!r}: energy {s.energy:.4f} keV is outside {limits.energy_keV[0]}–{limits.energy_keV[1]} keV")
        if outside(s.transmission, limits.transmission):
            problems.append(f"sweep {s.id!r}: transmission {s.transmission}% is outside {limits.transmission[0]}–{limits.transmission[1]}%")
        if s.resolution is not None and outside(s.resolution, limits.resolution_A):
            problems.append(f"sweep {s.id!r}: resolution {s.resolution} Å is outside {limits.resolution_A[0]}–{limits.resolution_A[1]} Å")
        if s.detector_distance is not None and outside(s.detector_distance, limits.detector_distance_mm):
            problems.append(f"sweep {s.id!r}: detector distance {s.detector_distance} mm is outside "
                            f"{limits.detector_distance_mm[0]}–{limits.detector_distance_mm[1]} mm")
        if outside(s.exposure_time, limits.exposure_time):
            problems.append(f"sweep {s.id!r}: exposure time {s.exposure_time} s is outside {limits.exposure_time[0]}–{limits.exposure_time[1]} s")
        if not limits.has_kappa and abs(s.kappa) > 1e-6:
            problems.append(f"sweep {s.id!r}: kappa {s.kappa:g} deg cannot be set: the diffractometer has no "
                            "kappa motor (use kappa 0, or a kappa goniometer)")
        elif outside(s.kappa, limits.kappa):
            problems.append(f"sweep {s.id!r}: kappa {s.kappa} deg is outside {limits.kappa[0]}–{limits.kappa[1]} deg")
        if not limits.has_phi and abs(s.phi) > 1e-6:
            problems.append(f"sweep {s.id!r}: phi {s.phi:g} deg cannot be set: the diffractometer has no "
                            "kappa_phi motor (use phi 0, or a kappa goniometer)")
        elif outside(s.phi, limits.phi):
            problems.append(f"sweep {s.id!r}: phi {s.phi} deg is outside {limits.phi[0]}–{limits.phi[1]} deg")
        for name, value in (("omega start", s.omega_start), ("omega end", s.omega_end)):
            if outside(value, limits.omega):
                problems.append(f"sweep {s.id!r}: {name} {value:g} deg is outside {limits.omega[0]}–{limits.omega[1]} deg")
        if s.num_images > limits.max_images:
            problems.append(f"sweep {s.id!r}: {s.num_images} images is more than the {limits.max_images} allowed")
    if problems:
        raise PlanError("the task is outside the beamline's limits: " + "; ".join(problems))


def parse_task(data: dict | str, limits: BeamlineLimits | None = None) -> InterleavedTask:
    """Validate a task from a dict or JSON text; a PlanError carries the scientist's message."""
    try:
        task = (InterleavedTask.model_validate_json(data) if isinstance(data, (str, bytes))
                else InterleavedTask.model_validate(data))
    except ValidationError as exc:
        raise PlanError(explain(exc)) from None
    if limits is not None:
        check_limits(task, limits)
    return task


def explain(exc: ValidationError, hidden: frozenset[str] = frozenset()) -> str:
    """A pydantic error as one sentence per problem, "field: what is wrong and what is allowed".

    No URLs, type codes or repeats; pydantic's "Input should be" reads "must be" and a missing
    field "is required". ``hidden``: leading location names the user never sees (mxcubecore's
    parameter groups), dropped so the field is named as the form shows it.
    """
    parts: list[str] = []
    for err in exc.errors(include_url=False):
        loc = [str(x) for x in err.get("loc", ()) if x != "__root__"]
        if loc and loc[0] in hidden:
            loc = loc[1:]
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        if err.get("type") == "missing":
            msg = "is required"
        elif loc and msg.startswith("Input should be"):
            msg = msg.replace("Input should be", "must be", 1)
        part = f"{'.'.join(loc)}: {msg}" if loc else msg
        if part not in parts:
            parts.append(part)
    text = "; ".join(parts)
    return text if text.startswith("invalid interleaved task") else f"invalid interleaved task: {text}"
