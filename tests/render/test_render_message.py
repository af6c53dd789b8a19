"""Every produced message parses back to what was rendered."""

from __future__ import annotations

import email
import email.policy
import re
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest
from render_fixtures import PERSONAS, make_config, make_slots

from mailer.compose.document import IssueDocument
from mailer.render.errors import CharsetError, RenderError
from mailer.render.message import (
    Recipient,
    RenderConfig,
    Slots,
    deliverable_charset,
    fill_html,
    fill_text,
    greeting_iso2022jp_problems,
    personalize,
    prepare_part,
)


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def display_name(msg: EmailMessage, name: str) -> str:
    """Return the display name of header `name`, decoded per RFC 2047 6.2.

    policy.default's address parser keeps the folding space between adjacent
    encoded words (CPython gh-128110, fixed after 3.13), so decode the raw
    phrase with the legacy decoder, which drops it as the RFC requires.
    """
    phrase = "".join(_raw_header(msg, name).rsplit("<", 1)[0].split("\r\n")).strip()
    if phrase.startswith('"'):
        return phrase[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return str(make_header(decode_header(phrase))) if phrase else ""


def _raw_header(msg: EmailMessage, name: str) -> str:
    for key, value in msg.raw_items():  # the raw folded value as received
        if key.lower() == name.lower():
            return str(value)
    raise KeyError(name)


def assert_wire_format(raw: bytes, *, seven_bit: bool) -> None:
    assert raw.endswith(b"\r\n")
    for line in raw.split(b"\r\n"):
        assert len(line) < 998
        assert b"\r" not in line and b"\n" not in line  # no bare CR or LF
        if seven_bit:
            assert all(b < 0x80 for b in line), line
    head = raw.split(b"\r\n\r\n", 1)[0]
    words = re.findall(rb"=\?[^?]+\?[BQ]\?[^?]*\?=", head)
    assert words and all(len(w) <= 75 for w in words)
    for line in head.split(b"\r\n"):
        assert len(line) <= 78 or b"List-Unsubscribe" in line or line.startswith(b" <"), line


@pytest.mark.parametrize("persona", ["html_utf8", "html_utf8_variant_name", "text_utf8_noname",
                                     "text_iso", "html_iso"])
def test_roundtrip(issue: IssueDocument, config: RenderConfig, slots: Slots, persona: str) -> None:
    who = PERSONAS[persona]
    prepared = prepare_part(issue=issue, part=issue.parts[0], config=config)
    raw = personalize(prepared, who, slots)
    msg = parse(raw)
    assert_wire_format(raw, seven_bit=True)  # base64 and ISO-2022-JP 7bit: all ASCII
    assert msg["Subject"] == issue.parts[0].subject
    assert display_name(msg, "From") == config.from_name
    assert msg["From"].addresses[0].addr_spec == config.from_address
    to = msg["To"].addresses[0]
    assert to.addr_spec == who.email
    assert display_name(msg, "To") == (f"{who.name} 様" if who.name else "")
    assert msg["Message-ID"] == slots.message_id
    assert msg["Date"].datetime == slots.date
    assert msg["MIME-Version"] == "1.0"
    assert display_name(msg, "List-Id") == config.list_name
    assert msg["List-Id"].endswith(f"<{config.list_id}>")
    assert msg["List-Unsubscribe"] == f"<{slots.unsubscribe_url}>, <{slots.unsubscribe_mailto}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = fill_text(prepared, who, slots)
    if who.format == "html":
        assert msg.get_content_type() == "multipart/alternative"
        kinds = [p.get_content_type() for p in msg.iter_parts()]
        assert kinds == ["text/plain", "text/html"]
        plain, html = msg.iter_parts()
        assert isinstance(html, EmailMessage)
        assert html.get_content_charset() == "utf-8"
        assert html["Content-Transfer-Encoding"] == "base64"
        assert html.get_content().replace("\r\n", "\n") == fill_html(prepared, who, slots)
    else:
        assert msg.get_content_type() == "text/plain"
        plain = msg
    assert isinstance(plain, EmailMessage)
    assert plain.get_content_charset() == who.charset
    assert plain["Content-Transfer-Encoding"] == ("7bit" if who.charset == "iso-2022-jp"
                                                  else "base64")
    assert plain.get_content().replace("\r\n", "\n") == text
    assert not msg.defects and all(not p.defects for p in msg.walk())
    assert not list(msg.iter_attachments())


def test_iso2022jp_bytes_and_decoding(issue: IssueDocument, config: RenderConfig,
                                      slots: Slots) -> None:
    who = PERSONAS["text_iso"]
    prepared = prepare_part(issue=issue, part=issue.parts[0], config=config)
    raw = personalize(prepared, who, slots)
    head, body = raw.split(b"\r\n\r\n", 1)
    assert b"=?ISO-2022-JP?B?" in head
    # RFC 1468: each line back in ASCII before CRLF; the body decodes to the text.
    for line in body.split(b"\r\n"):
        if b"\x1b$B" in line:
            assert line.rfind(b"\x1b(B") > line.rfind(b"\x1b$B")
    assert body.decode("iso2022_jp").replace("\r\n", "\n") == fill_text(prepared, who, slots)


def test_greeting_and_personal_urls_are_per_recipient(issue: IssueDocument,
                                                      config: RenderConfig) -> None:
    prepared = prepare_part(issue=issue, part=issue.parts[0], config=config)
    a = parse(personalize(prepared, PERSONAS["html_utf8"], make_slots(1)))
    b = parse(personalize(prepared, PERSONAS["text_utf8_noname"], make_slots(2)))
    a_text = a.get_body(("plain",))
    b_text = b.get_body(("plain",))
    assert a_text is not None and b_text is not None
    assert "高橋 誠 様" in a_text.get_content()
    assert "様\n" not in b_text.get_content().split("─")[0]
    assert make_slots(1).unsubscribe_url in a_text.get_content()
    assert make_slots(2).preferences_url in b_text.get_content()
    html = a.get_body(("html",))
    assert html is not None
    assert make_slots(1).unsubscribe_url.replace("&", "&amp;") in html.get_content()


def test_test_send_prefix(issue: IssueDocument, config: RenderConfig) -> None:
    prepared = prepare_part(issue=issue, part=issue.parts[0], config=config)
    s = make_slots()
    test_slots = Slots(**{**s.__dict__, "test": True})
    assert parse(personalize(prepared, PERSONAS["html_utf8"], test_slots))["Subject"] \
        .startswith("[テスト送信] ")


def test_iso2022jp_problem_part_prepares_but_refuses(variant_issue: IssueDocument,
                                                     config: RenderConfig,
                                                     slots: Slots) -> None:
    prepared = prepare_part(issue=variant_issue, part=variant_issue.parts[0], config=config)
    chars = {p.char for p in prepared.iso2022jp_problems}
    assert {"髙", "﨑", "①", "～"} <= chars
    # UTF-8 recipients still get it, names intact.
    msg = parse(personalize(prepared, PERSONAS["html_utf8"], slots))
    body = msg.get_body(("plain",))
    assert body is not None and "髙橋" in body.get_content() and "山﨑" in body.get_content()
    with pytest.raises(CharsetError, match="ISO-2022-JP"):
        personalize(prepared, PERSONAS["text_iso"], slots)


def test_iso2022jp_recipient_name_that_cannot_be_encoded(issue: IssueDocument,
                                                         config: RenderConfig,
                                                         slots: Slots) -> None:
    prepared = prepare_part(issue=issue, part=issue.parts[0], config=config)
    who = Recipient(email="x@example.lg.jp", name="髙橋 誠", charset="iso-2022-jp")
    with pytest.raises(CharsetError, match="髙"):
        personalize(prepared, who, slots)


def test_deliverable_charset_falls_back_to_utf8_only_when_iso2022jp_cannot_carry_it(
        issue: IssueDocument, variant_issue: IssueDocument, config: RenderConfig) -> None:
    clean = prepare_part(issue=issue, part=issue.parts[0], config=config)
    variant = prepare_part(issue=variant_issue, part=variant_issue.parts[0], config=config)
    iso = Recipient(email="x@example.lg.jp", name="高橋 誠", charset="iso-2022-jp")
    assert deliverable_charset(clean, iso) == "iso-2022-jp"
    assert deliverable_charset(clean, Recipient(email="x@example.lg.jp")) == "utf-8"
    # the name (or the honorific), or the part itself
    assert deliverable_charset(clean, Recipient(email="x@example.lg.jp", name="髙橋 誠",
                                                charset="iso-2022-jp")) == "utf-8"
    assert deliverable_charset(clean, Recipient(email="x@example.lg.jp", name="高橋",
                                                honorific="様①", charset="iso-2022-jp")) == "utf-8"
    assert deliverable_charset(variant, iso) == "utf-8"
    assert [p.char for p in greeting_iso2022jp_problems("山﨑 ～子", "様")] == ["﨑", "～"]
    assert greeting_iso2022jp_problems("", "様①") == []  # no name, no greeting


@pytest.mark.parametrize("bad", [
    {"message_id": "<a@b>\r\nBcc: x@evil"},
    {"unsubscribe_url": "https://x/u\r\nBcc: x@evil"},
])
def test_header_injection_refused(issue: IssueDocument, config: RenderConfig,
                                  bad: dict[str, str]) -> None:
    prepared = prepare_part(issue=issue, part=issue.parts[0], config=config)
    s = make_slots()
    with pytest.raises(RenderError):
        personalize(prepared, PERSONAS["html_utf8"], Slots(**{**s.__dict__, **bad}))
    with pytest.raises(RenderError):
        personalize(prepared, Recipient(email="a@b\r\nBcc: c@d"), s)


def test_unknown_format_and_charset(issue: IssueDocument, config: RenderConfig,
                                    slots: Slots) -> None:
    prepared = prepare_part(issue=issue, part=issue.parts[0], config=config)
    with pytest.raises(RenderError):
        personalize(prepared, Recipient(email="a@b.jp", format="pdf"), slots)
    with pytest.raises(RenderError):
        personalize(prepared, Recipient(email="a@b.jp", charset="shift_jis"), slots)


def test_ascii_names_with_specials_are_quoted(issue: IssueDocument, config: RenderConfig,
                                              slots: Slots) -> None:
    prepared = prepare_part(issue=issue, part=issue.parts[0], config=config)
    who = Recipient(email="a@b.jp", name="Smith, John", honorific="")
    msg = parse(personalize(prepared, who, slots))
    assert msg["To"].addresses[0].display_name == "Smith, John"
    assert display_name(msg, "To") == "Smith, John"


def test_long_names_fold(issue: IssueDocument, config: RenderConfig, slots: Slots) -> None:
    prepared = prepare_part(issue=issue, part=issue.parts[0], config=config)
    name = "長谷川" * 12
    raw = personalize(prepared, Recipient(email="long.name@example.lg.jp", name=name), slots)
    assert_wire_format(raw, seven_bit=True)
    assert display_name(parse(raw), "To") == f"{name} 様"


def _all_parts() -> list[tuple[str, IssueDocument, int]]:
    from test_render_text import PARTS

    return [(name, iss, iss.parts.index(part)) for name, iss, part in PARTS]


@pytest.mark.parametrize(("name", "issue_doc", "index"), _all_parts(),
                         ids=[p[0] for p in _all_parts()])
@pytest.mark.parametrize("persona", ["html_utf8", "text_utf8_noname", "html_iso"])
def test_every_part_roundtrips(name: str, issue_doc: IssueDocument, index: int,
                               persona: str) -> None:
    config = make_config()
    prepared = prepare_part(issue=issue_doc, part=issue_doc.parts[index], config=config)
    who, slots = PERSONAS[persona], make_slots(7)
    if who.charset == "iso-2022-jp" and prepared.iso2022jp_problems:
        with pytest.raises(CharsetError):
            personalize(prepared, who, slots)
        return
    raw = personalize(prepared, who, slots)
    assert_wire_format(raw, seven_bit=True)
    msg = parse(raw)
    assert msg["Subject"] == issue_doc.parts[index].subject
    plain = msg.get_body(("plain",))
    assert plain is not None
    assert plain.get_content().replace("\r\n", "\n") == fill_text(prepared, who, slots)
    if who.format == "html":
        html = msg.get_body(("html",))
        assert html is not None
        assert html.get_content().replace("\r\n", "\n") == fill_html(prepared, who, slots)
