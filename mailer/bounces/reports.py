"""Reading the machine-readable parts of bounce and complaint reports (pure).

A DSN (RFC 3464) is a multipart/report whose message/delivery-status part holds
one block of per-message fields followed by one block per recipient. An ARF
complaint (RFC 5965) has a message/feedback-report part instead. Both usually
carry the original message (message/rfc822) or its header (text/rfc822-headers),
which is where a report that lost our VERP envelope can still be matched.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser

STATUS_RE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
SMTP_CODE_RE = re.compile(r"(?:^|[\s:;(])([245]\d\d)[\s-]")
_WS = re.compile(r"\s+")


def header(msg: Message, name: str) -> str:
    """Return a header's value as text, RFC 2047 words decoded, whitespace folded.

    Returns "" when the header is missing; undecodable words are kept as sent.
    """
    value = msg.get(name)
    if value is None:
        return ""
    text = str(value)
    with contextlib.suppress(ValueError, LookupError, UnicodeError):
        text = str(make_header(decode_header(text)))
    return _WS.sub(" ", text).strip()


def status_code(text: str) -> str:
    """Return the first enhanced status code (RFC 3463) in `text`, or ""."""
    m = STATUS_RE.search(text)
    return ".".join(m.groups()) if m else ""


def smtp_code(text: str) -> str:
    """Return the first basic SMTP reply code (4xx/5xx) in `text`, or ""."""
    m = SMTP_CODE_RE.search(text)
    return m.group(1) if m and m.group(1)[0] in "45" else ""


_REPLY_PREFIX = re.compile(r"(?:^|(?<=[\s;]))([245]\d\d)[- ](?:[245]\.\d{1,3}\.\d{1,3}\s+)?")


def _continuations(diagnostic: str) -> str:
    """Drop the repeated "550-5.1.1" prefixes of a multi-line SMTP reply,
    keeping the first: "550-5.1.1 a 550 5.1.1 b" -> "550-5.1.1 a b"."""
    matches = list(_REPLY_PREFIX.finditer(diagnostic))
    if len(matches) < 2:
        return diagnostic
    code = matches[0].group(1)
    kept, pos = [diagnostic[: matches[0].end()]], matches[0].end()
    for m in matches[1:]:
        if m.group(1) == code:
            kept.append(diagnostic[pos : m.start()])
            pos = m.end()
    kept.append(diagnostic[pos:])
    return _WS.sub(" ", "".join(kept)).strip()


def address_of(field: str) -> str:
    """Return the address of a DSN/ARF address field: "rfc822; a@b" or "<a@b>" -> "a@b"."""
    value = field.split(";", 1)[1] if ";" in field else field
    return value.strip().strip("<>").strip()


@dataclass(frozen=True)
class RecipientReport:
    """One per-recipient block of a message/delivery-status part."""

    recipient: str
    action: str  # failed, delayed, delivered, relayed, expanded ("" if missing)
    status: str  # "5.1.1", or "" when the block has none
    diagnostic: str


@dataclass(frozen=True)
class DeliveryStatus:
    """A message/delivery-status part: its per-message fields and recipients."""

    fields: dict[str, str]
    recipients: list[RecipientReport]


def _blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [b for b in payload if isinstance(b, Message)]
    # A part whose blocks the parser left as text (some MTAs write CRLF CRLF
    # inside a base64 or quoted-printable body): read the blocks ourselves.
    body = part.get_payload(decode=True)
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(payload)
    chunks = re.split(r"\r?\n[ \t]*\r?\n", text.strip())
    return [HeaderParser().parsestr(chunk) for chunk in chunks if chunk.strip()]


def delivery_status_parts(msg: Message) -> list[DeliveryStatus]:
    """Return every message/delivery-status part of `msg`, read."""
    found = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = _blocks(part)
        if not blocks:
            continue
        per_message = {k.lower(): header(blocks[0], k) for k in blocks[0]}
        recipients = []
        for block in blocks[1:]:
            final = header(block, "Final-Recipient") or header(block, "Original-Recipient")
            status = header(block, "Status")
            diagnostic = _continuations(header(block, "Diagnostic-Code"))
            recipients.append(RecipientReport(
                recipient=address_of(final),
                action=header(block, "Action").lower().split(" ", 1)[0].strip("()"),
                status=status_code(status),
                diagnostic=diagnostic,
            ))
        found.append(DeliveryStatus(fields=per_message, recipients=recipients))
    return found


def feedback_report(msg: Message) -> dict[str, str] | None:
    """Return the fields of the first message/feedback-report part (lowercase
    names), or None when `msg` has none."""
    for part in msg.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        blocks = _blocks(part)
        fields: dict[str, str] = {}
        for block in blocks:
            for key in block:
                fields.setdefault(key.lower(), header(block, key))
        return fields
    return None


def is_report(msg: Message, report_type: str) -> bool:
    """Return True if `msg` is a multipart/report of `report_type`."""
    return (
        msg.get_content_type() == "multipart/report"
        and str(msg.get_param("report-type", "", header="content-type")).lower() == report_type
    )


def original_headers(msg: Message) -> Message | None:
    """Return the header of the returned original message, or None.

    Looks for a message/rfc822 part, then a text/rfc822-headers part (which
    is what most MTAs attach when they do not return the whole message).
    """
    for part in msg.walk():
        if part is msg:
            continue
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if ctype == "text/rfc822-headers":
            body = part.get_payload(decode=True)
            if isinstance(body, bytes):
                return HeaderParser().parsestr(body.decode("utf-8", errors="replace"))
    return None


def text_of(msg: Message, *, limit: int = 200_000) -> str:
    """Return the decoded text of the report's own text/* parts (not the
    returned original), joined, at most `limit` characters (for heuristics)."""
    chunks: list[str] = []
    size = 0
    for part in _own_parts(msg):
        if part.get_content_maintype() != "text":
            continue
        body = part.get_payload(decode=True)
        if not isinstance(body, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            text = body.decode(charset, errors="replace")
        except LookupError:
            text = body.decode("utf-8", errors="replace")
        chunks.append(text)
        size += len(text)
        if size >= limit:
            break
    return "\n".join(chunks)[:limit]


def _own_parts(msg: Message) -> list[Message]:
    """Return the leaf parts of `msg`, not descending into attached messages
    (the returned original is ours and says nothing about the failure)."""
    if msg.get_content_type() == "message/rfc822":
        return []
    if not msg.is_multipart():
        return [msg]
    payload = msg.get_payload()
    leaves: list[Message] = []
    for sub in payload if isinstance(payload, list) else []:
        if (isinstance(sub, Message) and sub.get_content_maintype() != "message"
                and sub.get_content_type() != "text/rfc822-headers"):
            leaves.extend(_own_parts(sub))
    return leaves
