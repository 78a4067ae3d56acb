"""Reader for Qt's binary resource files (``.rcc``), standard library only.

Why: GCompris ships its photographs inside ``.rcc`` bundles, and the sample set must be
built without Qt installed. The format is small and documented (``rcc --binary`` output):

* header, big-endian: magic ``qres``, u32 version, u32 tree offset, u32 data offset,
  u32 names offset, and for version >= 3 a u32 of overall flags;
* tree: fixed-size entries (14 bytes in v1, 22 in v2+ which append a u64 mtime), entry 0
  is the root directory. Each entry starts with u32 name offset and u16 flags; a directory
  then holds u32 child count and u32 index of its first child (children are contiguous),
  a file holds u16 country, u16 language and u32 data offset;
* names: u16 length, u32 hash, then ``length`` UTF-16BE code units;
* data: u32 size then the bytes. Flag 1 marks ``qCompress`` output (u32 big-endian
  uncompressed size, then a zlib stream), flag 2 a directory, flag 4 zstd compression.

Every read is bounds-checked so a truncated or garbled file raises ``ValueError`` naming
the file instead of an ``IndexError``/``struct.error`` from deep inside.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator

__all__ = ["iter_rcc", "read_rcc"]

MAGIC = b"qres"
FLAG_COMPRESSED = 0x01
FLAG_DIRECTORY = 0x02
FLAG_COMPRESSED_ZSTD = 0x04


class _Reader:
    """Bounds-checked big-endian access to the whole file, errors carrying its name."""

    def __init__(self, blob: bytes, source: str) -> None:
        self.blob = blob
        self.source = source

    def fail(self, message: str) -> ValueError:
        return ValueError(f"{self.source}: {message}")

    def take(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or size < 0 or offset + size > len(self.blob):
            raise self.fail(
                f"truncated or corrupt Qt resource file: {what} needs bytes {offset}..{offset + size}"
                f" but the file has {len(self.blob)}"
            )
        return self.blob[offset : offset + size]

    def unpack(self, fmt: str, offset: int, what: str) -> tuple:
        return struct.unpack(">" + fmt, self.take(offset, struct.calcsize(">" + fmt), what))


def iter_rcc(path: str | os.PathLike[str]) -> Iterator[tuple[str, bytes]]:
    """Yield ``(resource_path, uncompressed_bytes)`` for every file in a Qt ``.rcc``.

    Resource paths are ``/``-joined without a leading slash, e.g.
    ``gcompris/src/activities/erase/resource/gorilla.webp``, in tree order (rcc sorts
    siblings by name hash, so the order is stable for a given file but not alphabetical).

    Raises:
        ValueError: the file is not a Qt resource file, is truncated or garbled, or holds a
            zstd-compressed entry (the standard library cannot decompress zstd); the message
            names the file and, where it applies, the entry.
    """
    source = os.fspath(path)
    with open(source, "rb") as f:
        blob = f.read()
    r = _Reader(blob, source)
    if r.take(0, 4, "magic") != MAGIC:
        raise r.fail(f"not a Qt resource file (magic {blob[:4]!r}, expected {MAGIC!r})")
    version, tree_off, data_off, names_off = r.unpack("IIII", 4, "header")
    if version < 1 or version > 3:
        raise r.fail(f"unsupported Qt resource format version {version} (know 1 to 3)")
    entry_size = 14 if version == 1 else 22

    def name_at(offset: int) -> str:
        (length,) = r.unpack("H", names_off + offset, "name length")
        raw = r.take(names_off + offset + 6, 2 * length, "name")
        try:
            return raw.decode("utf-16-be")
        except UnicodeDecodeError as e:
            raise r.fail(f"garbled name at names offset {offset}: {e}") from None

    def entry(index: int) -> tuple[int, int, int, int]:
        """(name offset, flags, child count, first child index) or, for a file, (.., .., 0, data offset)."""
        raw = r.take(tree_off + index * entry_size, entry_size, f"tree entry {index}")
        name_off, flags = struct.unpack_from(">IH", raw)
        if flags & FLAG_DIRECTORY:
            count, first = struct.unpack_from(">II", raw, 6)
            return name_off, flags, count, first
        _country, _language, offset = struct.unpack_from(">HHI", raw, 6)
        return name_off, flags, 0, offset

    def payload(resource: str, flags: int, offset: int) -> bytes:
        (size,) = r.unpack("I", data_off + offset, f"data size of {resource}")
        data = r.take(data_off + offset + 4, size, f"data of {resource}")
        if flags & FLAG_COMPRESSED_ZSTD:
            raise r.fail(
                f"entry {resource} is zstd-compressed; the standard library cannot read it"
                " (rebuild the .rcc with `rcc --compress-algo zlib` or extract it with Qt)"
            )
        if flags & FLAG_COMPRESSED:
            if size < 4:
                raise r.fail(f"entry {resource}: compressed data shorter than its 4-byte length prefix")
            (expected,) = struct.unpack(">I", data[:4])
            try:
                data = zlib.decompress(data[4:])
            except zlib.error as e:
                raise r.fail(f"entry {resource}: corrupt zlib stream ({e})") from None
            if len(data) != expected:
                raise r.fail(f"entry {resource}: inflated to {len(data)} bytes, header says {expected}")
        return data

    # Iterative walk with a visited set: a garbled tree could otherwise loop forever.
    n_entries_max = max(0, (len(blob) - tree_off) // entry_size)
    _, root_flags, count, first = entry(0)
    if not root_flags & FLAG_DIRECTORY:
        raise r.fail("corrupt Qt resource file: tree entry 0 (the root) is not a directory")
    visited = {0}
    stack: list[tuple[str, int, int]] = [("", first, count)]
    while stack:
        prefix, first, count = stack.pop()
        if first + count > n_entries_max:
            raise r.fail(f"corrupt Qt resource file: children {first}..{first + count} lie past the tree")
        children = []
        for index in range(first, first + count):
            if index in visited:
                raise r.fail(f"corrupt Qt resource file: tree entry {index} is reached twice")
            visited.add(index)
            name_off, flags, a, b = entry(index)
            children.append((prefix + name_at(name_off), flags, a, b))
        # Push directories in reverse so they pop in tree order, after this level's files.
        subdirs = []
        for resource, flags, a, b in children:
            if flags & FLAG_DIRECTORY:
                subdirs.append((resource + "/", b, a))
            else:
                yield resource, payload(resource, flags, b)
        stack.extend(reversed(subdirs))


def read_rcc(path: str | os.PathLike[str]) -> dict[str, bytes]:
    """All files of a ``.rcc`` as ``{resource_path: bytes}``; see :func:`iter_rcc`."""
    return dict(iter_rcc(path))
