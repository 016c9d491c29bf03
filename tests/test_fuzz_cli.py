"""Hypothesis over the task model and the CLI (issue 12, item 5): every input is either valid and
planned, or refused with one line (PlanError / exit 1), never a traceback of another type.

``make test`` runs a bounded sample; ``make soak`` (HYPOTHESIS_PROFILE=soak) runs many more
(3000 examples per test; FUZZ_SOAK_EXAMPLES=N sets another number).
``FIGURES`` is printed by the last test for docs/reliability.md."""

from __future__ import annotations

import json
import math
import os
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mxcubecore_interleave.cli import main
from mxcubecore_interleave.errors import PlanError
from mxcubecore_interleave.interleave import parse_task, plan

settings.register_profile("bounded", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("soak", max_examples=int(os.environ.get("FUZZ_SOAK_EXAMPLES", "3000")), deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "bounded")
FIGURES: Counter = Counter()

hostile_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, 1e300, -1e300, 0.1, 1.0, 12.7, 180.0, 3600.0, 1e6]),
    st.integers(min_value=-10**15, max_value=10**15),
)
names = st.one_of(st.text(max_size=80), st.sampled_from(["A", "peak", "a\n", "x" * 300, "../up", "a/b", ""]))
counts = st.one_of(st.integers(min_value=-5, max_value=10**13), st.sampled_from([1, 3, 10, 100, 1000]))


@st.composite
def raw_tasks(draw):
    sweeps = []
    for i in range(draw(st.integers(min_value=0, max_value=4))):
        s = {"id": draw(st.one_of(st.just(f"s{i}"), st.just(f"s{i}"), names))}
        for key, sane in (("energy_keV", (6.0, 20.0)), ("omega_start", (-180.0, 360.0)), ("osc_range", (0.05, 2.0)),
                          ("exposure_time", (0.001, 1.0)), ("kappa", (0.0, 90.0)), ("phi", (0.0, 360.0)),
                          ("transmission", (1.0, 100.0)), ("resolution", (1.0, 10.0))):
            kind = draw(st.integers(min_value=0, max_value=9))
            if kind == 0:
                s[key] = draw(hostile_floats)
            elif kind < 5:
                s[key] = draw(st.floats(*sane))
        s["num_images"] = draw(counts) if draw(st.integers(min_value=0, max_value=3)) == 0 else 20
        s.setdefault("energy_keV", 12.7)
        sweeps.append(s)
    task = {"sweeps": sweeps, "wedge_size": draw(st.one_of(st.just(5), st.just(5), st.just(4), hostile_floats))}
    for key, strat in (("prefix", names), ("subdir", names), ("images_per_file", counts),
                       ("strategy", st.sampled_from(["round_robin", "min_motion", "bogus"]))):
        if draw(st.integers(min_value=0, max_value=3)) == 0:
            task[key] = draw(strat)
    return task


@st.composite
def valid_tasks(draw):
    """Tasks inside every documented limit (docs/reliability.md): the model must plan each one."""
    wedge = draw(st.integers(min_value=1, max_value=20))
    sweeps = []
    for i in range(draw(st.integers(min_value=1, max_value=4))):
        s = {"id": f"s{i}", "num_images": draw(st.integers(min_value=wedge, max_value=200)),
             "energy_keV": draw(st.floats(5.0, 25.0)), "osc_range": draw(st.floats(0.01, 2.0)),
             "omega_start": draw(st.floats(-180.0, 360.0)), "exposure_time": draw(st.floats(0.001, 1.0)),
             "kappa": draw(st.floats(-90.0, 90.0)), "phi": draw(st.floats(0.0, 360.0)),
             "transmission": draw(st.floats(0.1, 100.0)), "inverse_beam": draw(st.booleans())}
        if draw(st.booleans()):
            s["resolution"] = draw(st.floats(1.0, 10.0))
        sweeps.append(s)
    task = {"sweeps": sweeps, "wedge_size": wedge,
            "strategy": draw(st.sampled_from(["round_robin", "min_motion", "inverse_adjacent"])),
            "prefix": draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,30}", fullmatch=True)
                          .filter(lambda v: ".." not in v)),
            "subdir": draw(st.from_regex(r"([a-z0-9][a-z0-9_]{0,11}(/[a-z0-9][a-z0-9_]{0,11}){0,3})?", fullmatch=True))}
    if draw(st.booleans()):
        task["images_per_file"] = draw(st.sampled_from([d for d in range(1, wedge + 1) if wedge % d == 0]))
    return task


