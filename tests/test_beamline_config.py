"""configuration/ loads as a beamline loads its own, and every role is there and healthy."""

import logging
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from .conftest import CONFIG_DIR

pytestmark = pytest.mark.beamline

ROLES = ["session", "machine_info", "transmission", "energy", "beam", "flux", "detector", "resolution",
         "safety_shutter", "diffractometer", "sample_view", "lims", "queue_manager", "queue_model", "collect",
         "master_file_repackager", "queue_entry_registrar", "murko"]


def beamline_yaml() -> dict:
    return YAML(typ="safe").load((CONFIG_DIR / "beamline.yaml").read_text())


def test_beamline_yaml_is_the_2_149_format():
    cfg = beamline_yaml()
    assert cfg["class"] == "mxcubecore.HardwareObjects.Beamline.Beamline"
    assert "objects" in cfg and "configuration" in cfg
    assert "_initialise_class" not in cfg and "_objects" not in cfg


def referenced_files() -> set[str]:
    """Every configuration file reachable from beamline.yaml (YAML objects and XML hrefs)."""
    seen: set[str] = set()
    todo = [name for item in beamline_yaml()["objects"] for name in dict(item).values()] \
        if isinstance(beamline_yaml()["objects"], list) else list(beamline_yaml()["objects"].values())
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = CONFIG_DIR / name
        if path.suffix == ".xml":
            for obj in ET.parse(path).getroot().iter("object"):
                href = obj.get("href") or obj.get("hwrid")
                if href:
                    todo.append(href.lstrip("/") + ".xml")
        elif path.suffix in (".yaml", ".yml"):
            sub = YAML(typ="safe").load(path.read_text()) or {}
            objs = sub.get("objects") or {}
            items = objs.items() if isinstance(objs, dict) else [kv for d in objs for kv in dict(d).items()]
            todo.extend(v for _, v in items)
    return seen


def test_every_configuration_file_is_used_and_parses():
    used = referenced_files()
    for name in used:
        assert (CONFIG_DIR / name).is_file(), f"{name} is referenced but missing"
    on_disk = {p.name for p in CONFIG_DIR.glob("*.xml")} | {p.name for p in CONFIG_DIR.glob("*.yaml")} - {"beamline.yaml"}
    unused = on_disk - used
    assert not unused, f"configuration files nothing loads: {sorted(unused)}"


def test_every_role_is_present_and_healthy(beamline):
    from mxcubecore.BaseHardwareObjects import HardwareObjectState

    for role in ROLES:
        obj = beamline.get_object_by_role(role)
        assert obj is not None, f"role {role} did not load"
        assert obj.get_state() != HardwareObjectState.FAULT, role
    # presence proves little (a failing init() leaves a half-made object): check what init() sets
    assert beamline.queue_manager.pause_before_centring is False
    assert beamline.session.base_directory and Path(beamline.session.base_directory).is_dir()
    d = beamline.diffractometer
    for motor in ("omega", "kappa", "kappa_phi", "phiy", "phiz", "sampx", "sampy", "focus"):
        assert motor in d.motors_hwobj_dict, motor
        assert d.motors_hwobj_dict[motor].get_state() == HardwareObjectState.READY
    assert d.zoom is not None
    assert beamline.sample_view.camera is not None
    assert set(beamline.sample_view.centring_motors) == {"omega", "phiy", "phiz", "sampx", "sampy"}
    assert beamline.energy.is_tunable
    lo, hi = beamline.energy.get_limits()
    assert lo < beamline.energy.get_value() < hi
    assert beamline.resolution.get_limits()[0] < 2.0  # a useful range for the detector area
    det = beamline.detector
    geo = det.get_geometry()
    assert (geo.nx, geo.ny) == (det.get_width(), det.get_height())
    assert det.distance is not None and det.distance.get_value() > 0
    assert beamline.lims.is_connected()
    assert type(beamline.collect).__name__ == "SimulatedEigerCollect"
    assert det.get_property("file_suffix") == "h5" and det.get_property("fileSuffix") == "h5"
    # the plugin's own roles: what their init() sets
    role = beamline.get_object_by_role
    assert role("master_file_repackager").layout in ("auto", "links", "vds")
    assert "InterleavedCollectionQueueEntry" in role("queue_entry_registrar").registered
    assert role("murko").get_state() == HardwareObjectState.READY
    murko_cfg = YAML(typ="safe").load((CONFIG_DIR / "murko.yaml").read_text())["configuration"]
    assert role("murko").server_address == f"{murko_cfg['host']}:{murko_cfg['port']}"


