"""How Neggia's own HDF5 parser sees a file's groups (superblock version 0).

Neggia (DECTRIS's XDS plugin, ``data/PathResolverV0.cpp``) looks a name up first in the symbol
table that the parent's entry caches for a group, and only when the name is not there among the
link messages in the group's header. HDF5 keeps that cached table when a group is turned into a
link-message group (on its first external link): the names it held then stay visible to Neggia
with the objects they named then. This module reads the raw bytes and lists every group whose
cached table is neither the group's own live table nor empty: each is a place where Neggia may
read an old object (or freed bytes) instead of the current one.

Written from the HDF5 file-format specification (version 0 superblock, symbol table entries,
version 1 B-trees of group nodes, symbol table nodes, local heaps, version 1 and 2 object headers).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

_STAB_MESSAGE = 0x11
_CONTINUATION = 0x10
_ROOT_ENTRY = 56  # after the version-0 superblock's fixed fields and four addresses


@dataclass(frozen=True)
class _Entry:
    name_offset: int
    header: int
    cache_type: int
    btree: int
    heap: int


class _File:
    def __init__(self, path: Path) -> None:
        self.buf = Path(path).read_bytes()
        if self.buf[:8] != b"\x89HDF\r\n\x1a\n" or self.buf[8] != 0:
            raise ValueError(f"{path}: not an HDF5 file with a version-0 superblock")

    def u(self, fmt: str, offset: int) -> tuple:
        return struct.unpack_from("<" + fmt, self.buf, offset)

    def entry(self, offset: int) -> _Entry:
        name, header, cache = self.u("QQI", offset)
        btree, heap = self.u("QQ", offset + 24)
        return _Entry(name, header, cache, btree, heap)

    def live_stab(self, header: int) -> tuple[int, int] | None:
        """(B-tree, heap) of the group's symbol-table message, None for a link-message group."""
        for kind, p in self.messages(header):
            if kind == _STAB_MESSAGE:
                return self.u("QQ", p)
        return None

    def messages(self, header: int):
        """(type, data offset) of every message of an object header, version 1 or 2 (an object
        H5Ocopy'd from a file in the DECTRIS filewriter's format keeps its version-2 header)."""
        if self.buf[header:header + 4] == b"OHDR":
            yield from self._messages_v2(header)
            return
        if self.buf[header] != 1:
            raise ValueError(f"object header at {header:#x} is neither version 1 nor 2")
        n_messages, size = self.u("H", header + 2)[0], self.u("I", header + 8)[0]
        blocks, seen = [(header + 16, size)], 0
        while blocks and seen < n_messages:
            start, size = blocks.pop(0)
            p = start
            while p < start + size and seen < n_messages:
                kind, length = self.u("HH", p)
                seen += 1
                if kind == _CONTINUATION:
                    blocks.append(self.u("QQ", p + 8))
                yield kind, p + 8
                p += 8 + length

    def _messages_v2(self, header: int):
        version, flags = self.buf[header + 4], self.buf[header + 5]
        if version != 2:
            raise ValueError(f"object header at {header:#x}: OHDR version {version}")
        p = header + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 3)
        size = int.from_bytes(self.buf[p:p + width], "little")
        # (first, end) of each chunk's messages: chunk 0's size leaves out its checksum; a
        # continuation's length counts its OCHK signature and checksum
        blocks = [(p + width, p + width + size)]
        while blocks:
            p, end = blocks.pop(0)
            while p + 4 <= end:
                kind, length = self.buf[p], self.u("H", p + 1)[0]
                p += 4 + (2 if flags & 0x04 else 0)  # creation order tracked: 2 more bytes
                if kind == _CONTINUATION:
                    address, length_c = self.u("QQ", p)
                    if self.buf[address:address + 4] != b"OCHK":
                        raise ValueError(f"no continuation block at {address:#x}")
                    blocks.append((address + 4, address + length_c - 4))
                yield kind, p
                p += length

    def name(self, heap: int, offset: int) -> str:
        if self.buf[heap:heap + 4] != b"HEAP":
            raise ValueError(f"no local heap at {heap:#x}")
        data = self.u("Q", heap + 24)[0] + offset
        return self.buf[data:self.buf.index(b"\0", data)].decode()

    def children(self, btree: int, heap: int) -> dict[str, _Entry]:
        """Every entry of a group's symbol table (a version-1 B-tree of symbol-table nodes)."""
        if self.buf[btree:btree + 4] != b"TREE":
            raise ValueError(f"no B-tree at {btree:#x}")
        level, used = self.buf[btree + 5], self.u("H", btree + 6)[0]
        out: dict[str, _Entry] = {}
        for i in range(used):
            child = self.u("Q", btree + 24 + 8 + 16 * i)[0]
            if level > 0:
                out.update(self.children(child, heap))
                continue
            if self.buf[child:child + 4] != b"SNOD":
                raise ValueError(f"no symbol-table node at {child:#x}")
            for j in range(self.u("H", child + 6)[0]):
                e = self.entry(child + 8 + 40 * j)
                out[self.name(heap, e.name_offset)] = e
        return out


def stale_cached_groups(path: Path) -> list[str]:
    """Groups whose parent caches a symbol table that is not theirs and not empty (see above)."""
    f = _File(path)
    stale: list[str] = []

    def walk(entry: _Entry, where: str) -> None:
        live = f.live_stab(entry.header)
        if entry.cache_type == 1 and live != (entry.btree, entry.heap) and f.children(entry.btree, entry.heap):
            stale.append(where or "/")
        if live is None:
            return  # a link-message group: its members have no cached entries (Neggia reads the header)
        for name, child in f.children(*live).items():
            if child.cache_type == 1 or f.live_stab(child.header) is not None:
                walk(child, f"{where}/{name}")

    walk(f.entry(_ROOT_ENTRY), "")
    return stale
