"""No product module imports the simulators, and the queue entry reads nothing a simulator publishes."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mxcubecore_interleave"
# tools that run the simulated beamline on purpose (the demo and the mock Murko server command)
SIMULATION_TOOLS = {"murko_demo.py", "demo.py", "testing.py", "commands/murko_mock_server.py", "commands/demo.py"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the module's package
                pkg = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-node.level]
                base = ".".join([*pkg, base] if base else pkg)
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def test_no_product_module_imports_the_simulators():
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("simulation/") or rel in SIMULATION_TOOLS:
            continue
        bad = sorted(m for m in imported_modules(path) if m.startswith("mxcubecore_interleave.simulation"))
        if bad:
            offenders[rel] = bad
    assert not offenders
    assert "mxcubecore_interleave.simulation.murko_mock_server.MockMurkoServer" in imported_modules(
        PACKAGE / "murko_demo.py")  # the check does see such an import


def test_the_entry_reads_no_key_only_the_simulator_writes():
    entry = (PACKAGE / "queue_entries" / "interleaved_collection.py").read_text(encoding="utf-8")
    collect = (PACKAGE / "simulation" / "SimulatedEigerCollect.py").read_text(encoding="utf-8")
    for key in ("detector_files", "nimages_per_file", "last_series"):
        assert key not in entry and key not in collect
