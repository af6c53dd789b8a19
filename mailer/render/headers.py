"""Message headers. `build_headers` is the one place that decides which
headers a delivery carries and in what order (deliverability rules included:
List-Id, List-Unsubscribe with https + mailto, RFC 8058 one-click).

Encoding the fixed values (Subject, From, List-Id) costs the most and happens
once per part and charset in `encode_fixed`; `build_headers` only lays out
lines and encodes the recipient's display name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mailer.i18n import N_, _
from mailer.render.charset import encode_header_value
from mailer.render.errors import RenderError
from mailer.textcheck import control_char, describe_char

if TYPE_CHECKING:
    from mailer.render.types import RenderConfig

TEST_PREFIX = "[テスト送信] "
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# RFC 5322 specials: an ASCII display name containing one must be quoted.
_SPECIALS = set('()<>[]:;@\\,."')


class HeaderError(RenderError):
    """A header value would be malformed or could inject headers."""


@dataclass(frozen=True)
class FixedHeaders:
    """Header values that are the same for every recipient of a part and charset."""

    charset: str
    subject: str
    test_subject: str
    from_: str
    list_id: str


def encode_phrase(value: str, charset: str, header_name_len: int) -> str:
    """Return a display name as an RFC 5322 phrase (quoted ASCII or RFC 2047 words)."""
    if value.isascii():
        if any(c in _SPECIALS for c in value):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return value
    return encode_header_value(value, charset, header_name_len=header_name_len)


def encode_fixed(*, subject: str, config: RenderConfig, charset: str) -> FixedHeaders:
    """Encode the per-part header values for `charset` (raises if it cannot carry them).

    Raises HeaderError (Japanese, naming the value) for a control character in
    any of them: the last line of defence against header injection, after the
    front matter and the settings refused them where they were read.
    """
    for what, value in ((N_("件名（subject）"), subject),
                        (N_("差出人（MAILER_FROM）"), config.from_name),
                        (N_("差出人（MAILER_FROM）"), config.from_address),
                        (N_("配信リスト名（MAILER_LIST_NAME）"), config.list_name),
                        ("MAILER_LIST_ID", config.list_id)):
        bad = control_char(value)
        if bad is not None:
            raise HeaderError(_("{what}に制御文字 {char} があるため、"
                                "メールのヘッダーにできません。1 行の値に直してください").format(
                what=_(what), char=describe_char(bad)))
    list_phrase = encode_phrase(config.list_name, charset, len("List-Id: ")) if config.list_name \
        else ""
    return FixedHeaders(
        charset=charset,
        subject=encode_header_value(subject, charset, header_name_len=len("Subject: ")),
        test_subject=encode_header_value(TEST_PREFIX + subject, charset,
                                         header_name_len=len("Subject: ")),
        from_=_address(encode_phrase(config.from_name, charset, len("From: ")),
                       config.from_address, len("From: ")),
        list_id=_address(list_phrase, config.list_id, len("List-Id: ")),
    )


def format_date(when: datetime) -> str:
    """Return an RFC 5322 date ("Thu, 26 Nov 2026 16:10:25 +0900"); naive means UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return _format_whole_second(when.replace(microsecond=0))


@functools.lru_cache(maxsize=8)  # every message of the same second has the same Date
def _format_whole_second(when: datetime) -> str:
    offset = when.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    hh, mm = divmod(abs(minutes), 60)
    return (f"{_DAYS[when.weekday()]}, {when.day:02d} {_MONTHS[when.month - 1]} {when.year} "
            f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {sign}{hh:02d}{mm:02d}")


def _address(phrase: str, addr: str, name_len: int) -> str:
    """Return "phrase <addr>", folding before "<" when the line would pass 78."""
    if not phrase:
        return f"<{addr}>"
    last = phrase.rsplit("\r\n", 1)[-1]
    # Keep lines near 78 characters: start the address on a new line if needed.
    column = (name_len if "\r\n" not in phrase else 0) + len(last)
    sep = "\r\n " if column + len(addr) + 3 > 78 else " "
    return f"{phrase}{sep}<{addr}>"


def _check(value: str, what: str) -> str:
    if "\r" in value or "\n" in value or not value.isascii():
        raise HeaderError(_("{what}は改行のない ASCII で書いてください: {value!r}").format(
            what=_(what), value=value))
    return value


def build_headers(
    fixed: FixedHeaders,
    *,
    to_email: str,
    to_name: str,
    date: datetime,
    message_id: str,
    unsubscribe_url: str,
    unsubscribe_mailto: str,
    content_headers: bytes,
    test: bool = False,
) -> bytes:
    """Return the header block (CRLF line ends, ending with the blank line).

    `to_name` is the display name ("髙橋 太郎 様") or "". `content_headers` are the
    prepared Content-Type (and Content-Transfer-Encoding) lines. Raises
    HeaderError for values that are not one line of ASCII (header injection),
    and the charset module's error when the name cannot be encoded.
    """
    _check(to_email, N_("宛先のアドレス"))
    _check(message_id, "Message-ID")
    _check(unsubscribe_url, N_("配信停止の URL"))
    _check(unsubscribe_mailto, N_("配信停止の mailto"))
    if not unsubscribe_mailto.startswith("mailto:"):
        unsubscribe_mailto = f"mailto:{unsubscribe_mailto}"
    if not (message_id.startswith("<") and message_id.endswith(">")):
        message_id = f"<{message_id.strip('<>')}>"
    phrase = encode_phrase(to_name, fixed.charset, len("To: ")) if to_name else ""
    lines = (
        f"From: {fixed.from_}\r\n"
        f"To: {_address(phrase, to_email, len('To: '))}\r\n"
        f"Subject: {fixed.test_subject if test else fixed.subject}\r\n"
        f"Date: {format_date(date)}\r\n"
        f"Message-ID: {message_id}\r\n"
        f"MIME-Version: 1.0\r\n"
        f"List-Id: {fixed.list_id}\r\n"
        f"List-Unsubscribe: <{unsubscribe_url}>,\r\n <{unsubscribe_mailto}>\r\n"
        f"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    )
    return lines.encode("ascii") + content_headers + b"\r\n"
