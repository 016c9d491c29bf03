"""The contract between the interleaved entry and any mxcubecore collect: what goes in, what is read back.

In: one parameter dict per wedge, shaped as mxcubecore's ``queue_model_objects.to_collect_dict``
makes it (``collect_parameters``). Out: nothing private. When ``collect()`` returns, the entry
finds the wedge's master where the detector writes it (``master_finder``: the configured
``master_file_template``, else the detector HO's ``get_image_file_name``, else DECTRIS), and
waits for the filewriter to close the series (``wait_for_series``). The settings live in the
configuration of the ``queue_entry_registrar`` role (docs/interleaved-collection.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
from mxcubecore import HardwareRepository as HWR

from mxcubecore_interleave.eiger.written import WrittenSeries, master_location, wait_written
from mxcubecore_interleave.interleave import Sweep
from mxcubecore_interleave.interleave.bookkeeping import WedgeJob
from mxcubecore_interleave.lims_records import EXPERIMENT_TYPE

log = logging.getLogger("HWR")
SETTINGS_ROLE = "queue_entry_registrar"


@dataclass(frozen=True)
class CollectSettings:
    """How the entry finds what a site's collect wrote (configuration of the ``queue_entry_registrar``).

    ``master_file_template``: where the detector writes a wedge's master, relative to the
    collection directory, with ``{prefix}`` and ``{run}`` (empty: the detector HO's
    ``get_image_file_name``, else ``<prefix>_<run>_master.h5``). ``filewriter_timeout``: how long
    after ``collect()`` returns the filewriter may take to close the series (s).
    ``filewriter_settle``: how long a series cut short must stay unchanged to count as closed (s).
    """

    master_file_template: str = ""
    filewriter_timeout: float = 30.0
    filewriter_settle: float = 1.0


def collect_settings(bl: Any = None) -> CollectSettings:
    """The settings of the loaded beamline (defaults when its registrar has none)."""
    bl = bl or HWR.beamline
    ho = bl.get_object_by_role(SETTINGS_ROLE) if bl is not None else None
    if ho is None:
        return CollectSettings()
    default = CollectSettings()
    return CollectSettings(
        master_file_template=str(ho.get_property("master_file_template", "") or ""),
        filewriter_timeout=float(ho.get_property("filewriter_timeout", default.filewriter_timeout)),
        filewriter_settle=float(ho.get_property("filewriter_settle", default.filewriter_settle)))


def wedge_path_template(base_pt: Any, directory: Path, prefix: str, run: int) -> Any:
    """A copy of the task's PathTemplate for one wedge's series (``get_prefix()`` == ``prefix``)."""
    pt = base_pt.copy()
    pt.directory, pt.base_prefix, pt.run_number = str(directory), prefix, run
    pt.mad_prefix = pt.wedge_prefix = pt.reference_image_prefix = ""
    return pt


def master_finder(base_pt: Any, directory: Path) -> Callable[[str, int], Path]:
    """(series prefix, run) -> the master the detector writes: configured naming, else the
    detector HO's file name (as ``PathTemplate.get_image_file_name`` asks it), else DECTRIS."""
    template = collect_settings().master_file_template
    detector = HWR.beamline.detector

    def master_of(prefix: str, run: int) -> Path:
        name = None
        if not template and detector is not None:
            try:
                name = detector.get_image_file_name(wedge_path_template(base_pt, directory, prefix, run))
            except Exception as exc:  # a site detector that cannot name it: the DECTRIS default
                log.debug("interleaved collection: detector file name of %s: %s", prefix, exc)
        return master_location(directory, prefix, run, template=template, detector_name=name)

    return master_of


def wait_for_series(master: Path, n: int, stopped: Callable[[], bool]) -> WrittenSeries:
    """The wedge's series once the filewriter has closed it (DetectorError naming the master if not)."""
    settings = collect_settings()
    return wait_written(master, n, timeout=settings.filewriter_timeout, settle=settings.filewriter_settle,
                        stopped=stopped, sleep=gevent.sleep)


def sample_reference(sample: Any) -> dict:
    """The sample keys ``to_collect_dict`` gives (LIMS sample id, name, crystal)."""
    ref: dict[str, Any] = {"sample_name": getattr(sample, "name", "") or ""}
    if sample is None:
        return ref
    ref["blSampleId"] = getattr(sample, "lims_id", None)
    crystals = getattr(sample, "crystals", None) or []
    if crystals:
        ref["acronym"] = getattr(crystals[0], "protein_acronym", "") or ""
        ref["spacegroup"] = getattr(crystals[0], "space_group", "") or ""
    return ref


def collect_parameters(model: Any, job: WedgeJob, sweep: Sweep, directory: Path, fallback_template: str) -> dict:
    """The collect dict of one wedge (as ``to_collect_dict`` makes them), settings already applied."""
    pt = wedge_path_template(model.get_path_template(), directory, job.prefix, job.run)
    bl = HWR.beamline
    try:  # what to_collect_dict puts there: the detector HO's name for the series
        template = bl.detector.get_image_file_name(pt)
    except Exception:
        template = fallback_template
    sample = model.get_sample_node() if hasattr(model, "get_sample_node") else None
    resolution = sweep.resolution
    if resolution is None and sweep.detector_distance is None:
        try:  # as to_collect_dict: the task's value, here the one in place
            resolution = float(bl.resolution.get_value())
        except Exception:
            resolution = None
    return {
        "fileinfo": {"directory": str(directory), "prefix": job.prefix, "run_number": job.run,
                     "process_directory": pt.process_directory or str(directory),
                     "archive_directory": str(directory), "template": template, "compression": False},
        "oscillation_sequence": [{
            "exposure_time": sweep.exposure_time, "start_image_number": job.first_global,
            "number_of_images": job.n, "start": job.omega_start, "range": sweep.osc_range,
            "offset": 0, "number_of_passes": 1, "overlap": 0, "kappaStart": sweep.kappa,
            "phiStart": sweep.phi, "number_of_lines": 1, "mesh_range": (), "num_triggers": None,
            "num_images_per_trigger": None}],
        # no motor moves inside collect: the entry moved to the centred position once, and
        # kappa/phi only when they change (a killed move inside collect can leave a motor busy)
        "motors": {},
        "experiment_type": EXPERIMENT_TYPE, "take_snapshots": 0,
        "in_interleave": (job.first_frame, job.first_frame + job.n - 1), "in_queue": True,
        "sample_reference": sample_reference(sample),
        "group_id": model.lims_group_id, "sessionId": bl.session.session_id,
        # the sweep's values (already in place: the entry set them only when they changed);
        # site collects read them, e.g. SOLEIL PX2 sets the detector's photon energy
        "energy": sweep.energy, "wavelength": sweep.wavelength, "transmission": sweep.transmission,
        "resolution": resolution, "detector_distance": sweep.detector_distance,
        "comments": f"interleaved wedge {job.wedge_part}",
        "processing": "False", "residues": 0, "dark": 0, "anomalous": False, "skip_images": False,
        "EDNA_files_dir": "", "xds_dir": "", "workflow_parameters": {}, "shutterless": True,
        "processing_offline": False, "processing_online": False, "position_name": None,
        "detector_binning_mode": None, "detector_roi_mode": 0, "take_video": False,
        "ispyb_group_data_collections": False, "do_inducedraddam": False,
    }