class _Records(logging.Handler):
    """Collects what mxcubecore logs (its HWR logger does not reach pytest's caplog)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _load(config_dir, data_root, monkeypatch) -> tuple[list[tuple], list[logging.LogRecord]]:
    """Load a beamline; return mxcubecore's load table (role, class, file, ms, comment) and its log.

    mxcubecore reports a role that failed to import, instantiate or init() only in that table's
    comment column (and leaves the half-made object attached), so the table is what to check.
    """
    from mxcubecore import HardwareRepository as hwr_module

    from mxcubecore_interleave.testing import load_beamline, unload_beamline

    tables: list[list[tuple]] = []
    real_make_table = hwr_module.make_table

    def keep(column_names, rows):
        tables.append([tuple(r) for r in rows])
        return real_make_table(column_names, rows)

    monkeypatch.setattr(hwr_module, "make_table", keep)
    handler = _Records()
    logger = logging.getLogger("HWR")
    logger.addHandler(handler)
    try:
        load_beamline(config_dir, data_root=data_root)
    finally:
        unload_beamline()
        logger.removeHandler(handler)
    assert len(tables) == 1, "mxcubecore printed one load table"
    return tables[0], handler.records


HARMLESS = ("", "Start loading contents:", "Done loading contents")


def _problems(table) -> list[str]:
    """Comments other than progress and undeclared-property notes (those are warnings only)."""
    found = []
    for role, cls, file, _ms, comment in table:
        parts = [c for c in comment.split("; ") if c not in HARMLESS and not c.startswith("Undeclared properties")]
        if parts:
            found.append(f"{role} ({cls}, {file}): {'; '.join(parts)}")
    return found


def test_loading_reports_no_failed_role(tmp_path, monkeypatch):
    """Every role imports, instantiates and init()s; nothing is logged at ERROR."""
    table, records = _load(CONFIG_DIR, tmp_path / "data", monkeypatch)
    assert not _problems(table), _problems(table)
    assert {row[0] for row in table} >= set(ROLES)
    errors = [f"{r.name}: {r.getMessage()}" for r in records if r.levelno >= logging.ERROR]
    assert not errors, errors
    assert any("registered queue entries" in r.getMessage() for r in records), \
        "the HWR log reached this test (else the check above proves nothing)"


def test_a_failing_role_is_caught_by_the_load_check(tmp_path, monkeypatch):
    """The check above can fail: a role whose file names a missing class is reported."""
    broken = tmp_path / "broken"
    shutil.copytree(CONFIG_DIR, broken)
    text = (broken / "murko.yaml").read_text()
    (broken / "murko.yaml").write_text(text.replace("MurkoCentring.MurkoCentring", "NoSuchCentring.MurkoCentring", 1))
    table, _ = _load(broken, tmp_path / "data", monkeypatch)
    assert [p for p in _problems(table) if p.startswith("murko ") and "Error importing class" in p]


def test_reload_gives_a_fresh_beamline(beamline, tmp_path):
    from mxcubecore import HardwareRepository as HWR

    from mxcubecore_interleave.testing import load_beamline

    first = HWR.beamline
    second = load_beamline(CONFIG_DIR, data_root=tmp_path / "again")
    assert second is not first and second.detector is not first.detector
    assert second.session.base_directory.startswith(str(tmp_path / "again"))
