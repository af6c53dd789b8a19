"""Image files referenced by an issue: where they may live and how big they are.

A figure's `src` is a path relative to the issue folder (images/slide6.png).
The file must exist inside the folder: the renderer publishes it under the
base URL, and mail never carries attachments.
"""

from __future__ import annotations

import struct
from pathlib import Path, PurePosixPath

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif")


def check_image_src(folder: Path, src: str) -> tuple[str | None, Path | None]:
    """Return (problem, resolved path): exactly one of the two is None."""
    if "://" in src or src.startswith(("/", "\\", "data:")):
        return (
            f"image src must be a file in the issue folder (e.g. images/x.png), got {src!r}",
            None,
        )
    rel = PurePosixPath(src)
    if ".." in rel.parts:
        return f"image src must stay inside the issue folder, got {src!r}", None
    if rel.suffix.lower() not in IMAGE_SUFFIXES:
        return f"image must be PNG, JPEG or GIF, got {src!r}", None
    path = folder.joinpath(*rel.parts)
    if not path.is_file():
        return f"image not found: {src}", None
    return None, path


def image_size(path: Path) -> tuple[int, int] | None:
    """Return (width, height) read from a PNG, GIF or JPEG header, or None."""
    with path.open("rb") as fh:
        head = fh.read(32)
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            return int(width), int(height)
        if head[:6] in (b"GIF87a", b"GIF89a"):
            width, height = struct.unpack("<HH", head[6:10])
            return int(width), int(height)
        if head[:2] == b"\xff\xd8":
            fh.seek(2)
            return _jpeg_size(fh.read())
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 0
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + length
    return None
