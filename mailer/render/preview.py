"""Previews for editors: the email HTML, the text part, the raw .eml, and what
a sanitizing gateway leaves of the HTML. Pure: returns strings or bytes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal

from mailer.compose.document import IssueDocument, PartDocument
from mailer.i18n import _
from mailer.render.message import (
    PreparedPart,
    Recipient,
    RenderConfig,
    Slots,
    fill_html,
    fill_text,
    personalize,
    prepare_part,
)
from mailer.render.sanitize import sanitized_text

PreviewFormat = Literal["html", "text", "eml", "sanitized"]

PREVIEW_RECIPIENT = Recipient(email="preview@example.invalid", name="プレビュー")


def preview_slots(config: RenderConfig, part: PartDocument) -> Slots:
    """Return fixed, obviously fake slot values for previews."""
    when = part.scheduled_at or datetime(2000, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    domain = config.from_address.rpartition("@")[2] or "example.invalid"
    return Slots(
        message_id=f"<preview.{part.label}@{domain}>",
        unsubscribe_url=f"{config.base_url}/unsubscribe/PREVIEW",
        unsubscribe_mailto=f"mailto:unsubscribe@{domain}",
        preferences_url=f"{config.base_url}/preferences/PREVIEW",
        date=when,
    )


def preview(
    *,
    issue: IssueDocument,
    part: PartDocument,
    config: RenderConfig,
    format: PreviewFormat,
    recipient: Recipient | None = None,
    prepared: PreparedPart | None = None,
) -> str | bytes:
    """Return the part as `recipient` (default: a preview persona) would get it.

    "html" and "text" are the bodies (str), "eml" the message (bytes),
    "sanitized" the HTML flattened the way a municipal gateway does (str).
    Raises ValueError for an unknown format, and whatever `personalize` raises.
    """
    prepared = prepared or prepare_part(issue=issue, part=part, config=config)
    who = recipient or PREVIEW_RECIPIENT
    slots = preview_slots(config, part)
    if format == "html":
        return fill_html(prepared, who, slots)
    if format == "text":
        return fill_text(prepared, who, slots)
    if format == "eml":
        return personalize(prepared, who, slots)
    if format == "sanitized":
        return sanitized_text(fill_html(prepared, who, slots))
    raise ValueError(_("プレビューの形式「{format}」はありません").format(format=format))
