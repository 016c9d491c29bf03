"""Random stops and kill -9 of the interleaved collection, then resume: nothing lost, nothing twice.

Issue 12, item 5 (the stop/kill suite). Stop points come from a seeded generator (the seed is
in the test id, so a failure replays). In-process: the queue's stop at a random image (cuts a
wedge), right after a random wedge, "stop after the current wedge", and pause-then-stop. Across
processes: a subprocess runs the queue on the mockup beamline loaded from configuration/
(tests/stopkill_worker.py) and is killed with SIGKILL, from outside after a random delay or at
a random image, record save or after the masters; a NEW process resumes. After every stop or
kill, and when the entry says it is done, the files on disk (read with h5py) must show:

* every planned frame exactly once across all data files, counted per sweep;
* every detector file written before the stop untouched (sha256 and mtime);
* the record and the sweep masters consistent: ``completed`` only when every sweep master
  exists, holds all its frames and validates; no master with fewer frames than the record
  says; the record's ``source_masters`` and ``data_files`` list only what is on disk (15-1).

``make test`` runs a bounded sample; ``make soak`` runs many seeds. ``FIGURES`` is printed by
the last test for docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import gevent
import pytest

from mxcubecore_interleave.interleave import parse_task, plan
from mxcubecore_interleave.interleave.runner import add_interleaved_collection
from mxcubecore_interleave.queue_entries.interleaved_collection import stop_after_current_wedge
from mxcubecore_interleave.record import AcquisitionRecord
from mxcubecore_interleave.testing import wait_until
from tests.stopkill_checks import (
    changed,
    consistent,
    detector_files,
    every_frame_once,
    frames_on_disk,
    lists_agree,
)

FIGURES: Counter = Counter()
WORKER = Path(__file__).with_name("stopkill_worker.py")
ROOT = Path(__file__).resolve().parents[1]
BOUNDED_STOP_SEEDS = [11]
SOAK_STOP_SEEDS = list(range(100, 108))
BOUNDED_KILL_SEEDS = [7]
SOAK_KILL_SEEDS = list(range(200, 206))


def task(seed: int, exp: float = 0.01) -> dict:
    """One energy with inverse beam (2 sweeps) or two energies with inverse beam (4 sweeps)."""
    sweeps = [{"id": "peak", "energy_keV": 12.66, "num_images": 6, "osc_range": 0.5, "exposure_time": exp,
               "inverse_beam": True, "transmission": 50.0}]
    if seed % 2:
        sweeps.append({**sweeps[0], "id": "remote", "energy_keV": 13.0})
    return {"sweeps": sweeps, "wedge_size": 3 if seed % 2 else 2, "prefix": "sk", "subdir": "stopkill"}


def planned_frames(t: dict) -> dict[str, int]:
    return {s.id: s.num_images for s in plan(parse_task(t)).sweeps}


def no_frame_twice(record_path: Path, *, in_flight: bool = False) -> list[str]:
    """After a stop or kill: no global image on disk twice, no data file the record does not name
    (``in_flight``: after a kill, the wedge being collected may have files the record does not
    know yet)."""
    rec = AcquisitionRecord.load(record_path)
    _per_sweep, seen, stray = frames_on_disk(record_path.parent, rec, in_flight=in_flight)
    twice = sorted(g for g, n in seen.items() if n > 1)
    return stray + ([f"global images on disk twice: {twice}"] if twice else [])


def test_record_lists_agree_after_a_stop(tmp_path):
    """Bug 15-1: after a stop the record's ``source_masters`` listed the wedges written before it
    while ``data_files`` listed every planned wedge. Both now list what is on disk, and a resume
    extends both (before, the repackager filled ``source_masters`` only when it was empty)."""
    from mxcubecore_interleave.interleave.bookkeeping import RecordKeeper

    t = {"sweeps": [{"id": "A", "energy_keV": 12.7, "num_images": 8, "osc_range": 0.5}],
         "wedge_size": 2, "prefix": "x", "images_per_file": 1}
    p = plan(parse_task(t))
    k = RecordKeeper.create(p, tmp_path, 1)
    k.save()

    def collect(job, n):
        series = f"{job.prefix}_{job.run}"
        files = [tmp_path / f"{series}_data_{i + 1:06d}.h5" for i in range(n)]
        for f in [tmp_path / f"{series}_master.h5", *files]:
            f.write_bytes(b"")
        k.begin(job)
        k.finish(job, str(tmp_path / f"{series}_master.h5"), [str(f) for f in files], n)

    jobs = k.pending()
    collect(jobs[0], 2)
    collect(jobs[1], 1)  # cut by the stop: 1 of 2 frames
    k.set_status("aborted")
    rec = AcquisitionRecord.load(k.path)
    assert rec.source_masters == ["x_A_w001_1_master.h5", "x_A_w002_1_master.h5"]
    assert [d.file for d in rec.data_files] == ["x_A_w001_1_data_000001.h5", "x_A_w001_1_data_000002.h5",
                                                "x_A_w002_1_data_000001.h5"]
    assert not lists_agree(rec, tmp_path)
    k = RecordKeeper.resume(k.path, p, 1)
    for job in k.pending():
        collect(job, job.n)
    rec = AcquisitionRecord.load(k.path)
    assert len(rec.source_masters) == 5 and sum(d.n for d in rec.data_files) == 8
    assert not lists_agree(rec, tmp_path)


def test_resume_sets_aside_data_files_without_a_master(tmp_path):
    """Found by the kill -9 soak (seeds 200, 201): a kill after a wedge's data file was linked but
    before its master left the file beside the run's data; the resume collected the wedge again
    under a fresh name, so the directory held those frames twice. Now the resume moves the file,
    unchanged, into interrupted/ and collects the wedge again."""
    import hashlib

    from mxcubecore_interleave.interleave.bookkeeping import INTERRUPTED_DIR, RecordKeeper

    t = {"sweeps": [{"id": "A", "energy_keV": 12.7, "num_images": 4, "osc_range": 0.5}],
         "wedge_size": 2, "prefix": "x"}
    p = plan(parse_task(t))
    k = RecordKeeper.create(p, tmp_path, 1)
    job = k.pending()[0]
    k.begin(job)  # saved: the record says running; the process dies before the master
    orphan = tmp_path / "x_A_w001_1_data_000001.h5"
    orphan.write_bytes(b"frames")
    stat, digest = orphan.stat(), hashlib.sha256(orphan.read_bytes()).hexdigest()
    k2 = RecordKeeper.resume(k.path, p, 1)
    kept = tmp_path / INTERRUPTED_DIR / orphan.name
    assert k2.set_aside == [kept] and not orphan.exists()
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == digest and kept.stat().st_mtime_ns == stat.st_mtime_ns
    nxt = k2.pending()[0]
    assert (nxt.sweep, nxt.first_frame, nxt.n, nxt.wedge_part) == ("A", 1, 2, "A_w001b")


# -- in-process: the queue's stops at random points ------------------------------------------------
class _StopAtImage:
    def __init__(self, action, image: int) -> None:
        self.action, self.image, self.seen = action, image, 0

    def taken(self, *args) -> None:
        self.seen += 1
        if self.seen == self.image:
            self.action()


class _AfterWedge:
    """The action right after the ``k``-th wedge of this run was recorded (``k`` from 1)."""

    def __init__(self, action, k: int) -> None:
        self.action, self.k, self.seen, self.greenlet = action, k, 0, None

    def sw_done(self, data) -> None:
        self.seen += 1
        if self.seen == self.k:
            self.greenlet = gevent.spawn(self.action)


class _AtFinished:
    """The queue's finished signal: what a front end sees the moment the entry says it is done."""

    def __init__(self, record) -> None:
        self.record, self.problems, self.seen = record, [], 0

    def finished(self, *args) -> None:
        self.seen += 1
        path = self.record()
        if path:
            self.problems += consistent(Path(path), validate=False)


