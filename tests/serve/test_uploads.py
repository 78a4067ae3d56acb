"""Uploads: names fit to show, limits while streaming, nothing left of a refused file."""

from __future__ import annotations

import asyncio

import pytest

from colorize.serve.uploads import PhotoStore, UploadLimits, UploadRejected, display_name


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("photo.jpg", "photo.jpg"),
        ("C:\\Users\\me\\Pictures\\granny.png", "granny.png"),
        ("../../etc/passwd", "passwd"),
        ("bad\x00name\n.jpg", "badname.jpg"),
        ("", "photo"),
        (None, "photo"),
    ],
)
def test_display_name(raw, shown):
    assert display_name(raw) == shown


def test_long_names_are_shortened_keeping_both_ends():
    name = display_name("a" * 300 + ".jpeg")
    assert len(name) == 200 and name.startswith("aaa") and name.endswith("a.jpeg")


def chunks(*parts: bytes):
    async def generate():
        for part in parts:
            yield part

    return generate()


def test_receive_stops_at_the_byte_limit_and_leaves_nothing(tmp_path):
    with PhotoStore(UploadLimits(max_bytes=10), parent=str(tmp_path)) as store:
        with pytest.raises(UploadRejected, match="big.jpg: over 0.0 MB") as refused:
            asyncio.run(store.receive("big.jpg", chunks(b"123456", b"789012"), declared_size=None))
        assert refused.value.status == 413
        with pytest.raises(UploadRejected, match="declared.jpg: 0.0 MB"):
            asyncio.run(store.receive("declared.jpg", chunks(b"1"), declared_size=11))
        assert list(store.folder.iterdir()) == []
        folder = asyncio.run(store.receive("ok.jpg", chunks(b"12345", b"67890"), declared_size=10))
        assert (folder / "upload").read_bytes() == b"1234567890"
    assert not store.folder.exists()


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        UploadLimits(max_bytes=0)
    assert UploadLimits().describe() == "50 MB and 100 megapixels"
