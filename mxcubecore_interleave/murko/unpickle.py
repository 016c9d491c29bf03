"""Reading a Murko reply (a pickle) so that it can only ever become plain data.

Murko replies are pickles, and a pickle is a program. Allowing numpy's own ``ndarray``, ``dtype``
and ``_reconstruct`` is not enough: ``numpy.ndarray(shape, dtype("O"), buffer)`` is reachable
with those alone and makes an object array whose "pointers" are attacker bytes (touching it
segfaults the process), and a dtype's ``__setstate__`` can add fields or the has-object flag.

So no numpy callable ever runs during unpickling. Each allowed global resolves to a recorder
(:class:`_Stub`) that only stores its arguments and state; once the pickle VM is done, the
result is walked (bounded depth and node count) and every recorded array is built here, from its
bytes, with a dtype checked to be plain bool, integer, float or complex (no object, void,
structured, sub-array, string or datetime dtype, whatever path leads to it). The whole reply is
bounded in size before any of this (``max_bytes``). Every refusal is one line, and no untrusted
object is ever ``repr``-ed.

Pure: numpy and the standard library only.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

from mxcubecore_interleave.errors import MurkoProtocolError, UnsafeReplyError

MAX_DEPTH = 32
"""Nesting a real reply never comes near (reply → descriptions → description → notion → pa → array: 6)."""
MAX_NODES = 2_000_000
"""Containers, values and arrays one reply may hold once expanded (a real 68-view reply: ~20 000);
bounds replies whose memo references share one list many times over (exponential expansion)."""
MAX_DIMENSIONS = 32
PLAIN_KINDS = frozenset("biufc")
"""numpy dtype kinds an array in a reply may have: bool, signed, unsigned, float, complex."""

_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")
_NUMERIC = ("numpy.core.numeric", "numpy._core.numeric")


class _Stub:
    """What an allowed global's call produces during unpickling: its arguments and state, inert."""

    __slots__ = ("kind", "args", "state", "built")

    def __init__(self, kind: str, args: tuple) -> None:
        self.kind, self.args, self.state, self.built = kind, args, None, None

    def __setstate__(self, state: Any) -> None:  # the pickle BUILD opcode lands here
        self.state = state

    def __reduce__(self) -> Any:  # never pickled back out
        raise TypeError("an unbuilt Murko reply value")


