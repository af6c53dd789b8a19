"""Tests for mailer.render.charset: ISO-2022-JP preflight, body and headers."""

from __future__ import annotations

import email
import email.header
import email.policy
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.render.charset import (
    CharProblem,
    UnencodableError,
    encode_header_value,
    encode_iso2022jp_body,
    iso2022jp_problems,
)

# Each of these is outside Python's iso-2022-jp codec (checked per character).
UNENCODABLE = ["髙", "﨑", "①", "Ⅲ", "㈱", "㎡", "～", "－", "—", "\u00a0", "😀"]
# Look-alikes that ISO-2022-JP does carry.
ENCODABLE = ["高", "崎", "〜", "−", "―", "ー", "※", "○", "◎", "・", "「", "」", "\u3000", "¥"]

TITLE = "総務部長兼情報システム担当部長(CIO補佐、CDO、CISO補佐)"
ENCODED_WORD = re.compile(r"=\?[^?]+\?[BbQq]\?[^?]*\?=")


def ends_in_ascii(raw: bytes) -> bool:
    """True if the last escape sequence in `raw`, if any, is ESC ( B (ASCII)."""
    last = raw.rfind(b"\x1b")
    return last < 0 or raw[last : last + 3] == b"\x1b(B"


@pytest.mark.parametrize("char", UNENCODABLE)
def test_listed_characters_really_are_unencodable(char: str) -> None:
    with pytest.raises(UnicodeEncodeError):
        char.encode("iso-2022-jp")
    assert [p.char for p in iso2022jp_problems(char)] == [char]


@pytest.mark.parametrize("char", ENCODABLE)
def test_lookalikes_are_encodable(char: str) -> None:
    assert iso2022jp_problems(char) == []


def test_problems_have_line_column_and_names() -> None:
    text = "第4回 座談会\n髙橋 誠(①CIO)\r\n\r\n山﨑～Ⅲ㈱㎡－—\u00a0😀"
    problems = iso2022jp_problems(text)
    got = [(p.char, p.line, p.column) for p in problems]
    assert got == [
        ("髙", 2, 1),
        ("①", 2, 6),
        ("﨑", 4, 2),
        ("～", 4, 3),
        ("Ⅲ", 4, 4),
        ("㈱", 4, 5),
        ("㎡", 4, 6),
        ("－", 4, 7),
        ("—", 4, 8),
        ("\u00a0", 4, 9),
        ("😀", 4, 10),
    ]
    first = problems[0]
    assert first == CharProblem(
        char="髙",
        codepoint="U+9AD9",
        name="CJK UNIFIED IDEOGRAPH-9AD9",
        line=2,
        column=1,
        suggestion="髙 → 高",
    )
    by_char = {p.char: p for p in problems}
    assert by_char["～"].suggestion == "～ → 〜"
    assert by_char["①"].suggestion == "① → (1)"
    assert by_char["㈱"].suggestion == "㈱ → (株)"
    assert by_char["😀"].suggestion is None
    assert by_char["😀"].codepoint == "U+1F600"


def test_suggestions_are_never_applied() -> None:
    with pytest.raises(UnencodableError) as info:
        encode_iso2022jp_body("髙橋 誠")
    assert [p.char for p in info.value.problems] == ["髙"]
    assert "U+9AD9" in str(info.value)


def test_escape_and_shift_controls_are_problems() -> None:
    problems = iso2022jp_problems("a\x1bb\x0ec\x0fd\te")
    assert [(p.codepoint, p.column) for p in problems] == [
        ("U+001B", 2),
        ("U+000E", 4),
        ("U+000F", 6),
    ]


def test_body_round_trips_with_crlf() -> None:
    text = f"第4回 ○○市×都CIO座談会 part1\n\n・高橋 誠({TITLE})\n※CIO:最高情報責任者\n¥100\n"
    body = encode_iso2022jp_body(text)
    assert body.decode("iso-2022-jp") == text.replace("\n", "\r\n")
    assert all(b < 0x80 for b in body)
    for line in body.split(b"\r\n"):
        assert len(line) < 998
        assert ends_in_ascii(line), line
    assert b"\r\n" in body and b"\n" not in body.replace(b"\r\n", b"")


def test_body_lines_each_return_to_ascii() -> None:
    body = encode_iso2022jp_body("漢字で終わる\nASCII\n漢字")
    assert body.split(b"\r\n") == [
        "漢字で終わる".encode("iso-2022-jp"),
        b"ASCII",
        "漢字".encode("iso-2022-jp"),
    ]
    assert body.split(b"\r\n")[0].endswith(b"\x1b(B")


