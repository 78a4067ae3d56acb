"""The Qt resource reader on files the test writes itself, so no Qt is needed."""

from __future__ import annotations

import struct
import zlib

import pytest

from colorize.data.rcc import FLAG_COMPRESSED, FLAG_COMPRESSED_ZSTD, FLAG_DIRECTORY, iter_rcc, read_rcc


def write_rcc(path, files: dict[str, bytes], *, flags: dict[str, int] | None = None, version: int = 2) -> bytes:
    """A minimal ``rcc --binary`` writer: header, names, data, then the breadth-first tree.

    ``flags`` maps a file path to its entry flags; FLAG_COMPRESSED stores it in qCompress form.
    """
    flags = flags or {}
    tree: dict = {}
    for resource in files:
        *dirs, leaf = resource.split("/")
        node = tree
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = resource

    header_size = 20 if version < 3 else 24
    names, name_offsets = bytearray(), {}
    data_blob, data_offsets = bytearray(), {}

    def name_offset(name: str) -> int:
        if name not in name_offsets:
            name_offsets[name] = len(names)
            names.extend(struct.pack(">HI", len(name), 0) + name.encode("utf-16-be"))
        return name_offsets[name]

    for resource, data in files.items():
        if flags.get(resource, 0) & FLAG_COMPRESSED:
            data = struct.pack(">I", len(data)) + zlib.compress(data)
        data_offsets[resource] = len(data_blob)
        data_blob.extend(struct.pack(">I", len(data)) + data)

    # Breadth-first, children contiguous: entry 0 is the root, as rcc lays it out.
    entries: list[tuple[str, object]] = [("", tree)]
    packed = []
    i = 0
    while i < len(entries):
        name, node = entries[i]
        name_off = name_offset(name) if i else 0
        if isinstance(node, dict):
            first = len(entries)
            entries.extend(sorted(node.items()))
            body = struct.pack(">IHII", name_off, FLAG_DIRECTORY, len(node), first)
        else:
            body = struct.pack(">IHHHI", name_off, flags.get(node, 0), 0, 0, data_offsets[node])
        packed.append(body + (struct.pack(">Q", 0) if version >= 2 else b""))
        i += 1

    names_off = header_size
    data_off = names_off + len(names)
    tree_off = data_off + len(data_blob)
    header = b"qres" + struct.pack(">IIII", version, tree_off, data_off, names_off)
    if version >= 3:
        header += struct.pack(">I", 0)
    blob = header + bytes(names) + bytes(data_blob) + b"".join(packed)
    path.write_bytes(blob)
    return blob


FILES = {
    "gcompris/src/activities/erase/resource/gorilla.webp": b"RIFF....WEBPVP8 " + bytes(range(256)) * 4,
    "gcompris/src/activities/erase/resource/README": "licence: CC-BY-SA ✓".encode(),
    "gcompris/src/activities/erase/Erase.qml": b"import QtQuick 2.12\n" * 50,
    "top.txt": b"",
}
COMPRESSED = {"gcompris/src/activities/erase/resource/gorilla.webp": FLAG_COMPRESSED}


@pytest.mark.parametrize("version", [1, 2, 3])
def test_round_trip(tmp_path, version):
    path = tmp_path / "erase.rcc"
    write_rcc(path, FILES, flags=COMPRESSED, version=version)
    got = list(iter_rcc(path))
    assert sorted(name for name, _ in got) == sorted(FILES)
    assert dict(got) == FILES
    assert read_rcc(str(path)) == FILES


def test_compressed_entry_is_actually_stored_compressed(tmp_path):
    path = tmp_path / "erase.rcc"
    blob = write_rcc(path, FILES, flags=COMPRESSED)
    assert bytes(range(256)) * 4 not in blob  # the writer compressed it, so the reader inflated it
    assert FILES["gcompris/src/activities/erase/Erase.qml"] in blob  # and this one is plain


def test_every_truncation_raises_value_error_naming_the_file(tmp_path):
    blob = write_rcc(tmp_path / "full.rcc", FILES, flags=COMPRESSED)
    path = tmp_path / "cut.rcc"
    for size in range(len(blob)):
        path.write_bytes(blob[:size])
        with pytest.raises(ValueError, match="cut.rcc"):
            list(iter_rcc(path))


def test_not_a_resource_file(tmp_path):
    path = tmp_path / "photo.webp"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WEBP")
    with pytest.raises(ValueError, match=r"photo\.webp.*not a Qt resource file"):
        list(iter_rcc(path))


def test_garbled_offsets_raise_value_error(tmp_path):
    blob = bytearray(write_rcc(tmp_path / "ok.rcc", FILES))
    path = tmp_path / "garbled.rcc"
    for start in range(4, 20, 4):  # each header offset in turn pointed far past the end
        bad = blob.copy()
        bad[start : start + 4] = struct.pack(">I", 0x7FFFFFF0)
        path.write_bytes(bytes(bad))
        with pytest.raises(ValueError, match="garbled.rcc"):
            list(iter_rcc(path))


def test_directory_cycle_raises_instead_of_looping(tmp_path):
    path = tmp_path / "loop.rcc"
    blob = bytearray(write_rcc(path, {"a/b.txt": b"x"}))
    (tree_off,) = struct.unpack(">I", blob[8:12])
    # Entry 1 is directory "a"; point its first child back at the root.
    struct.pack_into(">I", blob, tree_off + 22 + 10, 0)
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"loop\.rcc.*reached twice"):
        list(iter_rcc(path))


def test_zstd_entry_raises_clear_error_naming_it(tmp_path):
    path = tmp_path / "zstd.rcc"
    write_rcc(path, {"res/photo.webp": b"\x28\xb5\x2f\xfd fake zstd"}, flags={"res/photo.webp": FLAG_COMPRESSED_ZSTD})
    with pytest.raises(ValueError, match=r"zstd\.rcc.*res/photo\.webp.*zstd"):
        list(iter_rcc(path))


def test_corrupt_zlib_stream_raises_value_error(tmp_path):
    path = tmp_path / "bad_zlib.rcc"
    blob = bytearray(write_rcc(path, {"a.bin": b"payload" * 20}, flags={"a.bin": FLAG_COMPRESSED}))
    (data_off,) = struct.unpack(">I", blob[12:16])
    blob[data_off + 8 : data_off + 12] = b"\xff\xff\xff\xff"  # inside the zlib stream
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"bad_zlib\.rcc.*a\.bin"):
        list(iter_rcc(path))
