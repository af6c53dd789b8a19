"""The value types of rendering: the site's configuration, the recipient, and
the per-delivery slots. Kept apart from `message.py` so the renderers it
calls can name them without importing it back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RenderConfig:
    base_url: str  # https://mailer.example.com (no trailing slash)
    from_name: str
    from_address: str
    list_id: str  # the List-Id value's id part, e.g. "cio-forum.mailer.example.com"
    list_name: str = ""  # display phrase of List-Id, also the forum named in the footer
    # Why the reader gets this mail; default names list_name (see context.reason_text).
    reason: str = ""


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
