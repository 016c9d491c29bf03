"""MasterFileRepackager: one NXmx sweep master per sweep of an interleaved collection.

A thin adapter over ``mxcubecore_interleave.nexus`` (pure h5py). The interleaved queue entry calls
``write_sweep_masters(record_path, "before")`` once the acquisition record is planned (masters whose
links become valid as the wedges are written, so online processing can start early) and
``write_sweep_masters(record_path, "after")`` at the end (rebuilt and validated from what is on
disk). Each sweep's ``master`` and ``layout`` are recorded in the acquisition record.

Template metadata for "before", when no detector master exists yet: ``template_master`` if
configured, otherwise a one-frame probe series per sweep (at its wavelength) written by the
simulated Eiger writer with ``HWR.beamline.detector.get_geometry()`` into a temporary directory
(deleted afterwards). A real
beamline configures ``template_master`` (any master from the same detector).

YAML (``configuration/master_file_repackager.yaml``)::

    class: mxcubecore_interleave.hardware_objects.MasterFileRepackager.MasterFileRepackager
    configuration:
      output_subdir: ""        # relative to the record's directory
      layout: auto             # auto | L | V
      pixel_mask: link         # link (to the first wedge's detector master) | copy
      write_before: true
      template_master: null    # a detector master to copy the header from ("before" only)
      run_in_thread: true      # file work in gevent's thread pool: the gevent loop keeps running

XML: ``<object class="mxcubecore_interleave.hardware_objects.MasterFileRepackager">`` with the
same keys as elements.

Signals: ``sweepMastersWritten(stage, [paths])``, ``sweepMastersFailed(stage, message)``.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Literal

from mxcubecore import HardwareRepository as HWR
from mxcubecore.BaseHardwareObjects import ConfiguredObject, HardwareObject
from pydantic import Field

from mxcubecore_interleave.errors import InterleaveError, RepackageError
from mxcubecore_interleave.nexus import RepackageResult, repackage_record
from mxcubecore_interleave.nexus.pixel_mask import MASK_POLICIES
from mxcubecore_interleave.paths import check_subdir
from mxcubecore_interleave.record import AcquisitionRecord

__all__ = ["MasterFileRepackager"]

log = logging.getLogger("HWR")
user_log = logging.getLogger("user_level_log")
LAYOUTS = ("auto", "L", "V")


def import_checks_in_loop() -> None:
    """Import nxmx (the validation's lazy import) here, in the gevent loop, before the first file
    work in gevent's thread pool: importing it there runs scipy's ``platform`` query, a
    subprocess, and gevent's patched subprocess refuses a child watcher outside the default loop
    (``TypeError: child watchers are only available on the default loop``). Once per process."""
    try:
        import nxmx  # noqa: F401
    except ImportError:  # pragma: no cover - the run then warns that nxmx is not installed
        pass


def _bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class MasterFileRepackager(HardwareObject):
    class HOConfig(ConfiguredObject.HOConfig):
        output_subdir: str = ""
        layout: Literal["auto", "L", "V"] = "auto"
        pixel_mask: Literal["link", "copy"] = "link"
        write_before: bool = True
        template_master: str | None = Field(None, description="a detector master whose header 'before' copies")
        run_in_thread: bool = True

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.output_subdir = ""
        self.layout = "auto"
        self.pixel_mask = "link"
        self.write_before = True
        self.template_master: Path | None = None
        self.run_in_thread = True
        self.last_result: RepackageResult | None = None

    def init(self) -> None:
        super().init()
        self.output_subdir = check_subdir(str(self.get_property("output_subdir", "") or ""), "output_subdir")
        layout = str(self.get_property("layout", "auto") or "auto")
        if layout not in LAYOUTS:
            raise ValueError(f"master_file_repackager: layout {layout!r} is not one of {LAYOUTS}")
        self.layout = layout
        pixel_mask = str(self.get_property("pixel_mask", "link") or "link")
        if pixel_mask not in MASK_POLICIES:
            raise ValueError(f"master_file_repackager: pixel_mask {pixel_mask!r} is not one of {MASK_POLICIES}")
        self.pixel_mask = pixel_mask
        self.write_before = _bool(self.get_property("write_before", True))
        tpl = self.get_property("template_master", None)
        self.template_master = Path(tpl) if tpl not in (None, "", "None") else None
        self.run_in_thread = _bool(self.get_property("run_in_thread", True))

    # -- the interface the interleaved queue entry calls ----------------------------------------
    def write_sweep_masters(self, record_path: Path, stage: Literal["before", "after"]) -> list[Path]:
        """Write (or refresh) every sweep master of the record; returns their paths.

        "before" returns [] when ``write_before`` is off. Raises ``RepackageError`` (nothing
        written, record untouched) when anything does not validate, ``RecordError`` when the
        record is missing or invalid.
        """
        if stage not in ("before", "after"):
            raise ValueError(f"stage must be 'before' or 'after', got {stage!r}")
        record_path = Path(record_path)
        if stage == "before" and not self.write_before:
            return []
        # hardware is asked here, in the gevent loop; the file work runs in gevent's thread pool
        # so the loop (queue, web server, detector greenlets) keeps running meanwhile
        geometry = self._geometry() if stage == "before" and self.template_master is None else None
        ipf = self._images_per_file()
        try:
            if self.run_in_thread:
                import gevent

                import_checks_in_loop()
                result = gevent.get_hub().threadpool.apply(self._work, (record_path, stage, geometry, ipf))
            else:
                result = self._work(record_path, stage, geometry, ipf)
        except InterleaveError as exc:  # RepackageError, RecordError, UnsafePathError
            log.error("sweep masters (%s) not written: %s", stage, exc)
            self.emit("sweepMastersFailed", (stage, str(exc)))
            raise
        self.last_result = result
        for w in result.warnings:
            user_log.warning("%s", w)
        paths = result.paths
        self.emit("sweepMastersWritten", (stage, paths))
        return paths

    # -- internals ------------------------------------------------------------------------------
    def _images_per_file(self) -> int | None:
        detector = HWR.beamline.detector if HWR.beamline is not None else None
        ipf = getattr(detector, "images_per_file", None)
        return int(ipf) if ipf else None

    def _geometry(self):
        detector = HWR.beamline.detector if HWR.beamline is not None else None
        if detector is None or not hasattr(detector, "get_geometry"):
            raise RepackageError("no template master for 'before': configure template_master, or use a detector "
                                 "that provides get_geometry() (SimulatedEigerDetector)")
        return detector.get_geometry()

    def _work(self, record_path: Path, stage: str, geometry, images_per_file: int | None) -> RepackageResult:
        """Pure file work (no hardware access): safe in a worker thread."""
        if geometry is None:
            return repackage_record(record_path, stage, output_subdir=self.output_subdir,  # type: ignore[arg-type]
                                    layout=self.layout, template=self.template_master,  # type: ignore[arg-type]
                                    images_per_file=images_per_file, pixel_mask=self.pixel_mask)  # type: ignore[arg-type]
        with tempfile.TemporaryDirectory(prefix=".sweep-template-") as tmp:
            template = self._probe_templates(record_path, Path(tmp), geometry)
            return repackage_record(record_path, stage, output_subdir=self.output_subdir,  # type: ignore[arg-type]
                                    layout=self.layout, template=template,  # type: ignore[arg-type]
                                    images_per_file=images_per_file, pixel_mask=self.pixel_mask)  # type: ignore[arg-type]

    @staticmethod
    def _probe_templates(record_path: Path, tmp: Path, geometry) -> dict[str, Path]:
        """One one-frame master per sweep, with the beamline detector's geometry at the sweep's
        wavelength: the header its wedges will have (threshold and photon energy included)."""
        from mxcubecore_interleave.eiger import SeriesSpec, write_series

        rec = AcquisitionRecord.load(record_path)
        out: dict[str, Path] = {}
        for i, s in enumerate(rec.sweeps):
            spec = SeriesSpec(directory=tmp, series=f"template_{i + 1}", n_images=1, images_per_file=1,
                              omega_start=s.omega_start, omega_increment=s.omega_increment,
                              wavelength_A=s.wavelength_A, exposure_time=s.exposure_time or 0.01, detector=geometry,
                              kappa=s.kappa or 0.0, phi=s.phi or 0.0)
            result = write_series(spec)
            if result.master is None:
                raise RepackageError("the detector template probe wrote no master")
            out[s.id] = result.master
        return out