def test_body_line_too_long_is_refused() -> None:
    ok = "漢" * 400  # 3 + 800 + 3 bytes
    assert len(encode_iso2022jp_body(ok)) < 998
    with pytest.raises(ValueError, match="2 行目"):
        encode_iso2022jp_body("短い\n" + "漢" * 500)


def test_body_is_not_quoted_printable() -> None:
    text = "漢" * 300  # long enough that set_content would switch to QP
    body = encode_iso2022jp_body(text)
    assert b"=1B" not in body and body.startswith(b"\x1b$B")


def test_body_reports_all_problems() -> None:
    with pytest.raises(UnencodableError) as info:
        encode_iso2022jp_body("①\n②\n髙")
    assert [(p.line, p.column) for p in info.value.problems] == [(1, 1), (2, 1), (3, 1)]


jis_text = st.text(
    alphabet=st.sampled_from(
        list("あいうえおアイウエオ漢字情報総務部長高崎〜−―ー※○「」、。 \u3000abcXYZ019()¥\t\n")
    ),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(text=jis_text)
def test_body_round_trip_property(text: str) -> None:
    body = encode_iso2022jp_body(text)
    assert body.decode("iso-2022-jp") == text.replace("\n", "\r\n")
    assert max(body, default=0) < 0x80
    for line in body.split(b"\r\n"):
        assert len(line) < 998
        assert ends_in_ascii(line), line


# --- headers ------------------------------------------------------------------


def parse_subject(value: str) -> str:
    raw = b"Subject: " + value.encode("ascii") + b"\r\n\r\nbody\r\n"
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return str(msg["Subject"])


def check_header(value: str, charset: str, name_len: int = 9) -> str:
    encoded = encode_header_value(value, charset, header_name_len=name_len)
    assert encoded.isascii()
    lines = encoded.split("\r\n")
    assert name_len + len(lines[0]) <= 78
    for line in lines[1:]:
        assert line.startswith(" ") and len(line) <= 78
    for word in ENCODED_WORD.findall(encoded):
        assert len(word) <= 75
    if name_len == 9:
        assert parse_subject(encoded) == value
    return encoded


@pytest.mark.parametrize("charset", ["utf-8", "iso-2022-jp"])
def test_subject_round_trips(charset: str) -> None:
    subject = "【第4回】○○市×都CIO座談会 part1 ―自治体DXの推進体制と人材育成について―"
    encoded = check_header(subject, charset)
    assert encoded.count("\r\n ") >= 1


def test_iso2022jp_words_decode_on_their_own() -> None:
    encoded = check_header("総務部長兼情報システム担当部長 高橋 誠 " * 4, "iso-2022-jp")
    words = ENCODED_WORD.findall(encoded)
    assert len(words) > 2
    for word in words:
        assert word.startswith("=?ISO-2022-JP?B?")
        parts = email.header.decode_header(word)
        payload, cs = parts[0]
        assert isinstance(payload, bytes) and cs == "iso-2022-jp"
        payload.decode("iso-2022-jp")  # decodes alone
        assert ends_in_ascii(payload), payload


def test_utf8_words_hold_whole_characters() -> None:
    encoded = check_header("😀髙橋﨑" * 20, "utf-8")
    for word in ENCODED_WORD.findall(encoded):
        payload, _ = email.header.decode_header(word)[0]
        assert isinstance(payload, bytes)
        payload.decode("utf-8")  # strict: no cut multibyte sequence


def test_ascii_is_unchanged() -> None:
    assert encode_header_value("Monthly CIO Forum, part 1", "utf-8") == "Monthly CIO Forum, part 1"
    assert encode_header_value("Monthly", "iso-2022-jp") == "Monthly"


def test_header_refuses_crlf_and_unencodable() -> None:
    with pytest.raises(ValueError):
        encode_header_value("件名\r\nBcc: x@example.com", "utf-8")
    with pytest.raises(UnencodableError):
        encode_header_value("髙橋 様", "iso-2022-jp")
    with pytest.raises(ValueError):
        encode_header_value("件名", "shift_jis")


def test_long_header_name_leaves_less_room() -> None:
    check_header("山崎 由美 様（東京都デジタルサービス局）", "iso-2022-jp", name_len=40)
    check_header("山崎 由美 様（東京都デジタルサービス局）", "utf-8", name_len=40)


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=120).filter(lambda v: "\r" not in v and "\n" not in v))
def test_utf8_header_property(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return
    if value.isascii():
        assert encode_header_value(value, "utf-8") == value
        return
    check_header(value, "utf-8")


@settings(max_examples=200, deadline=None)
@given(value=jis_text.map(lambda v: v.replace("\n", " ")).filter(lambda v: not v.isascii()))
def test_iso2022jp_header_property(value: str) -> None:
    check_header(value, "iso-2022-jp")
