"""Encoded bodies with holes: filled per recipient by concatenating bytes.

A body is rendered once with ASCII slot markers, encoded once, and cut at the
markers. Filling a hole costs a few small encodes and one join.

Base64 bodies: base64 works on 3-byte groups, so a hole of any length would
shift every group after it. Each static piece is therefore pre-encoded for the
three possible alignments (0, 1 or 2 of its first bytes taken by the dynamic
chunk before it); at fill time only "tail of previous piece + slot value + up
to two bytes of the next piece" is encoded. Every encoded chunk except the last
is a multiple of 3 bytes, so every base64 line is a multiple of 4 characters
and decoders that work line by line are fine too. Lines are at most 76
characters (RFC 2045), of uneven length, which the RFC allows.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass

from mailer.render.context import slot_marker

B64_LINE = 76  # characters per base64 line
_RAW_LINE = B64_LINE // 4 * 3  # bytes per full base64 line


def b64_lines(data: bytes) -> bytes:
    """Return `data` base64-encoded in CRLF-terminated lines of at most 76 characters."""
    if not data:
        return b""
    enc = binascii.b2a_base64(data, newline=False)
    if len(enc) <= B64_LINE:
        return enc + b"\r\n"
    return b"\r\n".join(enc[i:i + B64_LINE] for i in range(0, len(enc), B64_LINE)) + b"\r\n"


def split_markers(encoded: bytes, names: tuple[str, ...]) -> tuple[list[bytes], list[str]]:
    """Cut `encoded` at the slot markers it contains; return (pieces, slot names).

    There is always one more piece than slot names. Markers are ASCII, so they
    appear verbatim in UTF-8 and in ISO-2022-JP (where the encoder is in ASCII
    mode around them, so every piece starts and ends in ASCII mode).
    """
    found: list[tuple[int, str]] = []
    for name in names:
        marker = slot_marker(name).encode("ascii")
        start = 0
        while (pos := encoded.find(marker, start)) >= 0:
            found.append((pos, name))
            start = pos + len(marker)
    found.sort()
    pieces: list[bytes] = []
    slots: list[str] = []
    cursor = 0
    for pos, name in found:
        pieces.append(encoded[cursor:pos])
        slots.append(name)
        cursor = pos + len(slot_marker(name))
    pieces.append(encoded[cursor:])
    return pieces, slots


@dataclass(frozen=True)
class PlainBody:
    """A 7bit/8bit body: pieces joined with the slot values between them."""

    pieces: tuple[bytes, ...]
    slots: tuple[str, ...]

    @classmethod
    def build(cls, encoded: bytes, names: tuple[str, ...]) -> PlainBody:
        pieces, slots = split_markers(encoded, names)
        return cls(tuple(pieces), tuple(slots))

    def fill(self, values: Mapping[str, bytes]) -> bytes:
        """Return the body with every hole filled from `values` (already encoded)."""
        out = [self.pieces[0]]
        for name, piece in zip(self.slots, self.pieces[1:], strict=True):
            out.append(values[name])
            out.append(piece)
        return b"".join(out)


@dataclass(frozen=True)
class _Piece:
    raw: bytes
    # For alignment k (bytes of `raw` consumed by the chunk before it):
    # the encoded 3-byte-aligned middle, and the raw leftover (< 3 bytes).
    mid: tuple[bytes, bytes, bytes]
    tail: tuple[bytes, bytes, bytes]


def _piece(raw: bytes) -> _Piece:
    mids: list[bytes] = []
    tails: list[bytes] = []
    for k in range(3):
        rest = raw[k:]
        cut = len(rest) - len(rest) % 3
        mids.append(b64_lines(rest[:cut]))
        tails.append(rest[cut:])
    return _Piece(raw, (mids[0], mids[1], mids[2]), (tails[0], tails[1], tails[2]))


@dataclass(frozen=True)
class Base64Body:
    """A base64 body whose holes are filled without re-encoding the static text."""

    pieces: tuple[_Piece, ...]
    slots: tuple[str, ...]

    @classmethod
    def build(cls, raw: bytes, names: tuple[str, ...]) -> Base64Body:
        """`raw` is the unencoded body (CRLF line ends) containing slot markers."""
        pieces, slots = split_markers(raw, names)
        return cls(tuple(_piece(p) for p in pieces), tuple(slots))

    def fill(self, values: Mapping[str, bytes]) -> bytes:
        """Return the base64 lines of the body with every hole filled from `values`."""
        first = self.pieces[0]
        out = [first.mid[0]]
        carry = first.tail[0]
        for name, piece in zip(self.slots, self.pieces[1:], strict=True):
            chunk = carry + values[name]
            k = -len(chunk) % 3
            if len(piece.raw) < 3:
                carry = chunk + piece.raw
                continue
            out.append(b64_lines(chunk + piece.raw[:k]))
            out.append(piece.mid[k])
            carry = piece.tail[k]
        out.append(b64_lines(carry))
        return b"".join(out)
