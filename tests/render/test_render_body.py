"""Byte templates: filling holes gives exactly the encoding of the filled text."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.render.body import Base64Body, PlainBody, b64_lines
from mailer.render.context import slot_marker

NAMES = ("greeting", "unsubscribe_url", "preferences_url")
piece = st.binary(max_size=300).filter(lambda b: b"@@" not in b)
value = st.binary(max_size=120)


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(piece, min_size=1, max_size=5), values=st.lists(value, min_size=4,
                                                                         max_size=4),
       slot_ids=st.lists(st.integers(0, 2), min_size=4, max_size=4))
def test_base64_fill_equals_encoding_of_filled(pieces: list[bytes], values: list[bytes],
                                               slot_ids: list[int]) -> None:
    names = [NAMES[i] for i in slot_ids[: len(pieces) - 1]]
    template = pieces[0] + b"".join(slot_marker(n).encode() + p
                                    for n, p in zip(names, pieces[1:], strict=True))
    mapping = {n: values[i] for i, n in enumerate(NAMES)}
    expected = pieces[0] + b"".join(mapping[n] + p for n, p in zip(names, pieces[1:],
                                                                      strict=True))
    body = Base64Body.build(template, NAMES)
    out = body.fill(mapping)
    assert base64.b64decode(out.replace(b"\r\n", b"")) == expected
    lines = out.split(b"\r\n")
    assert lines[-1] == b""
    for line in lines[:-1]:
        assert 0 < len(line) <= 76
        # Each line decodes on its own: line-by-line decoders are fine.
        assert len(line) % 4 == 0
    assert PlainBody.build(template, NAMES).fill(mapping) == expected


def test_b64_lines() -> None:
    assert b64_lines(b"") == b""
    data = bytes(range(256)) * 3
    out = b64_lines(data)
    assert all(len(line) <= 76 for line in out.split(b"\r\n"))
    assert base64.b64decode(out.replace(b"\r\n", b"")) == data
