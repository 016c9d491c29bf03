"""Murko's restricted unpickler pinned: real numpy pickles read back exactly (every plain kind,
byte order, Fortran order, both array opcodes, scalars), and every refusal provoked by a pickle
written opcode by opcode to trigger it. Values expected are the arrays pickled, not the reader's."""

from __future__ import annotations

import pickle
import pickletools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mxcubecore_interleave.errors import MurkoProtocolError, UnsafeReplyError
from mxcubecore_interleave.murko import unpickle
from mxcubecore_interleave.murko.unpickle import MAX_DEPTH, safe_loads

# -- writing pickles by hand -------------------------------------------------------------------
MARK, STOP, REDUCE, BUILD = b"(", b".", b"R", b"b"


def body(obj) -> bytes:
    """Plain data as pickle opcodes (no header, no STOP, no memo: pickles of pieces compose)."""
    out = pickle.dumps(obj, protocol=4)
    ops = list(pickletools.genops(out))
    raw = b""
    for i, (op, _arg, pos) in enumerate(ops):
        end = ops[i + 1][2] if i + 1 < len(ops) else len(out)
        if op.name not in ("PROTO", "FRAME", "MEMOIZE", "STOP"):
            raw += out[pos:end]
    return raw


def BA(data: bytes) -> bytes:
    """A bytearray as protocol 5's BYTEARRAY8 opcode (numpy's in-band buffers)."""
    return b"\x96" + len(data).to_bytes(8, "little") + data


def g(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def tup(*pieces: bytes) -> bytes:
    return MARK + b"".join(pieces) + b"t"


def call(func: bytes, *args: bytes) -> bytes:
    return func + tup(*args) + REDUCE


def built(obj: bytes, state: bytes) -> bytes:
    return obj + state + BUILD


def dtype(code: str, state=None) -> bytes:
    d = call(g("numpy", "dtype"), body(code), body(False), body(True))
    return built(d, body(state)) if state is not None else d


PLAIN_STATE = (3, "<", None, None, None, -1, -1, 0)


def reconstruct(shape, dt: bytes, raw, fortran=False, *, args: bytes | None = None, state: bytes | None = None) -> bytes:
    a = call(g("numpy.core.multiarray", "_reconstruct"), *( [args] if args is not None else
                                                           [g("numpy", "ndarray"), body((0,)), body(b"b")]))
    if args is not None:
        a = g("numpy.core.multiarray", "_reconstruct") + args + REDUCE
    st_ = state if state is not None else tup(body(1), body(shape), dt, body(fortran), body(raw))
    return built(a, st_)


def frombuffer(*args: bytes) -> bytes:
    return call(g("numpy.core.numeric", "_frombuffer"), *args)


def scalar(*args: bytes) -> bytes:
    return call(g("numpy.core.multiarray", "scalar"), *args)


def loads(piece: bytes, **kw):
    return safe_loads(b"\x80\x04" + piece + STOP, **kw)


def refused(piece: bytes, words: str, error=MurkoProtocolError):
    with pytest.raises(error) as info:
        loads(piece)
    assert words in str(info.value)
    return str(info.value)


# -- what real pickles give back -----------------------------------------------------------------
ARRAYS = [
    np.array([True, False, True]),
    np.arange(-3, 3, dtype=np.int8),
    np.arange(12, dtype=">i4").reshape(3, 4),
    np.arange(12, dtype="<u2").reshape(3, 4, order="F"),
    np.linspace(-1.0, 1.0, 7, dtype=np.float32),
    np.array([1 + 2j, -3.5j], dtype=">c16"),
    np.zeros((0, 3)),
    np.array(7.25),
    np.arange(24.0).reshape(2, 3, 4).transpose(2, 0, 1),
]


@pytest.mark.parametrize("protocol", [4, 5])
@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype.str}{a.shape}")
def test_real_numpy_pickles_read_back_exactly(array, protocol):
    got = safe_loads(pickle.dumps(array, protocol=protocol))
    assert type(got) is np.ndarray
    assert got.dtype == array.dtype and got.dtype.str == array.dtype.str
    assert got.shape == array.shape
    assert got.tolist() == array.tolist()
    assert got.flags.writeable and got.flags.c_contiguous