def random_stop(rng: random.Random, q, beamline, remaining_images: int, remaining_wedges: int):
    """Arm one stop at a random point of the next run; returns (kind, slot to keep alive)."""
    qm = beamline.queue_manager
    kind = rng.choice(["image", "wedge", "after_wedge", "pause"])
    if kind == "image":
        slot = _StopAtImage(q.stop, rng.randint(1, max(1, remaining_images)))
        beamline.collect.connect("collectImageTaken", slot.taken)
    elif kind == "after_wedge":
        slot = _StopAtImage(lambda: stop_after_current_wedge(qm), rng.randint(1, max(1, remaining_images)))
        beamline.collect.connect("collectImageTaken", slot.taken)
    elif kind == "wedge":
        slot = _AfterWedge(q.stop, rng.randint(1, max(1, remaining_wedges - 1)))
        qm.connect("queue_interleaved_sw_done", slot.sw_done)
    else:
        slot = _AfterWedge(lambda: qm.set_pause(True), rng.randint(1, max(1, remaining_wedges - 1)))
        qm.connect("queue_interleaved_sw_done", slot.sw_done)
    return kind, slot


def disarm(beamline, kind: str, slot) -> None:
    if kind in ("image", "after_wedge"):
        beamline.collect.disconnect("collectImageTaken", slot.taken)
    else:
        beamline.queue_manager.disconnect("queue_interleaved_sw_done", slot.sw_done)


