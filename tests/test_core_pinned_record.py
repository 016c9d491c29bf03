"""The acquisition record pinned: numbering against an independent running sum, queries, the
incremental writer's text and its work counted, persistence refusals."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxcubecore_interleave.errors import RecordError
from mxcubecore_interleave.record import (
    AcquisitionRecord,
    DataFileRecord,
    RecordWriter,
    SweepRecord,
    WedgeRecord,
    now_iso,
    record_path,
)


def _w(order, sweep, first, n, status="planned", n_collected=0):
    return WedgeRecord(order=order, sweep=sweep, sweep_first_frame=first, n=n, n_collected=n_collected,
                       first_global=1, omega_start=float(first - 1), status=status)


def _rec(wedges, n_files=0):
    return AcquisitionRecord(
        acquisition_id="r", prefix="p",
        sweeps=[SweepRecord(id=s, wavelength_A=1.0, omega_start=0.0, omega_increment=1.0, n_frames=8) for s in "AB"],
        wedges=wedges,
        data_files=[DataFileRecord(file=f"f{i}.h5", first_global=1 + 2 * i, n=2) for i in range(n_files)])


def _held(w):
    """Frames a wedge holds in the numbering: what was collected once it was, else the plan."""
    return w.n_collected if w.status in ("complete", "partial") else w.n


def test_collected_needs_a_finished_status_and_frames():
    assert _w(0, "A", 1, 4, "complete", 4).collected
    assert _w(0, "A", 1, 4, "partial", 1).collected
    assert not _w(0, "A", 1, 4, "partial", 0).collected
    assert not _w(0, "A", 1, 4, "running", 3).collected
    assert not _w(0, "A", 1, 4, "planned").collected


def test_queries():
    rec = _rec([_w(0, "A", 5, 4, "complete", 4), _w(1, "B", 1, 4, "partial", 2), _w(2, "A", 1, 4, "partial", 3),
                _w(3, "B", 5, 4, "running", 1), _w(4, "A", 9, 4)])
    assert [w.sweep_first_frame for w in rec.wedges_of("A")] == [1, 5, 9]
    assert [w.sweep_first_frame for w in rec.wedges_of("A", collected_only=True)] == [1, 5]
    assert [w.order for w in rec.wedges_of("B", collected_only=True)] == [1]
    assert (rec.collected_frames("A"), rec.collected_frames("B")) == (7, 2)
    assert rec.sweep("B").id == "B"
    with pytest.raises(RecordError, match="no sweep 'C'"):
        rec.sweep("C")


def test_renumber_collected_frames_first_then_the_plan():
    rec = _rec([_w(5, "A", 1, 4, "complete", 4), _w(5, "B", 1, 4, "partial", 1), _w(5, "A", 5, 4, "running", 2),
                _w(5, "B", 5, 3)])
    changed = rec.renumber()
    assert [(w.order, w.first_global) for w in rec.wedges] == [(0, 1), (1, 5), (2, 6), (3, 10)]
    assert changed == rec.wedges  # every order was wrong
    assert rec.renumber() == []  # nothing left to change
    rec.wedges[1].n_collected = 3  # the partial wedge got two more frames
    assert rec.renumber(start=2) == [rec.wedges[2], rec.wedges[3]]  # only what follows it moves
    assert [w.first_global for w in rec.wedges] == [1, 5, 8, 12]
    rec.wedges[0].n_collected = 2
    assert rec.renumber(start=-3) == rec.wedges[1:]  # clamped to 0: everything after wedge 0 moves
    assert [w.first_global for w in rec.wedges] == [1, 3, 6, 10]
    rec.wedges[0].n_collected = 1  # from wedge 1 on: the complete wedge before it counts what it holds
    assert rec.renumber(start=1) == rec.wedges[1:]
    assert [w.first_global for w in rec.wedges] == [1, 2, 5, 9]
    assert rec.renumber(start=99) == []  # clamped to the end


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["planned", "running", "complete", "partial"]), st.integers(1, 6),
                          st.integers(0, 6)), min_size=1, max_size=8), st.data())
def test_renumber_is_the_running_sum_from_any_start(spec, data):
    ws = [_w(i, "A", 1 + 6 * i, n, status, min(c, n) if status in ("partial", "running") else
             (n if status == "complete" else 0)) for i, (status, n, c) in enumerate(spec)]
    rec = _rec(ws)
    rec.renumber()
    g = 1
    for order, w in enumerate(rec.wedges):
        assert (w.order, w.first_global) == (order, g)
        g += _held(w)
    # change one wedge's count; renumbering from it gives what a fresh numbering gives
    k = data.draw(st.integers(0, len(ws) - 1))
    w = rec.wedges[k]
    w.status, w.n_collected = "partial", data.draw(st.integers(0, w.n))
    fresh = copy.deepcopy(rec)
    for x in fresh.wedges:
        x.first_global = 1
    fresh.renumber()
    rec.renumber(start=k)
    assert [x.first_global for x in rec.wedges] == [x.first_global for x in fresh.wedges]


def test_the_writer_text_is_the_record_and_reserialises_only_what_changed():
    rec = _rec([_w(i, "AB"[i % 2], 1 + 4 * (i // 2), 4) for i in range(4)], n_files=3)
    rec.renumber()
    wr = RecordWriter()
    assert json.loads(wr.text(rec)) == rec.to_json_dict()
    assert wr.serialised == 2 + 4 + 3  # sweeps, wedges, data files
    assert json.loads(wr.text(rec)) == rec.to_json_dict() and wr.serialised == 0
    rec.wedges[2].status, rec.wedges[2].n_collected = "complete", 4  # changed in place, no hint
    assert json.loads(wr.text(rec)) == rec.to_json_dict() and wr.serialised == 1
    rec.wedges[3].n_collected = 1
    rec.wedges[1].n_collected = 2
    assert json.loads(wr.text(rec, [rec.wedges[3]])) != rec.to_json_dict()  # a hint is trusted ...
    assert wr.serialised == 1
    assert json.loads(wr.text(rec, [rec.wedges[1]])) == rec.to_json_dict()  # ... so name what changed
    rec.sweeps[1].master = "B_master.h5"  # sweeps are always compared, even with hints
    assert json.loads(wr.text(rec, [])) == rec.to_json_dict() and wr.serialised == 1
    rec.data_files[1] = DataFileRecord(file="g.h5", first_global=3, n=2)  # replaced, not changed in place
    assert json.loads(wr.text(rec, [])) == rec.to_json_dict() and wr.serialised == 1
    rec.wedges.pop()
    assert json.loads(wr.text(rec)) == rec.to_json_dict() and wr.serialised == 0
    empty = _rec([])
    assert json.loads(RecordWriter().text(empty)) == empty.to_json_dict()


def test_one_item_per_line():
    rec = _rec([_w(0, "A", 1, 4), _w(1, "B", 1, 4)], n_files=1)
    lines = RecordWriter().text(rec).splitlines()
    assert sum(1 for line in lines if '"sweep_first_frame"' in line) == 2
    assert sum(1 for line in lines if line.strip().startswith('{"id"')) == 2


def test_save_load_round_trip_and_refusals(tmp_path):
    rec = _rec([_w(0, "A", 1, 4, "complete", 4)], n_files=1)
    rec.updated = "2000-01-01T00:00:00.000+00:00"
    path = record_path(tmp_path, "p")
    assert path == tmp_path / "p_acquisition.json"
    assert rec.save(path) == path
    assert rec.updated != "2000-01-01T00:00:00.000+00:00"  # saving touches it
    back = AcquisitionRecord.load(path)
    assert back == rec and back.to_json_dict()["schema"] == "mxcube-interleaved/1"
    assert AcquisitionRecord.loads(rec.dumps()) == rec
    with pytest.raises(RecordError, match=r"no acquisition record at .*missing_acquisition\.json"):
        AcquisitionRecord.load(tmp_path / "missing_acquisition.json")
    (tmp_path / "bad.json").write_text('{"acquisition_id": 1}')
    with pytest.raises(RecordError, match=r"bad\.json is not a valid acquisition record \(mxcube-interleaved/1\)"):
        AcquisitionRecord.load(tmp_path / "bad.json")
    with pytest.raises(RecordError, match=r"<string> is not a valid"):
        AcquisitionRecord.loads("{}")


def test_now_is_local_time_with_milliseconds():
    t = dt.datetime.fromisoformat(now_iso())
    assert t.tzinfo is not None
    assert abs((t - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 60
    assert len(now_iso().split(".")[1].split("+")[0].split("-")[0]) == 3


def test_a_list_changed_in_place_is_seen_without_hints():
    rec = _rec([_w(0, "A", 1, 4)])
    wr = RecordWriter()
    wr.text(rec)
    rec.wedges[0].data_files.append("A_w001_data_000001.h5")  # the same list object, one more item
    assert json.loads(wr.text(rec))["wedges"][0]["data_files"] == ["A_w001_data_000001.h5"] and wr.serialised == 1


def test_the_text_keeps_non_ascii_as_is_and_refuses_nan():
    rec = _rec([_w(0, "A", 1, 4)])
    rec.prefix = "lysozyme_é"
    rec.sweeps[0].id = rec.wedges[0].sweep = "Aé"
    text = RecordWriter().text(rec)
    assert '"prefix": "lysozyme_é"' in text and '{"id": "Aé"' in text and '"sweep": "Aé"' in text
    rec.sweeps[1].transmission = float("nan")
    with pytest.raises(ValueError):
        RecordWriter().text(rec)


def test_empty_lists_are_written_empty():
    text = RecordWriter().text(_rec([]))
    assert '"data_files": [], "sweeps": [' in text and text.endswith('"wedges": []}\n')


def test_dumps_is_indented_one_space():
    lines = _rec([]).dumps().splitlines()
    assert lines[0] == "{" and lines[1].startswith(' "schema": ') and lines[-1] == "}"
