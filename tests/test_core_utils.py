"""Atomic writes, safe names and paths, the acquisition record, the CLI skeleton."""

import json
import os
import stat

import pytest

from mxcubecore_interleave.atomic import atomic_output, atomic_write_json
from mxcubecore_interleave.cli import build_parser, main
from mxcubecore_interleave.errors import OverwriteRefusedError, RecordError, UnsafePathError
from mxcubecore_interleave.paths import check_name, check_subdir, inside
from mxcubecore_interleave.record import AcquisitionRecord, SweepRecord, WedgeRecord, record_path


def test_atomic_output_is_all_or_nothing(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644  # mkstemp's 0600 would hide it
    with pytest.raises(ZeroDivisionError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            1 / 0
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left behind
    with pytest.raises(OverwriteRefusedError):
        with atomic_output(target, overwrite=False) as tmp:
            tmp.write_text("x")
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}


def test_atomic_output_no_overwrite_race(tmp_path):
    target = tmp_path / "new.txt"
    with pytest.raises(OverwriteRefusedError):
        with atomic_output(target, overwrite=False) as tmp:
            tmp.write_text("mine")
            target.write_text("theirs")  # appeared while we were writing
    assert target.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["new.txt"]


@pytest.mark.parametrize("bad", ["", "a/b", "..", "a..b", "/abs", "x\\y", "-x", "sp ace", "é"])
def test_unsafe_names_refused(bad):
    with pytest.raises(UnsafePathError):
        check_name(bad)


def test_safe_names_and_subdirs(tmp_path):
    assert check_name("lyso_1.2+A-3") == "lyso_1.2+A-3"
    assert check_subdir("a/b_c") == "a/b_c"
    assert check_subdir("") == ""
    for bad in ("/etc", "../up", "a/../b"):
        with pytest.raises(UnsafePathError):
            check_subdir(bad)
    assert inside(tmp_path, "a", "b") == (tmp_path / "a" / "b").resolve()
    with pytest.raises(UnsafePathError, match="outside"):
        inside(tmp_path, "..", "x")
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(UnsafePathError):
        inside(tmp_path, "link", "etc")


def _record() -> AcquisitionRecord:
    sweeps = [SweepRecord(id=s, wavelength_A=0.98, omega_start=0.0, omega_increment=0.5, n_frames=8) for s in "AB"]
    wedges = []
    for order, (s, first) in enumerate([("A", 1), ("B", 1), ("A", 5), ("B", 5)]):
        wedges.append(WedgeRecord(order=order, sweep=s, sweep_first_frame=first, n=4, first_global=1,
                                  omega_start=(first - 1) * 0.5))
    return AcquisitionRecord(acquisition_id="x", prefix="p", sweeps=sweeps, wedges=wedges)


def test_record_numbering_queries_and_round_trip(tmp_path):
    rec = _record()
    rec.wedges[0].status, rec.wedges[0].n_collected = "complete", 4
    rec.wedges[1].status, rec.wedges[1].n_collected = "partial", 2
    rec.renumber()
    assert [w.first_global for w in rec.wedges] == [1, 5, 7, 11]
    assert rec.collected_frames("A") == 4 and rec.collected_frames("B") == 2
    assert [w.sweep_first_frame for w in rec.wedges_of("A")] == [1, 5]
    assert len(rec.wedges_of("B", collected_only=True)) == 1
    with pytest.raises(RecordError, match="no sweep 'C'"):
        rec.sweep("C")
    path = record_path(tmp_path, "p")
    rec.save(path)
    assert path.name == "p_acquisition.json"
    data = json.loads(path.read_text())
    assert data["schema"] == "mxcube-interleaved/1"
    back = AcquisitionRecord.load(path)
    assert back.wedges[1].status == "partial" and back.sweep("B").omega_increment == 0.5


def test_record_refuses_garbage(tmp_path):
    with pytest.raises(RecordError, match="no acquisition record"):
        AcquisitionRecord.load(tmp_path / "missing.json")
    bad = tmp_path / "bad_acquisition.json"
    bad.write_text('{"schema": "something-else/9", "acquisition_id": "x", "prefix": "p", "sweeps": []}')
    with pytest.raises(RecordError, match="not a valid acquisition record"):
        AcquisitionRecord.load(bad)
    bad.write_text("{not json")
    with pytest.raises(RecordError):
        AcquisitionRecord.load(bad)


def test_cli_lists_its_commands(capsys):
    parser = build_parser()
    help_text = parser.format_help()
    assert "demo" in help_text
    assert main([]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert "mxcube-interleave" in capsys.readouterr().out


PURE_CORE = ["mxcubecore_interleave.interleave", "mxcubecore_interleave.interleave.planner",
             "mxcubecore_interleave.interleave.bookkeeping", "mxcubecore_interleave.interleave.schedule",
             "mxcubecore_interleave.record", "mxcubecore_interleave.nexus",
             "mxcubecore_interleave.murko.fit", "mxcubecore_interleave.murko.hull"]


def test_pure_core_imports_neither_mxcubecore_nor_gevent(tmp_path):
    """The core (planner, record, NeXus writer and validator, centring fit, 3D hull) is imported
    and used in a fresh interpreter; neither mxcubecore nor gevent may end up in sys.modules."""
    import subprocess
    import sys

    code = f"""
import importlib, json, pkgutil, sys
mods = {PURE_CORE!r}
import mxcubecore_interleave.nexus as nx
mods += [f"mxcubecore_interleave.nexus.{{m.name}}" for m in pkgutil.iter_modules(nx.__path__)]
for m in mods:
    importlib.import_module(m)
from mxcubecore_interleave.interleave import parse_task, plan
from mxcubecore_interleave.interleave.bookkeeping import RecordKeeper
p = plan(parse_task({{"sweeps": [{{"id": "A", "energy_keV": 12.7, "num_images": 4, "inverse_beam": True}}],
                     "wedge_size": 2}}))
k = RecordKeeper.create(p, {str(tmp_path)!r}, 1)
job = k.pending()[0]
k.begin(job)
k.finish(job, None, [], 0)
print(json.dumps(sorted({{n.split(".")[0] for n in sys.modules}} & {{"mxcubecore", "gevent"}})))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