def run_random_stops(beamline, seed: int) -> None:
    rng = random.Random(seed)
    t = task(seed)
    planned = planned_frames(t)
    total = sum(planned.values())
    q, node = add_interleaved_collection(beamline, t)
    model, entry = q.entry(node)
    qm = beamline.queue_manager
    at_finished = _AtFinished(lambda: model.record_path)
    qm.connect("queue_interleaved_finished", at_finished.finished)
    before: dict = {}
    try:
        for _stop in range(rng.randint(1, 3)):
            rec = AcquisitionRecord.load(model.record_path) if model.record_path else None
            done = sum(w.n_collected for w in rec.wedges) if rec else 0
            pending = sum(1 for w in rec.wedges if w.status == "planned") if rec else len(plan(parse_task(t)).wedges)
            if done >= total:
                break
            kind, slot = random_stop(rng, q, beamline, total - done, pending)
            FIGURES["stops:tried"] += 1
            q.execute(wait=False)
            if kind == "pause":
                if wait_until(lambda: entry._held or not qm.is_executing(), timeout=60) and entry._held:
                    q.stop()
            assert q.wait(timeout=120) and entry.wait_idle(60)
            qm.set_pause(False)
            disarm(beamline, kind, slot)
            path = Path(model.record_path)
            assert not changed(before), (kind, changed(before))
            problems = no_frame_twice(path) + consistent(path, validate=False)
            assert not problems, (seed, kind, problems)
            before = detector_files(path.parent)
        rec = AcquisitionRecord.load(model.record_path)
        if rec.status != "completed":  # (a stop that came after the last wedge ended it already)
            assert q.execute(timeout=180) and entry.wait_idle(60)
        path = Path(model.record_path)
        lost = every_frame_once(path, planned)
        FIGURES["stops:runs with frames lost or twice"] += bool(lost)
        assert not lost, (seed, lost)
        assert not changed(before), changed(before)
        problems = consistent(path)
        assert AcquisitionRecord.load(path).status == "completed"
        assert not problems, (seed, problems)
        assert at_finished.seen and not at_finished.problems, at_finished.problems
        FIGURES["stops:survived"] += 1
        FIGURES["stops:runs"] += 1
    finally:
        qm.disconnect("queue_interleaved_finished", at_finished.finished)


@pytest.mark.beamline
def test_a_stop_during_the_after_masters_leaves_them_whole(beamline):
    """Found by the soak (seed 103): the queue's stop, landing while the after-masters were
    written, killed that write; the entry went idle with a sweep master holding 3 of the 6
    frames the record gave its sweep. Now the settling step runs to its end first."""
    q, node = add_interleaved_collection(beamline, task(1))
    model, entry = q.entry(node)
    repackager = beamline.get_object_by_role("master_file_repackager")
    real = repackager.write_sweep_masters
    stops = []

    def write_then_stopped(record_path, stage, *a, **kw):
        if stage == "after" and not stops:
            stops.append(gevent.spawn(q.stop))
            gevent.sleep(0.05)  # the kill lands here, in the middle of the write
        return real(record_path, stage, *a, **kw)

    repackager.write_sweep_masters = write_then_stopped
    try:
        q.execute(wait=False)
        assert q.wait(timeout=120) and entry.wait_idle(60)
    finally:
        repackager.write_sweep_masters = real
    assert stops
    path = Path(model.record_path)
    assert AcquisitionRecord.load(path).status == "completed"
    assert not consistent(path), consistent(path)


@pytest.mark.beamline
@pytest.mark.parametrize("seed", BOUNDED_STOP_SEEDS)
def test_random_stops_then_resume(beamline, seed):
    run_random_stops(beamline, seed)


@pytest.mark.beamline
@pytest.mark.soak
@pytest.mark.parametrize("seed", SOAK_STOP_SEEDS)
def test_random_stops_then_resume_soak(beamline, seed):
    run_random_stops(beamline, seed)


