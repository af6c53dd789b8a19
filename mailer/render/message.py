"""Build the bytes of one delivery. Pure: documents and values in, bytes out.

`prepare_part` does the expensive work once per part: both bodies rendered,
CSS inlined, encoded for UTF-8 (and ISO-2022-JP when the part allows it) and
cut into byte templates. `personalize` only fills the per-recipient slots (To,
Date, Message-ID, unsubscribe/preferences URLs, greeting) and concatenates.

Transfer encodings:
- UTF-8 bodies are base64. It needs no 8BITMIME on any hop, has no line-length
  risk, and sanitizing gateways and old clients decode it reliably; 8bit can be
  bounced or mangled by relays without 8BITMIME, and quoted-printable triples
  the size of Japanese text and is what legacy readers mishandle.
- ISO-2022-JP text bodies are 7bit per RFC 1468 (never quoted-printable).
  The HTML alternative for those recipients stays UTF-8 base64: HTML declares
  its charset, every client that renders HTML reads UTF-8, and it keeps one
  HTML template for everybody.
"""

from __future__ import annotations

import hashlib
import html as html_lib
from dataclasses import dataclass, field

from mailer.compose.document import IssueDocument, PartDocument
from mailer.i18n import _
from mailer.render.body import Base64Body, PlainBody
from mailer.render.charset import CharProblem, encode_iso2022jp_body, iso2022jp_problems
from mailer.render.context import SLOT_NAMES, greeting_text, slot_marker, web_url
from mailer.render.errors import CharsetError, RenderError
from mailer.render.headers import FixedHeaders, build_headers, encode_fixed
from mailer.render.html import render_email_html
from mailer.render.text import render_text
from mailer.render.types import Recipient, RenderConfig, Slots

ISO2022JP = "iso-2022-jp"
UTF8 = "utf-8"


@dataclass(frozen=True)
class _Compiled:
    boundary: bytes
    fixed_utf8: FixedHeaders
    text_utf8: Base64Body
    html_utf8: Base64Body
    fixed_iso: FixedHeaders | None
    text_iso: PlainBody | None


@dataclass(frozen=True)
class PreparedPart:
    """A part rendered once. `text` and `html` contain slot markers; use
    `fill_text`/`fill_html` for a recipient's exact bodies."""

    subject: str
    text: str
    html: str
    config: RenderConfig
    extra: dict[str, str] = field(default_factory=dict)
    web_url: str = ""
    # Characters ISO-2022-JP cannot carry (body first, then header values).
    iso2022jp_problems: tuple[CharProblem, ...] = ()
    compiled: _Compiled | None = field(default=None, repr=False, compare=False)


def prepare_part(*, issue: IssueDocument, part: PartDocument, config: RenderConfig) -> PreparedPart:
    """Return the part rendered once, ready for cheap personalisation.

    Succeeds even when ISO-2022-JP cannot carry the part: the problems are
    recorded and `personalize` refuses ISO-2022-JP recipients.
    """
    text = render_text(issue=issue, part=part, config=config)
    html = render_email_html(issue=issue, part=part, config=config)
    header_values = "\n".join([part.subject, config.from_name, config.list_name])
    problems = tuple(iso2022jp_problems(text)) + tuple(iso2022jp_problems(header_values))
    digest = hashlib.sha256((text + html).encode("utf-8")).hexdigest()[:32]
    boundary = f"=_mailer_{digest}".encode("ascii")
    fixed_iso = text_iso = None
    if not problems:
        fixed_iso = encode_fixed(subject=part.subject, config=config, charset=ISO2022JP)
        text_iso = PlainBody.build(encode_iso2022jp_body(text), SLOT_NAMES)
        if b"--" + boundary in b"".join(text_iso.pieces):
            raise RenderError(_("本文に MIME の区切りの文字列が含まれています"))
    compiled = _Compiled(
        boundary=boundary,
        fixed_utf8=encode_fixed(subject=part.subject, config=config, charset=UTF8),
        text_utf8=Base64Body.build(_crlf(text).encode("utf-8"), SLOT_NAMES),
        html_utf8=Base64Body.build(_crlf(html).encode("utf-8"), SLOT_NAMES),
        fixed_iso=fixed_iso,
        text_iso=text_iso,
    )
    return PreparedPart(
        subject=part.subject, text=text, html=html, config=config,
        web_url=web_url(issue=issue, part=part, config=config),
        iso2022jp_problems=problems, compiled=compiled,
    )


def greeting_iso2022jp_problems(name: str | None, honorific: str) -> list[CharProblem]:
    """Return the characters of a recipient's greeting ("髙橋 太郎 様": the name
    and honorific `personalize` puts in the To header and the text) that
    ISO-2022-JP cannot carry; [] when it can, or when there is no greeting
    (a blank name). The one test used by the import warning, the preflight
    error, the admin filter and `deliverable_charset`."""
    return iso2022jp_problems(greeting_text(name, honorific))


def deliverable_charset(prepared: PreparedPart, recipient: Recipient) -> str:
    """Return the charset `personalize` can build `recipient`'s message in.

    Their own, except for a reader who asked for ISO-2022-JP when the part
    (body or header values) or their greeting cannot be carried in it: then
    UTF-8. The preflight makes that case an error before a send starts; this
    is the delivery engine's fallback for a send that got past it (a reader
    imported or edited after the check), so no delivery fails for it.
    """
    if recipient.charset.lower() != ISO2022JP:
        return recipient.charset
    c = prepared.compiled
    if c is None or c.fixed_iso is None or c.text_iso is None:
        return UTF8
    if greeting_iso2022jp_problems(recipient.name, recipient.honorific):
        return UTF8
    return ISO2022JP