def test_a_reply_of_plain_data_comes_back_as_is():
    reply = {"a": [1, 2.5, None, True, "x", b"y", (3, 4)], 7: {"n": None}, (1, "t"): [], None: 0, 1.5: "f",
             False: "no"}
    got = safe_loads(pickle.dumps(reply, protocol=4))
    assert got == reply
    assert type(got["a"]) is list and type(got["a"][6]) is tuple
    assert [type(v) for v in got["a"]] == [int, float, type(None), bool, str, bytes, tuple]


def test_a_bytearray_becomes_bytes():
    got = safe_loads(pickle.dumps([bytearray(b"ab")], protocol=5))  # BYTEARRAY8, no global
    assert got == [b"ab"] and type(got[0]) is bytes


@pytest.mark.parametrize("value", [np.float64(-2.5), np.int16(-7), np.uint8(200), np.bool_(True),
                                   np.complex64(1 - 1j)])
def test_numpy_scalars_read_back(value):
    got = safe_loads(pickle.dumps(value, protocol=4))
    assert type(got) is type(value) and got == value


def test_one_dtype_shared_by_many_arrays_is_built_once():
    arrays = [np.arange(3, dtype=">i4"), np.arange(3, 6, dtype=">i4")]
    got = safe_loads(pickle.dumps(arrays, protocol=4))
    assert [a.tolist() for a in got] == [[0, 1, 2], [3, 4, 5]]
    assert got[0].dtype == np.dtype(">i4") == got[1].dtype


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["?", "i1", "<i4", ">i8", "<u2", ">u4", "<f4", ">f8", "<c8"]),
       st.lists(st.integers(1, 4), min_size=0, max_size=3), st.booleans(), st.sampled_from([4, 5]))
def test_any_plain_array_reads_back(code, shape, fortran, protocol):
    n = int(np.prod(shape)) if shape else 1
    array = (np.arange(n) % 3).astype(code).reshape(shape, order="F" if fortran else "C")
    got = safe_loads(pickle.dumps(array, protocol=protocol))
    assert got.dtype == array.dtype and got.shape == array.shape and got.tolist() == array.tolist()


# -- the size cap --------------------------------------------------------------------------------
def test_the_size_cap_is_inclusive_and_says_both_sizes():
    data = pickle.dumps(list(range(30)), protocol=4)
    assert safe_loads(data, max_bytes=len(data)) == list(range(30))
    assert safe_loads(data) == list(range(30))
    with pytest.raises(MurkoProtocolError) as info:
        safe_loads(data, max_bytes=len(data) - 1)
    assert f"is {len(data)} bytes, over the {len(data) - 1} bytes cap" in str(info.value)


def test_large_sizes_are_said_in_megabytes():
    data = pickle.dumps(b"x" * 250_000, protocol=4)
    with pytest.raises(MurkoProtocolError) as info:
        safe_loads(data, max_bytes=99_999)
    assert f"is {len(data) / 1e6:.1f} MB, over the 99999 bytes cap" in str(info.value)
    with pytest.raises(MurkoProtocolError) as info:
        safe_loads(data, max_bytes=100_000)
    assert "over the 0.1 MB cap" in str(info.value)


# -- refusals of the pickle itself ---------------------------------------------------------------
def test_a_forbidden_global_is_named_printably_and_short():
    msg = refused(g("os", "system"), "os.system", UnsafeReplyError)
    assert "refused" in msg
    long = "m" * 100
    msg = refused(g("pkg\x07x", long), "pkg?x.", UnsafeReplyError)
    assert "m" * 80 in msg and "m" * 81 not in msg


def test_only_the_listed_globals_resolve():
    for module, name in [("numpy.core.numeric", "scalar"), ("numpy", "frombuffer"),
                         ("numpy.core.multiarray", "_frombuffer"), ("numpy._core.multiarray", "dtype")]:
        refused(g(module, name), f"{module}.{name}", UnsafeReplyError)


def test_a_persistent_reference_is_refused():
    refused(b"Pid\n", "persistent object", UnsafeReplyError)


def test_calling_ndarray_directly_is_refused():
    refused(call(g("numpy", "ndarray"), body((2,)), dtype("f8"), body(b"\0" * 16)), "numpy.ndarray(...)",
            UnsafeReplyError)


@pytest.mark.parametrize("data, kind", [(b"garbage", "UnpicklingError"), (b"\x80\x04K", "UnpicklingError"),
                                        (b"", "EOFError")])
def test_unreadable_bytes_name_the_failure(data, kind):
    with pytest.raises(MurkoProtocolError) as info:
        safe_loads(data)
    assert type(info.value) is MurkoProtocolError
    assert f"not a readable pickle ({kind})" in str(info.value)


