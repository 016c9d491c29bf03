"""Hostile and nonsense Murko replies: refused in one line, no crash, no motor moved, outcome stored."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mxcubecore_interleave.errors import CentringRefused, MurkoProtocolError, MurkoTimeoutError
from mxcubecore_interleave.murko.client import MurkoClient
from mxcubecore_interleave.murko.protocol import parse_reply, safe_loads
from mxcubecore_interleave.murko.storage import read_centring_h5
from mxcubecore_interleave.murko_demo import place_sample

from . import murko_hostile as hostile
from .murko_helpers import murko, murko_server  # noqa: F401 (fixtures)

PAYLOADS = {
    "object array in a click": hostile.object_array_reply("click"),
    "object array in an error reply's shape": hostile.object_array_reply("shape"),
    "float dtype with flags set": hostile.flagged_dtype_reply(),
    "structured dtype with an object field": hostile.structured_object_reply(),
    "10 000 nested lists": hostile.deep_reply(),
    "2**25 shared leaves": hostile.shared_reply(),
}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_hostile_payloads_are_refused_in_one_line_without_repr(name):
    with pytest.raises(MurkoProtocolError) as info:
        parse_reply(safe_loads(PAYLOADS[name]), 1)
    message = str(info.value)
    assert "\n" not in message and len(message) < 300
    assert "AAAA" not in message and "refused" in message  # nothing of the attacker's bytes


def test_no_payload_crashes_a_fresh_interpreter():
    """The object array segfaulted the process (rc 139) before: here every payload is read in a
    child interpreter, which must exit 0 having refused each one."""
    script = textwrap.dedent("""
        import pickle, sys
        from mxcubecore_interleave.errors import MurkoProtocolError
        from mxcubecore_interleave.murko.protocol import parse_reply, safe_loads
        refused = 0
        for data in pickle.loads(sys.stdin.buffer.read()):
            try:
                parse_reply(safe_loads(data), 1)
            except MurkoProtocolError:
                refused += 1
        print(refused)
    """)
    import pickle

    run = subprocess.run([sys.executable, "-c", script], input=pickle.dumps(list(PAYLOADS.values())),
                         capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert run.stdout.decode().strip() == str(len(PAYLOADS))


def test_other_dtypes_are_refused_whatever_the_path():
    for array in (np.array([1, "a"], dtype=object), np.zeros(2, "V8"), np.zeros(2, "U3"), np.zeros(2, "M8[s]")):
        for protocol in (4, 5):
            with pytest.raises(MurkoProtocolError, match="only bool, integer, float and complex"):
                safe_loads(pickle_dumps(array, protocol))
    # plain arrays still load, on both paths, byte order and memory order kept
    array = np.arange(12, dtype=">i4").reshape(3, 4).T
    for protocol in (4, 5):
        loaded = safe_loads(pickle_dumps(array, protocol))
        assert loaded.dtype == array.dtype and np.array_equal(loaded, array) and loaded.flags.writeable


def pickle_dumps(value, protocol):
    import pickle

    return pickle.dumps(value, protocol=protocol)


def test_a_reply_over_the_cap_is_dropped_by_zeromq_and_the_client_recovers():
    """3 MB against a 1.5 MB cap: libzmq drops it (MAXMSGSIZE), the client says so, and the next
    request on the same client gets a normal answer."""
    answer = hostile.description_answer()
    big = {"on": True}

    def reply(request):
        return b"\x80\x04" + b"N" * 3_000_000 + b"." if big["on"] else answer(request)

    picture = np.full((48, 64, 3), 230, np.uint8)
    picture[20:28, 10:50] = 30
    with hostile.HostileServer(reply) as server:
        client = MurkoClient(port=server.port, timeout_s=1.0, timeout_per_image_s=0.0, max_reply_mb_per_image=0.5)
        assert client.max_reply_bytes(1) == 1_500_000
        assert MurkoClient(port=1).max_reply_bytes(4) == 41_000_000  # the default: a 500 MB reply is dropped
        with pytest.raises(MurkoTimeoutError, match=r"or its reply was over the 1\.5 MB cap"):
            client.predict([picture])
        big["on"] = False
        assert len(client.predict([picture], timeout_s=20.0)) == 1
    with pytest.raises(MurkoProtocolError, match=r"3\.0 MB, over the 1\.5 MB cap"):
        safe_loads(b"\x80\x04" + b"N" * 3_000_000 + b".", 1_500_000)


OFF_CENTRE = {"phiy": 0.035, "phiz": -0.015, "sampx": 0.025, "sampy": -0.02}

NONSENSE = [
    ("object array click", lambda request: hostile.object_array_reply("click"), {}, "reply", "numpy.ndarray"),
    ("object array shape", lambda request: hostile.object_array_reply("shape"), {}, "reply", "numpy.ndarray"),
    ("clicks at fractions 57, 91", hostile.edit_descriptions(hostile.clicks_outside), {}, "click_inside",
     r"\(57, 91\) \(row, column\) lies outside the picture"),
    ("1x1 mask", hostile.edit_descriptions(hostile.tiny_mask(1)), {}, "reply", "1 x 1"),
    ("0x0 mask", hostile.edit_descriptions(hostile.tiny_mask(0)), {}, "reply", "0 x 0"),
    ("string mask", hostile.edit_descriptions(hostile.string_mask), {}, "reply", "is a str, not a 2-D array"),
    ("whole-picture mask", hostile.edit_descriptions(hostile.whole_picture_mask), {}, "coverage", "100.0% of the picture"),
    ("correction over the limit", hostile.description_answer(), {"max_correction_mm": 0.01}, "correction_limit",
     r"exceeds 10\.0 um \(max_correction_mm\)"),
]


@pytest.mark.beamline
@pytest.mark.parametrize(("name", "reply", "overrides", "check", "match"), NONSENSE, ids=[n[0] for n in NONSENSE])
def test_nonsense_is_refused_before_any_move_and_stored_as_the_outcome(beamline, murko, tmp_path, name, reply,
                                                                      overrides, check, match):
    place_sample(beamline, OFF_CENTRE, omega=0.0)
    motors = ["omega", "phiy", "phiz", "sampx", "sampy"]
    start = beamline.diffractometer.get_value_motors(motors)
    moves = []
    real_move = murko._move
    murko._move = lambda target, settings=None: (moves.append(dict(target)), real_move(target, settings))
    try:
        with hostile.HostileServer(reply) as server:
            murko.set_server("127.0.0.1", server.port)
            with pytest.raises(CentringRefused, match=match) as info:
                murko.centre(output_dir=tmp_path, prefix="bad", **overrides)
    finally:
        del murko._move
    assert info.value.check == check
    assert "\n" not in str(info.value)
    # only omega turned to take the views; no translation was ever commanded
    assert all(set(target) == {"omega"} for target in moves), moves
    after = beamline.diffractometer.get_value_motors(motors)
    assert all(after[m] == pytest.approx(start[m], abs=1e-9) for m in motors)
    record = read_centring_h5(tmp_path / "bad_murko.h5")
    assert record["outcome_check"] == check and record["outcome"] == f"refused: {info.value}"
    assert len(record["images_jpeg"]) == 4


@pytest.fixture(scope="module")
def real_reply() -> bytes:
    from mxcubecore_interleave.simulation.murko_scene import CameraView, SampleScene, render
    from mxcubecore_interleave.murko.segment import describe

    scene = SampleScene()
    image = render(scene, dict(scene.crystal_centred_position(), omega=0.0), CameraView(width=160, height=120))
    return pickle_dumps({"original_image_shape": image.shape, "descriptions": [describe(image)]}, 4)


def _fuzz_cases():
    from hypothesis import strategies as st

    edits = st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=1, max_size=8)
    return st.tuples(edits, st.integers(0, 10**9), st.booleans())


def test_mutated_real_replies_are_read_or_refused_never_anything_else(real_reply):
    """Random byte edits (and truncations) of a real reply: each one either parses or is a
    MurkoProtocolError; no other exception, no crash."""
    from hypothesis import HealthCheck, given, settings

    outcomes = {"parsed": 0, "refused": 0}

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(_fuzz_cases())
    def check(case):
        edits, cut, truncate = case
        data = bytearray(real_reply)
        for where, value in edits:
            data[where % len(data)] = value
        if truncate:
            data = data[: cut % len(data)]
        try:
            parse_reply(safe_loads(bytes(data), 10_000_000), 1)
            outcomes["parsed"] += 1
        except MurkoProtocolError as exc:
            assert "\n" not in str(exc)
            outcomes["refused"] += 1

    check()
    assert outcomes["parsed"] + outcomes["refused"] >= 400
    assert outcomes["refused"] > 0