def _crlf(s: str) -> str:
    return s.replace("\n", "\r\n")


def fill_text(prepared: PreparedPart, recipient: Recipient, slots: Slots) -> str:
    """Return the text body exactly as `personalize` sends it ("\\n" line ends)."""
    greet = greeting_text(recipient.name, recipient.honorific)
    return (prepared.text
            .replace(slot_marker("greeting"), f"{greet}\n\n" if greet else "")
            .replace(slot_marker("unsubscribe_url"), slots.unsubscribe_url)
            .replace(slot_marker("preferences_url"), slots.preferences_url))


def fill_html(prepared: PreparedPart, recipient: Recipient, slots: Slots) -> str:
    """Return the HTML body exactly as `personalize` sends it ("\\n" line ends)."""
    greet = greeting_text(recipient.name, recipient.honorific)
    esc = html_lib.escape
    return (prepared.html
            .replace(slot_marker("greeting"), esc(greet, quote=False))
            .replace(slot_marker("unsubscribe_url"), esc(slots.unsubscribe_url))
            .replace(slot_marker("preferences_url"), esc(slots.preferences_url)))


def personalize(prepared: PreparedPart, recipient: Recipient, slots: Slots) -> bytes:
    """Return the final RFC 5322 bytes (CRLF) for one recipient.

    Raises CharsetError for an ISO-2022-JP recipient when the part (or the
    recipient's name) has characters ISO-2022-JP cannot carry, and RenderError
    for an unknown format or charset or a value that would break a header.
    """
    c = prepared.compiled
    if c is None:
        raise RenderError("PreparedPart was not made by prepare_part")
    charset = recipient.charset.lower()
    greet = greeting_text(recipient.name, recipient.honorific)
    unsub = _ascii_url(slots.unsubscribe_url)
    prefs = _ascii_url(slots.preferences_url)
    if charset == UTF8:
        fixed = c.fixed_utf8
        text_cte = b"base64"
        text_body = c.text_utf8.fill({
            "greeting": f"{greet}\r\n\r\n".encode() if greet else b"",
            "unsubscribe_url": unsub, "preferences_url": prefs})
    elif charset == ISO2022JP:
        if c.fixed_iso is None or c.text_iso is None:
            raise CharsetError(_problem_summary(prepared.iso2022jp_problems))
        fixed = c.fixed_iso
        text_cte = b"7bit"
        text_body = c.text_iso.fill({
            "greeting": _iso_greeting(greet), "unsubscribe_url": unsub,
            "preferences_url": prefs})
    else:
        raise RenderError(_("文字コード「{charset}」は使えません（utf-8 か iso-2022-jp）").format(
            charset=recipient.charset))
    text_headers = (b'Content-Type: text/plain; charset="' + charset.encode() + b'"\r\n'
                    b"Content-Transfer-Encoding: " + text_cte + b"\r\n")
    if recipient.format == "text":
        content_headers = text_headers
        body = text_body
    elif recipient.format == "html":
        b = c.boundary
        content_headers = b'Content-Type: multipart/alternative;\r\n boundary="' + b + b'"\r\n'
        html_body = c.html_utf8.fill({
            "greeting": html_lib.escape(greet, quote=False).encode(),
            "unsubscribe_url": html_lib.escape(slots.unsubscribe_url).encode(),
            "preferences_url": html_lib.escape(slots.preferences_url).encode()})
        # The CRLF before each delimiter belongs to the delimiter (RFC 2046
        # 5.1.1), so each body gets one more to keep its own final line break.
        body = b"".join((
            b"--", b, b"\r\n", text_headers, b"\r\n", text_body,
            b"\r\n--", b, b'\r\nContent-Type: text/html; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n", html_body,
            b"\r\n--", b, b"--\r\n"))
    else:
        raise RenderError(_("形式「{format}」は使えません（html か text）").format(
            format=recipient.format))
    headers = build_headers(
        fixed, to_email=recipient.email, to_name=greet, date=slots.date,
        message_id=slots.message_id, unsubscribe_url=slots.unsubscribe_url,
        unsubscribe_mailto=slots.unsubscribe_mailto, content_headers=content_headers,
        test=slots.test)
    return headers + body


def _ascii_url(url: str) -> bytes:
    if not url.isascii() or "\n" in url or "\r" in url:
        raise RenderError(_("URL は改行のない ASCII で書いてください（日本語などはパーセント"
                            "エンコードしてください）: {url!r}").format(url=url))
    return url.encode("ascii")


def _iso_greeting(greet: str) -> bytes:
    if not greet:
        return b""
    try:
        # The codec returns to ASCII at the end of the string (RFC 1468 line rule).
        return greet.encode("iso2022_jp") + b"\r\n\r\n"
    except UnicodeEncodeError as exc:
        raise CharsetError(
            _("宛名「{name}」の「{chars}」は ISO-2022-JP で送れません。"
              "この購読者の文字コードを UTF-8 にしてください").format(
                name=greet, chars=greet[exc.start:exc.end])) from exc


def _problem_summary(problems: tuple[CharProblem, ...]) -> str:
    shown = "、".join(_("「{char}」({name}、{line} 行 {column} 字目)").format(
        char=p.char, name=p.name, line=p.line, column=p.column) for p in problems[:5])
    more = (_(" ほか {count} 字").format(count=len(problems) - 5) if len(problems) > 5 else "")
    return _("この配信回には ISO-2022-JP で送れない字があります：{shown}{more}。"
             "直すか（事前チェックを見てください）、"
             "これらの購読者の文字コードを UTF-8 にしてください").format(shown=shown, more=more)