def test_too_deep_for_the_pickle_machine_is_a_clear_error(monkeypatch):
    class Deep(pickle.Unpickler):
        def load(self):
            raise RecursionError

    monkeypatch.setattr(unpickle, "_Unpickler", Deep)
    with pytest.raises(MurkoProtocolError) as info:
        safe_loads(pickle.dumps(1))
    assert "nests too deeply" in str(info.value)


# -- refusals of what was read -------------------------------------------------------------------
def _nested(levels: int):
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


def test_nesting_is_bounded_at_max_depth():
    assert safe_loads(pickle.dumps(_nested(MAX_DEPTH))) == _nested(MAX_DEPTH)
    with pytest.raises(MurkoProtocolError) as info:
        safe_loads(pickle.dumps(_nested(MAX_DEPTH + 1)))
    assert f"deeper than {MAX_DEPTH} levels" in str(info.value)


def test_nesting_counts_tuples_dicts_and_keys():
    value: object = 1
    for i in range(MAX_DEPTH):
        value = (value,) if i % 2 else {"k": value}
    assert safe_loads(pickle.dumps(value)) == value
    with pytest.raises(MurkoProtocolError):
        safe_loads(pickle.dumps({_nested_tuple(MAX_DEPTH): 1}))


def _nested_tuple(levels: int):
    value: object = 1
    for _ in range(levels):
        value = (value,)
    return value


def test_the_expansion_is_bounded(monkeypatch):
    monkeypatch.setattr(unpickle, "MAX_NODES", 5)
    assert safe_loads(pickle.dumps([1, 2, 3, 4])) == [1, 2, 3, 4]  # five values: the list and four
    with pytest.raises(MurkoProtocolError) as info:
        safe_loads(pickle.dumps([1, 2, 3, 4, 5]))
    assert "more than 5 values" in str(info.value)


@pytest.mark.parametrize("value, words", [({b"k": 1}, "dict key of type bytes"), ({frozenset(): 1}, "dict key"),
                                          ({1, 2}, "holds a set"), ([frozenset([1])], "holds a frozenset")])
def test_containers_a_reply_never_has(value, words):
    with pytest.raises(MurkoProtocolError) as info:
        safe_loads(pickle.dumps(value, protocol=4))
    assert words in str(info.value)


def test_a_bare_ndarray_class_is_refused():
    refused(g("numpy", "ndarray"), "bare _NdarrayClass")


# -- arrays: _reconstruct ------------------------------------------------------------------------
def _raw(n: int, code: str = "<f8") -> bytes:
    return np.arange(n, dtype=code).tobytes()


def test_a_hand_written_reconstruct_reads_like_numpy():
    got = loads(reconstruct((2, 3), dtype("f8", PLAIN_STATE), _raw(6)))
    assert got.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    got = loads(reconstruct((2, 3), dtype("f8", PLAIN_STATE), _raw(6), fortran=True))
    assert got.tolist() == [[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]] and got.flags.c_contiguous
    got = loads(reconstruct((2, 3), dtype("f8", PLAIN_STATE), _raw(6), fortran=1))  # only True means Fortran
    assert got.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_reconstruct_of_something_else_is_refused():
    bad_first = tup(g("numpy", "dtype"), body((0,)), body(b"b"))
    refused(reconstruct((1,), dtype("f8"), _raw(1), args=bad_first), "other than a numpy array")
    two = tup(g("numpy", "ndarray"), body((0,)))
    refused(reconstruct((1,), dtype("f8"), _raw(1), args=two), "other than a numpy array")


@pytest.mark.parametrize("state", [body(None), body((1, (1,), 1, False)), body([1, (1,), 1, False, b"x"]),
                                   body((1, (1,), 1, False, b"x", 6))])
def test_reconstruct_without_the_five_part_state_is_refused(state):
    refused(reconstruct((1,), b"", b"", state=state), "(version, shape, dtype, order, data)")


def test_an_array_dtype_must_be_a_dtype():
    refused(reconstruct((1,), body("f8"), _raw(1)), "dtype that is not a numpy dtype")
    refused(reconstruct((1,), scalar(dtype("f8"), body(_raw(1))), _raw(1)), "dtype that is not a numpy dtype")


@pytest.mark.parametrize("raw, kind", [([0.0], "list"), ("\0" * 8, "str"), (None, "NoneType")])
def test_array_data_must_be_bytes(raw, kind):
    refused(reconstruct((1,), dtype("f8"), raw), f"data of type {kind}, not bytes")


