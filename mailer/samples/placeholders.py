"""Placeholder PNG images for the sample issue, written with zlib and struct.

Run `python -m mailer.samples.placeholders` to regenerate them. Each image is a
flat colour with a darker band, so a broken or missing image is easy to spot.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from mailer.samples import SAMPLE_ISSUE_DIR

# name: (width, height, background RGB, band RGB)
PLACEHOLDERS: dict[str, tuple[int, int, tuple[int, int, int], tuple[int, int, int]]] = {
    "header-part1.png": (600, 200, (0x1F, 0x4E, 0x8C), (0x16, 0x37, 0x63)),
    "header-part2.png": (600, 200, (0x2E, 0x7D, 0x5B), (0x20, 0x58, 0x40)),
    "slide01.png": (480, 270, (0xEE, 0xF2, 0xF7), (0x1F, 0x4E, 0x8C)),
    "slide02.png": (480, 270, (0xF7, 0xF1, 0xE8), (0xB3, 0x5C, 0x1E)),
    "slide03.png": (480, 270, (0xEE, 0xF7, 0xF0), (0x2E, 0x7D, 0x5B)),
    "photo01.png": (480, 320, (0xD9, 0xD9, 0xD9), (0x80, 0x80, 0x80)),
}


def png_bytes(width: int, height: int, background: tuple[int, ...], band: tuple[int, ...]) -> bytes:
    """Return a valid 8-bit RGB PNG of the given size."""
    rows = bytearray()
    top, bottom = height // 3, height // 3 + max(height // 8, 1)
    for y in range(height):
        colour = bytes(band if top <= y < bottom else background)
        rows += b"\x00" + colour * width  # filter type 0 for each scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def write_placeholders(folder: Path = SAMPLE_ISSUE_DIR / "images") -> list[Path]:
    """Write every placeholder into `folder`; return the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (width, height, background, band) in PLACEHOLDERS.items():
        path = folder / name
        path.write_bytes(png_bytes(width, height, background, band))
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_placeholders():
        print(written_path)
