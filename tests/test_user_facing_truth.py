"""What a user reads: a run's outcome, a duplicate sweep, a refused task's message (pure parts)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import BaseModel, Field, ValidationError, field_validator

from mxcubecore_interleave.errors import PlanError
from mxcubecore_interleave.interleave.duplicates import omega_ranges_overlap
from mxcubecore_interleave.interleave.task import parse_task
from mxcubecore_interleave.paths import check_subdir
from mxcubecore_interleave.queue_entries.task_messages import ReadableParameters, readable
from mxcubecore_interleave.queue_entries.task_outcome import SIGNAL, announce, outcome_of, refusal


def _record(statuses, n_collected, frames=(8, 8)):
    wedges = [SimpleNamespace(status=s, n_collected=n) for s, n in zip(statuses, n_collected)]
    return SimpleNamespace(prefix="lyso_1", wedges=wedges, sweeps=[SimpleNamespace(n_frames=f) for f in frames])


def test_a_stopped_run_says_how_far_it_got():
    out = outcome_of(_record(["complete", "complete", "partial", "planned"], [4, 4, 1, 0]), "aborted", "ignored")
    assert (out.wedges_done, out.n_wedges, out.images, out.n_images) == (2, 4, 9, 16)
    assert out.progress == pytest.approx(9 / 16)
    assert out.reason is None, "only a failure carries a reason"
    assert out.message == ("Interleaved collection lyso_1 aborted after 2 of 4 wedges (9 of 16 images); "
                           "run the queue again to resume")


def test_a_failed_run_says_why_and_a_completed_one_says_completed():
    failed = outcome_of(_record(["complete", "planned"], [8, 0]), "failed", "the shutter did not open")
    assert failed.message.endswith("failed after 1 of 2 wedges (8 of 16 images): the shutter did not open; "
                                   "run the queue again to resume")
    done = outcome_of(_record(["complete", "complete"], [8, 8]), "completed")
    assert done.message == "Interleaved collection lyso_1 completed: 2 of 2 wedges (16 of 16 images)"
    assert done.as_dict()["progress"] == 1.0


class _QM:
    def __init__(self):
        self.sent = []

    def emit(self, name, args):
        self.sent.append((name, args))


def test_only_a_completed_run_sends_mxcubewebs_finished_signal():
    qm = _QM()
    announce(qm, "model", outcome_of(_record(["complete", "planned"], [8, 0]), "stopped"))
    assert [n for n, _ in qm.sent] == [SIGNAL]
    assert qm.sent[0][1][0] == "model" and qm.sent[0][1][1]["state"] == "stopped"
    qm = _QM()
    announce(qm, "model", outcome_of(_record(["complete", "complete"], [8, 8]), "completed"))
    assert [n for n, _ in qm.sent] == ["queue_interleaved_finished", SIGNAL]


@pytest.mark.parametrize(("a", "b", "overlap"), [
    ((0, 10), (5, 10), True), ((0, 10), (10, 10), False), ((0, 10), (360, 10), True),
    ((350, 20), (0, 5), True), ((0, 180), (180, 180), False), ((0, 400), (200, 1), True),
    ((10, 5), (0, 10), False), ((10, 5), (0, 10.5), True),
])
def test_omega_ranges_overlap_on_the_circle(a, b, overlap):
    assert omega_ranges_overlap(a[0], a[1], b[0], b[1]) is overlap
    assert omega_ranges_overlap(b[0], b[1], a[0], a[1]) is overlap


def _task(*sweeps):
    return {"sweeps": list(sweeps), "wedge_size": 2, "prefix": "x"}


PEAK = {"id": "peak", "energy_keV": 12.66, "num_images": 4, "osc_range": 0.5}


def test_duplicate_sweeps_are_refused_unless_marked_as_a_repeat():
    with pytest.raises(PlanError, match="sweeps 'peak' and 'b' have the same energy .* the same data twice"):
        parse_task(_task(PEAK, dict(PEAK, id="b", omega_start=1.0)))
    assert parse_task(_task(PEAK, dict(PEAK, id="b", omega_start=1.0, repeat=True))).sweeps[1].repeat
    parse_task(_task(PEAK, dict(PEAK, id="b", omega_start=2.0)))  # adjacent, not overlapping
    parse_task(_task(PEAK, dict(PEAK, id="b", kappa=10.0)))  # another orientation
    parse_task(_task(PEAK, dict(PEAK, id="b", energy_keV=13.0)))  # another energy
    parse_task(_task(PEAK, dict(PEAK, id="b", resolution=2.0)))  # another measurement: resolution
    parse_task(_task(PEAK, dict(PEAK, id="b", transmission=20.0)))  # or dose
    parse_task(_task(dict(PEAK, num_images=400, inverse_beam=True)))  # its own inverse partner


def test_the_subdir_message_names_the_whole_subdir():
    with pytest.raises(ValueError, match=r"the sub-directory 'web/\.\./\.\./etc' is refused: the part '\.\.'"):
        check_subdir("web/../../etc")


class _Group(BaseModel):
    num_images: int = Field(1, ge=1)

    @field_validator("num_images")
    @classmethod
    def _small(cls, v):
        if v > 10:
            raise ValueError("at most 10 images, got %d" % v)
        return v


class _Params(ReadableParameters):
    user_collection_parameters: _Group
    prefix: str


def test_a_refusal_names_the_field_without_pydantic_internals():
    with pytest.raises(ValueError) as info:
        _Params(user_collection_parameters={"num_images": 0})
    text = str(info.value)
    assert text == ("invalid interleaved task: num_images: must be greater than or equal to 1; "
                    "prefix: is required")
    with pytest.raises(ValueError, match=r"^invalid interleaved task: num_images: at most 10 images, got 11$"):
        _Params(user_collection_parameters={"num_images": 11}, prefix="x")
    with pytest.raises(ValidationError) as raw:
        _Group(num_images="many")
    assert readable(raw.value) == ("invalid interleaved task: num_images: must be a valid integer, "
                                   "unable to parse string as an integer")


def test_a_run_refused_at_the_start_says_so():
    out = refusal("lyso", "sweep 'peak': energy 30.0000 keV is outside 5.0–20.0 keV")
    assert out.message == ("Interleaved collection lyso refused: sweep 'peak': energy 30.0000 keV is outside "
                           "5.0–20.0 keV; nothing was collected")
    assert out.progress == 0.0
    qm = _QM()
    announce(qm, "model", out)
    assert [n for n, _ in qm.sent] == [SIGNAL] and qm.sent[0][1][1]["state"] == "refused"