def test_bytearray_data_is_read():
    state = tup(body(1), body((2,)), dtype("<i2"), body(False), BA(b"\x01\x00\x02\x00"))
    got = loads(reconstruct((2,), b"", b"", state=state))
    assert got.tolist() == [1, 2] and got.flags.writeable


# -- arrays: _frombuffer (protocol 5) ------------------------------------------------------------
def test_a_hand_written_frombuffer_reads_like_numpy():
    got = loads(frombuffer(body(_raw(4)), dtype("f8"), body((2, 2)), body("F")))
    assert got.tolist() == [[0.0, 2.0], [1.0, 3.0]] and got.flags.c_contiguous
    got = loads(frombuffer(BA(_raw(4)), dtype("f8"), body((2, 2)), body("C")))
    assert got.tolist() == [[0.0, 1.0], [2.0, 3.0]]


@pytest.mark.parametrize("args, words", [
    ([body(b""), "dtype", body((0,))], "unexpected arguments"),
    ([body(b""), "dtype", body((0,)), body("C"), body(0)], "unexpected arguments"),
    ([body([0.0]), "dtype", body((1,)), body("C")], "not bytes"),
    ([body(_raw(1)), "dtype", body((1,)), body("K")], "not bytes"),
    ([body(_raw(1)), "dtype", body((1,)), body("A")], "not bytes"),
])
def test_frombuffer_with_other_arguments_is_refused(args, words):
    refused(frombuffer(*[dtype("f8") if a == "dtype" else a for a in args]), words)


def test_frombuffer_with_a_state_is_refused():
    refused(built(frombuffer(body(_raw(1)), dtype("f8"), body((1,)), body("C")), body({"x": 1})),
            "unexpected arguments")


def test_frombuffer_dtype_must_be_a_dtype():
    refused(frombuffer(body(_raw(1)), body("f8"), body((1,)), body("C")), "not a numpy dtype")


# -- scalars -------------------------------------------------------------------------------------
def test_a_hand_written_scalar():
    assert loads(scalar(dtype("<i4"), body(b"\x05\x00\x00\x00"))) == 5
    assert loads(scalar(dtype("<i4", (3, ">", None, None, None, -1, -1, 0)), body(b"\x00\x00\x00\x05"))) == 5


@pytest.mark.parametrize("piece, words", [
    (scalar(dtype("<i4")), "unexpected arguments"),
    (scalar(dtype("<i4"), body(b"\0" * 4), body(1)), "unexpected arguments"),
    (built(scalar(dtype("<i4"), body(b"\0" * 4)), body({"a": 1})), "unexpected arguments"),
    (scalar(dtype("<i4"), body(b"\0" * 3)), "int32 scalar whose data is not 4 bytes"),
    (scalar(dtype("<i4"), body(b"\0" * 5)), "int32 scalar whose data is not 4 bytes"),
    (scalar(dtype("<i4"), body("\0" * 4)), "not 4 bytes"),
    (scalar(body("i4"), body(b"\0" * 4)), "not a numpy dtype"),
])
def test_scalars_with_other_arguments_are_refused(piece, words):
    refused(piece, words)


def test_scalar_from_bytearray():
    assert loads(scalar(dtype("<u2"), BA(b"\x01\x01"))) == 257


# -- dtypes --------------------------------------------------------------------------------------
@pytest.mark.parametrize("code, kind", [("?", "b"), ("i1", "i"), ("u8", "u"), ("f2", "f"), ("c8", "c"),
                                        ("longlong", "i")])
def test_plain_dtypes_are_read(code, kind):
    got = loads(dtype(code))
    assert isinstance(got, np.dtype) and got.kind == kind and got == np.dtype(code)


@pytest.mark.parametrize("code", ["O", "V8", "U4", "S4", "M8", "m8", "2i4", "O8"])
def test_other_dtype_kinds_are_refused(code):
    msg = refused(dtype(code), "only bool, integer, float and complex arrays are read")
    assert f"dtype {code!r} (kind {np.dtype(code).kind!r})" in msg


@pytest.mark.parametrize("piece, words", [
    (call(g("numpy", "dtype")), "not named by a short type code"),
    (call(g("numpy", "dtype"), body(8)), "not named by a short type code"),
    (dtype("complex64"), "not named by a short type code"),  # nine characters
    (dtype("zz"), "unknown dtype 'zz'"),
])
def test_dtype_names_that_are_refused(piece, words):
    refused(piece, words)