class _NdarrayClass:
    """Stands for ``numpy.ndarray`` as ``_reconstruct``'s first argument; calling it is refused."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise UnsafeReplyError(
            "the Murko reply calls numpy.ndarray(...) directly (an array over raw bytes), which a "
            "Murko reply never does; refused"
        )


_NDARRAY = _NdarrayClass()


def _recorder(kind: str) -> Any:
    def record(*args: Any) -> _Stub:
        return _Stub(kind, args)

    return record


_GLOBALS: dict[tuple[str, str], Any] = {
    **{(m, "_reconstruct"): _recorder("reconstruct") for m in _MULTIARRAY},
    **{(m, "scalar"): _recorder("scalar") for m in _MULTIARRAY},
    # pickle protocol 5: arrays come as _frombuffer(buffer, dtype, shape, order)
    **{(m, "_frombuffer"): _recorder("frombuffer") for m in _NUMERIC},
    ("numpy", "dtype"): _recorder("dtype"),
    ("numpy", "ndarray"): _NDARRAY,
}
"""The only globals real replies contain (recorded from Murko main and SOLEIL's predictor.py)."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = _GLOBALS.get((module, name))
        if found is None:
            raise UnsafeReplyError(
                f"the Murko reply asks to load {_name(module)}.{_name(name)}, which a Murko reply never "
                "contains; refused without running it (is something else listening on the Murko port?)"
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeReplyError("the Murko reply refers to a persistent object, which a Murko reply never does")


def _name(text: Any) -> str:
    """A global's name for a message: printable, short (it comes from the attacker)."""
    value = str(text)[:80]
    return "".join(ch if ch.isprintable() else "?" for ch in value)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n} bytes"


def safe_loads(data: bytes, max_bytes: int | None = None) -> Any:
    """The reply as plain data (dicts, lists, tuples, numbers, strings, plain numpy arrays).

    Anything else, a reply over ``max_bytes``, a nesting deeper than :data:`MAX_DEPTH` or an
    expansion past :data:`MAX_NODES` raises :class:`MurkoProtocolError` (``UnsafeReplyError``
    for a forbidden global), one line, nothing of the reply repeated but names and numbers.
    """
    size = len(data)
    if max_bytes is not None and size > max_bytes:
        raise MurkoProtocolError(
            f"the Murko reply is {_size(size)}, over the {_size(max_bytes)} cap (max_reply_mb_per_image); refused unread"
        )
    try:
        loaded = _Unpickler(io.BytesIO(data)).load()
    except MurkoProtocolError:
        raise
    except RecursionError:
        raise MurkoProtocolError("the Murko reply nests too deeply to read; refused") from None
    except Exception as exc:  # truncated or foreign bytes: pickle raises many types
        raise MurkoProtocolError(
            f"the Murko reply is not a readable pickle ({type(exc).__name__}); refused"
        ) from None
    return _Builder().build(loaded, 0)


class _Builder:
    """Walks the unpickled tree, turning stubs into checked arrays and scalars."""

    def __init__(self) -> None:
        self.nodes = 0

    def build(self, value: Any, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise MurkoProtocolError(f"the Murko reply expands to more than {MAX_NODES} values; refused")
        if depth > MAX_DEPTH:
            raise MurkoProtocolError(f"the Murko reply nests deeper than {MAX_DEPTH} levels; refused")
        if value is None or type(value) in (bool, int, float, complex, str, bytes):
            return value
        if type(value) is bytearray:
            return bytes(value)
        if type(value) is list:
            return [self.build(v, depth + 1) for v in value]
        if type(value) is tuple:
            return tuple(self.build(v, depth + 1) for v in value)
        if type(value) is dict:
            out = {}
            for key, item in value.items():
                if type(key) not in (str, int, float, bool, tuple) and key is not None:
                    raise MurkoProtocolError(f"the Murko reply has a dict key of type {type(key).__name__}; refused")
                out[self.build(key, depth + 1)] = self.build(item, depth + 1)
            return out
        if type(value) in (set, frozenset):
            raise MurkoProtocolError(f"the Murko reply holds a {type(value).__name__}, which a Murko reply never does; refused")
        if type(value) is _Stub:
            return self._stub(value, depth)
        raise MurkoProtocolError(f"the Murko reply holds a bare {type(value).__name__}; refused")

    def _stub(self, stub: _Stub, depth: int) -> Any:
        if stub.built is not None:  # one dtype is shared by many arrays through the memo
            return stub.built
        if stub.kind == "dtype":
            built = _dtype(stub)
        elif stub.kind == "reconstruct":
            built = self._reconstructed(stub, depth)
        elif stub.kind == "frombuffer":
            built = self._frombuffer(stub, depth)
        else:
            built = self._scalar(stub, depth)
        if stub.kind == "dtype":
            stub.built = built
        return built

    def _dtype_of(self, value: Any, depth: int) -> np.dtype:
        if type(value) is not _Stub or value.kind != "dtype":
            raise MurkoProtocolError("the Murko reply gives an array a dtype that is not a numpy dtype; refused")
        return self._stub(value, depth + 1)

    def _reconstructed(self, stub: _Stub, depth: int) -> np.ndarray:
        if len(stub.args) != 3 or stub.args[0] is not _NDARRAY:
            raise MurkoProtocolError("the Murko reply reconstructs something other than a numpy array; refused")
        state = stub.state
        if type(state) is not tuple or len(state) != 5:
            raise MurkoProtocolError("the Murko reply has an array without the (version, shape, dtype, order, data) state; refused")
        _version, shape, dtype, fortran, raw = state
        dtype = self._dtype_of(dtype, depth)
        if type(raw) not in (bytes, bytearray):
            raise MurkoProtocolError(
                f"the Murko reply gives an array data of type {type(raw).__name__}, not bytes; refused"
            )
        return _array(raw, dtype, shape, "F" if fortran is True else "C")

    def _frombuffer(self, stub: _Stub, depth: int) -> np.ndarray:
        if len(stub.args) != 4 or stub.state is not None:
            raise MurkoProtocolError("the Murko reply calls numpy's _frombuffer with unexpected arguments; refused")
        raw, dtype, shape, order = stub.args
        if type(raw) not in (bytes, bytearray) or order not in ("C", "F"):
            raise MurkoProtocolError("the Murko reply gives _frombuffer data that is not bytes; refused")
        return _array(raw, self._dtype_of(dtype, depth), shape, order)

    def _scalar(self, stub: _Stub, depth: int) -> Any:
        if len(stub.args) != 2 or stub.state is not None:
            raise MurkoProtocolError("the Murko reply has a numpy scalar with unexpected arguments; refused")
        dtype = self._dtype_of(stub.args[0], depth)
        raw = stub.args[1]
        if type(raw) not in (bytes, bytearray) or len(raw) != dtype.itemsize:
            raise MurkoProtocolError(f"the Murko reply has a numpy {dtype.name} scalar whose data is not {dtype.itemsize} bytes; refused")
        return np.frombuffer(bytes(raw), dtype=dtype)[0]


def _dtype(stub: _Stub) -> np.dtype:
    """A plain numeric dtype from ``dtype(spec, align, copy)`` + its pickled state, or a refusal."""
    args = stub.args
    if not args or type(args[0]) is not str or len(args[0]) > 8:
        raise MurkoProtocolError("the Murko reply has a dtype not named by a short type code; refused")
    try:
        dtype = np.dtype(args[0])
    except TypeError:
        raise MurkoProtocolError(f"the Murko reply names an unknown dtype {_name(args[0])!r}; refused") from None
    if dtype.kind not in PLAIN_KINDS or dtype.fields is not None or dtype.subdtype is not None or dtype.hasobject:
        raise MurkoProtocolError(
            f"the Murko reply has an array of dtype {_name(args[0])!r} (kind {dtype.kind!r}); only bool, "
            "integer, float and complex arrays are read; refused"
        )
    state = stub.state
    if state is not None:
        # (version, byte order, subarray, names, fields, elsize, alignment, flags): a plain
        # dtype has no sub-array, names or fields, and flags 0 (no object references)
        if type(state) is not tuple or len(state) not in (8, 9):
            raise MurkoProtocolError("the Murko reply has a dtype with an unknown state; refused")
        order, subarray, names, fields, flags = state[1], state[2], state[3], state[4], state[-1]
        if subarray is not None or names is not None or fields is not None:
            raise MurkoProtocolError("the Murko reply has a structured or sub-array dtype; refused")
        if type(flags) is not int or flags != 0:
            raise MurkoProtocolError("the Murko reply has a dtype with flags (object references?); refused")
        if order not in ("<", ">", "|", "="):
            raise MurkoProtocolError("the Murko reply has a dtype with an unknown byte order; refused")
        if order in ("<", ">"):
            dtype = dtype.newbyteorder(order)
    return dtype


def _array(raw: bytes | bytearray, dtype: np.dtype, shape: Any, order: str) -> np.ndarray:
    if type(shape) is not tuple or len(shape) > MAX_DIMENSIONS or not all(type(n) is int and n >= 0 for n in shape):
        raise MurkoProtocolError("the Murko reply has an array whose shape is not a tuple of sizes; refused")
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != len(raw):
        raise MurkoProtocolError(
            f"the Murko reply has a {dtype.name} array of shape {tuple(int(n) for n in shape)} with "
            f"{len(raw)} bytes of data, not {count * dtype.itemsize}; refused"
        )
    buffer = raw if type(raw) is bytearray else bytearray(raw)  # writable, as numpy's own arrays
    array = np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)
    return np.ascontiguousarray(array) if order == "F" else array
