"""The built wheel works on its own: installed in a fresh virtual environment outside the checkout,
``mxcube-interleave demo --quick`` and ``web --help`` run from the package data alone."""

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.wheel


def _run(cmd: list[str], cwd: Path, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from this checkout, installed in a new venv that sees the test venv's
    dependencies (a .pth line) but not this checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp / "dist")], tmp)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((tmp / "dist").glob("mxcubecore_interleave-*.whl"))
    venv = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp)
    assert made.returncode == 0, made.stderr
    py = venv / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp).stdout.strip())
    # the test venv's installed packages (every site-packages directory on its path), appended
    # after the new venv's own; not the checkout (.pth files of an appended directory are not run)
    sites = [p for p in sys.path if p.rstrip("/").endswith("site-packages") and Path(p).is_dir()]
    (site / "test-venv.pth").write_text("\n".join(sites or [sysconfig.get_paths()["purelib"]]) + "\n")
    inst = _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)], tmp)
    assert inst.returncode == 0, inst.stderr[-3000:]
    return venv, wheel, tmp


def test_wheel_carries_the_mockup_configuration(installed):
    _venv, wheel, _tmp = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.split("mxcubecore_interleave/configuration/", 1)[1] for n in names
               if n.startswith("mxcubecore_interleave/configuration/")}
    in_checkout = {str(p.relative_to(ROOT / "configuration")) for p in (ROOT / "configuration").rglob("*") if p.is_file()}
    assert shipped == in_checkout  # one source of truth: every file, nothing else


def test_installed_wheel_runs_demo_and_web(installed):
    venv, _wheel, tmp = installed
    py, exe = venv / "bin" / "python", venv / "bin" / "mxcube-interleave"
    outside = tmp / "elsewhere"
    outside.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COVERAGE_PROCESS_START")}
    env["MPLBACKEND"] = "Agg"
    where = _run([str(py), "-c", "import mxcubecore_interleave, mxcubecore_interleave.testing as t; "
                  "print(mxcubecore_interleave.__file__); print(t.DEFAULT_CONFIG_DIR)"], outside, env=env)
    assert where.returncode == 0, where.stderr[-2000:]
    module, config = where.stdout.split()
    assert Path(module).is_relative_to(venv) and Path(config).is_relative_to(venv), where.stdout
    demo = _run([str(exe), "demo", "--quick", "--output", str(outside / "demo")], outside, timeout=900, env=env)
    assert demo.returncode == 0, (demo.stdout[-3000:], demo.stderr[-3000:])
    assert "Demo finished" in demo.stdout
    assert list((outside / "demo").glob("run-*/demo_summary.json"))
    web = _run([str(exe), "web", "--help"], outside, env=env)
    assert web.returncode == 0 and "--config" in web.stdout, web.stderr[-2000:]