@pytest.mark.parametrize("state, words", [
    ([3, "<", None, None, None, -1, -1, 0], "unknown state"),
    ((3, "<", None, None, None, -1, 0), "unknown state"),
    ((3, "<", None, None, None, -1, -1, 0, None, 0), "unknown state"),
    ((3, "<", ((np.int32, (2,))), None, None, -1, -1, 0), "structured or sub-array"),
    ((3, "<", None, ("a",), None, -1, -1, 0), "structured or sub-array"),
    ((3, "<", None, None, {"a": 1}, -1, -1, 0), "structured or sub-array"),
    ((3, "<", None, None, None, -1, -1, 63), "flags"),
    ((3, "<", None, None, None, -1, -1, 1), "flags"),
    ((3, "<", None, None, None, -1, -1, True), "flags"),
    ((3, "<", None, None, None, -1, -1, 0.0), "flags"),
    ((3, "!", None, None, None, -1, -1, 0), "unknown byte order"),
    ((3, None, None, None, None, -1, -1, 0), "unknown byte order"),
])
def test_dtype_states_that_are_refused(state, words):
    if any(isinstance(x, tuple) and x and isinstance(x[0], type) for x in state if x is not None):
        state = (3, "<", (1, (2,)), None, None, -1, -1, 0)
    refused(dtype("i4", state), words)


@pytest.mark.parametrize("order, expect", [("<", "<"), (">", ">"), ("|", "="), ("=", "=")])
def test_dtype_byte_orders(order, expect):
    got = loads(dtype("i4", (3, order, None, None, None, -1, -1, 0)))
    assert got == np.dtype("i4").newbyteorder(expect)
    got9 = loads(dtype("i4", (4, order, None, None, None, -1, -1, 0, 0)))  # nine items: flags last
    assert got9 == got


# -- shapes --------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [[2], (2.0,), (-1,), (True,), (1,) * 33, "2", None])
def test_shapes_that_are_not_sizes_are_refused(shape):
    refused(reconstruct(shape, dtype("f8"), _raw(2)), "shape is not a tuple of sizes")


def test_the_largest_shape_allowed():
    got = loads(reconstruct((1,) * 32, dtype("f8"), _raw(1)))
    assert got.shape == (1,) * 32 and got.ravel().tolist() == [0.0]
    assert loads(reconstruct((0, 4), dtype("f8"), b"")).shape == (0, 4)
    assert loads(reconstruct((), dtype("f8"), _raw(1))).tolist() == 0.0


@pytest.mark.parametrize("shape, n", [((2, 3), 5), ((2, 3), 7), ((4,), 0), ((), 2)])
def test_data_of_the_wrong_size_is_refused(shape, n):
    count = int(np.prod(shape))
    msg = refused(reconstruct(shape, dtype("f8"), _raw(n)), f"float64 array of shape {shape} with {8 * n} bytes")
    assert msg.endswith(f"not {8 * count}; refused")


def test_arrays_from_bytes_are_writable_copies():
    raw = _raw(3)
    got = loads(reconstruct((3,), dtype("f8"), raw))
    got[0] = 9.0
    assert got.tolist() == [9.0, 1.0, 2.0]


def test_megabytes_are_rounded_from_a_million_bytes():
    data = pickle.dumps(b"x" * 1_100_000, protocol=4)
    with pytest.raises(MurkoProtocolError) as info:
        safe_loads(data, max_bytes=1_050_000)  # 1.05 MB: "1.1" from 1e6 bytes a MB, "1.0" from any more
    assert "over the 1.1 MB cap" in str(info.value)


def test_an_unbuilt_value_is_never_pickled_back_out():
    with pytest.raises(TypeError, match="unbuilt Murko reply value"):
        pickle.dumps(unpickle._Stub("dtype", ("f8",)))


def test_nesting_in_dict_values_is_bounded():
    value: object = 1
    for _ in range(MAX_DEPTH + 1):
        value = {"k": value}
    with pytest.raises(MurkoProtocolError, match="deeper than"):
        safe_loads(pickle.dumps(value))


def test_one_array_twice_in_a_reply_gives_two_independent_arrays():
    a = np.arange(3.0)
    got = safe_loads(pickle.dumps([a, a], protocol=4))  # the second is a memo reference to the first
    got[0][0] = 9.0
    assert got[0].tolist() == [9.0, 1.0, 2.0] and got[1].tolist() == [0.0, 1.0, 2.0]