# -- across processes: kill -9, then a new process resumes -----------------------------------------
def _worker(data_root: Path, t: dict, kill: str = "") -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(WORKER), str(data_root), json.dumps(t), kill],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _record(data_root: Path) -> Path | None:
    found = sorted(data_root.glob("data/**/stopkill/sk_*_acquisition.json"))
    return found[-1] if found else None


def _kill_when_running(proc: subprocess.Popen, data_root: Path, delay: float) -> bool:
    """SIGKILL ``delay`` s after this process first rewrote the record (the run has started)."""
    rec = _record(data_root)
    mtime0 = rec.stat().st_mtime_ns if rec else 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        rec = _record(data_root)
        if rec is not None and rec.stat().st_mtime_ns != mtime0:
            time.sleep(delay)
            break
        time.sleep(0.02)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    return True


def run_kills(tmp_path: Path, seed: int, n_kills: int) -> None:
    rng = random.Random(seed)
    t = task(seed, exp=0.02)
    planned = planned_frames(t)
    total = sum(planned.values())
    before: dict = {}
    for _k in range(n_kills):
        rec_path = _record(tmp_path)
        done = sum(w.n_collected for w in AcquisitionRecord.load(rec_path).wedges) if rec_path else 0
        if done >= total:
            break
        kind = rng.choice(["time", "image", "save", "masters"])
        if kind == "time":
            proc = _worker(tmp_path, t)
            _kill_when_running(proc, tmp_path, rng.uniform(0.0, 2.0))
        else:
            point = {"image": f"image:{rng.randint(1, total - done)}", "save": f"save:{rng.randint(1, 8)}",
                     "masters": "masters"}[kind]
            proc = _worker(tmp_path, t, point)
        out, err = proc.communicate(timeout=300)
        killed = proc.returncode == -signal.SIGKILL
        FIGURES[f"kills ({kind}):tried"] += 1
        assert killed or proc.returncode == 0, (kind, proc.returncode, err[-3000:])
        rec_path = _record(tmp_path)
        if rec_path is None:
            continue
        assert not changed(before), (kind, changed(before))
        problems = no_frame_twice(rec_path, in_flight=killed)
        if not killed:  # the process ended by itself: the entry said it was done
            problems += consistent(rec_path, validate=False)
        assert not problems, (seed, kind, problems)
        before = detector_files(rec_path.parent)
    rec_path = _record(tmp_path)
    if rec_path is None or AcquisitionRecord.load(rec_path).status != "completed":
        # a new process resumes and finishes (unless a kill came after the run was complete:
        # then the same task queued again is a new collection, run 2)
        proc = _worker(tmp_path, t)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        result = json.loads(out.strip().splitlines()[-1])
        assert result["finished"] and result["idle"], result
        assert rec_path is None or Path(result["record"]) == rec_path, "a new run instead of the killed one"
        rec_path = Path(result["record"])
    path = rec_path
    assert len(list(path.parent.glob("sk_*_acquisition.json"))) == 1, "more than one run"
    lost = every_frame_once(path, planned)
    FIGURES["kills:runs with frames lost or twice"] += bool(lost)
    assert not lost, (seed, lost)
    assert not changed(before), changed(before)
    assert AcquisitionRecord.load(path).status == "completed"
    problems = consistent(path)
    assert not problems, (seed, problems)
    FIGURES["kills:survived"] += 1
    FIGURES["kills:runs"] += 1


@pytest.mark.parametrize("seed", BOUNDED_KILL_SEEDS)
def test_kill_9_then_resume_in_a_new_process(tmp_path, seed):
    run_kills(tmp_path, seed, n_kills=1)


@pytest.mark.soak
@pytest.mark.parametrize("seed", SOAK_KILL_SEEDS)
def test_kill_9_then_resume_in_a_new_process_soak(tmp_path, seed):
    run_kills(tmp_path, seed, n_kills=3)


def test_report_figures():
    """Prints the figures for docs/reliability.md (run with -s); every run survived."""
    for k in sorted({k.split(":")[0] for k in FIGURES}):
        parts = ", ".join(f"{v} {n.split(':')[1]}" for n, v in sorted(FIGURES.items()) if n.startswith(k + ":"))
        print(f"\nstop/kill {k}: {parts}")
    assert FIGURES["stops:runs"] == FIGURES["stops:survived"]
    assert FIGURES["kills:runs"] == FIGURES["kills:survived"]
    assert FIGURES["stops:runs with frames lost or twice"] == FIGURES["kills:runs with frames lost or twice"] == 0