# about 40 % drawn inside every limit (their share is reported as "valid and planned"), the rest
# hostile (a few of which are valid by chance)
fuzz_tasks = st.sampled_from([False, True, False, True, False]).flatmap(
    lambda ok: valid_tasks().map(lambda t: (True, t)) if ok else raw_tasks().map(lambda t: (False, t)))


def _one_line(text: str) -> bool:
    return len([ln for ln in text.splitlines() if ln.strip()]) == 1 and "Traceback" not in text


@settings.get_profile(PROFILE)
@given(fuzz_tasks)
def test_model_plans_or_refuses_in_one_line(drawn):
    valid, data = drawn
    FIGURES["model:tried"] += 1
    FIGURES["model drawn:tried"] += 1
    FIGURES["model drawn:inside the limits" if valid else "model drawn:hostile"] += 1
    try:
        task = parse_task(data)
    except PlanError as exc:
        assert not valid, f"a task inside every limit was refused: {exc}"
        assert "\n" not in str(exc).replace("\\n", "")
        FIGURES["model:refused cleanly"] += 1
        return
    p = plan(task)
    assert p.total_images == task.total_images
    assert all(math.isfinite(w.omega_start) for w in p.wedges)
    FIGURES["model:valid and planned"] += 1


@settings.get_profile(PROFILE)
@given(fuzz_tasks)
def test_plan_and_schema_check_cli(tmp_path_factory, drawn):
    valid, data = drawn
    path = tmp_path_factory.mktemp("fuzz") / "task.json"
    path.write_text(json.dumps(data))  # Infinity/NaN as Python's json writes them
    for cmd in (["plan", str(path), "--rows", "3"], ["schema", "--check", str(path)]):
        FIGURES["cli plan/schema:tried"] += 1
        import contextlib
        import io

        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(cmd)
        assert rc in (0, 1), (cmd, rc)
        assert rc == 0 or not valid, (cmd, err.getvalue())
        if rc:
            assert _one_line(err.getvalue()), err.getvalue()
            FIGURES["cli plan/schema:refused cleanly"] += 1
        else:
            FIGURES["cli plan/schema:valid"] += 1


@settings.get_profile(PROFILE)
@given(st.binary(max_size=4096), st.integers(min_value=-3, max_value=10**9))
def test_repackage_and_locate_on_random_bytes(tmp_path_factory, blob, n):
    d = tmp_path_factory.mktemp("bytes")
    m = d / "x_1_master.h5"
    m.write_bytes(b"\x89HDF\r\n\x1a\n" + blob if n % 2 else blob)
    import contextlib
    import io

    for cmd in (["repackage", str(d), "--output", str(d / "out"), "--no-progress"],
                ["locate", str(m), "--global", str(n)]):
        FIGURES["cli repackage/locate:tried"] += 1
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(cmd)
        assert rc == 1 and _one_line(err.getvalue()), (cmd, rc, err.getvalue())
        FIGURES["cli repackage/locate:refused cleanly"] += 1


def test_zz_report_figures():
    print()
    for k in sorted({k.split(":")[0] for k in FIGURES}):
        parts = ", ".join(f"{v} {n.split(':')[1]}" for n, v in sorted(FIGURES.items()) if n.startswith(k + ":"))
        print(f"fuzz {k} ({PROFILE}): {parts}")
    for k in {k.split(":")[0] for k in FIGURES}:
        tried = FIGURES[f"{k}:tried"]
        assert tried == sum(v for n, v in FIGURES.items() if n.startswith(k + ":") and not n.endswith(":tried"))
