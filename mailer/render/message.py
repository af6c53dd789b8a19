"""Build the bytes of one delivery. Pure: documents and values in, bytes out.

`prepare_part` does the expensive work once per part; `personalize` only fills
the per-recipient slots. (Skeleton: the compose-and-render issue makes it right.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from mailer.compose.document import IssueDocument, PartDocument


@dataclass(frozen=True)
class RenderConfig:
    base_url: str  # https://mailer.example.com (no trailing slash)
    from_name: str
    from_address: str
    list_id: str  # the List-Id value's id part, e.g. "cio-forum.mailer.example.com"
    list_name: str = ""  # display phrase of List-Id


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str | None = None
    honorific: str = "様"
    format: str = "html"  # "html" or "text"
    charset: str = "utf-8"  # "utf-8" or "iso-2022-jp"


@dataclass(frozen=True)
class Slots:
    """Per-delivery values the engine computes (tokens, ids)."""

    message_id: str  # "<...@domain>"
    unsubscribe_url: str
    unsubscribe_mailto: str
    preferences_url: str
    date: datetime
    test: bool = False


@dataclass(frozen=True)
class PreparedPart:
    subject: str
    text: str
    html: str
    config: RenderConfig
    extra: dict[str, str] = field(default_factory=dict)


def prepare_part(*, issue: IssueDocument, part: PartDocument, config: RenderConfig) -> PreparedPart:
    """Return the part rendered once, ready for cheap personalisation."""
    text = f"{issue.series} 第{issue.number}回 {issue.title} {part.label}\n\n{part.title}\n"
    html = f"<html lang=\"ja\"><body><h1>{part.title}</h1></body></html>"
    return PreparedPart(subject=part.subject, text=text, html=html, config=config)


def personalize(prepared: PreparedPart, recipient: Recipient, slots: Slots) -> bytes:
    """Return the final RFC 5322 bytes for one recipient."""
    cfg = prepared.config
    msg = EmailMessage()
    subject = prepared.subject if not slots.test else f"[テスト送信] {prepared.subject}"
    msg["Subject"] = subject
    msg["From"] = formataddr((cfg.from_name, cfg.from_address))
    to_name = f"{recipient.name} {recipient.honorific}" if recipient.name else ""
    msg["To"] = formataddr((to_name, recipient.email))
    msg["Date"] = format_datetime(slots.date)
    msg["Message-ID"] = slots.message_id
    msg["List-Id"] = f"{cfg.list_name} <{cfg.list_id}>"
    msg["List-Unsubscribe"] = f"<{slots.unsubscribe_url}>, <{slots.unsubscribe_mailto}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    body = prepared.text + f"\n配信停止: {slots.unsubscribe_url}\n"
    msg.set_content(body, charset="utf-8")
    if recipient.format == "html":
        msg.add_alternative(prepared.html, subtype="html", charset="utf-8")
    return msg.as_bytes()
