"""SMTP relay URLs: `smtp://user:pass@host:port`, `smtp+starttls://…`, `smtps://…`.

MAILER_SMTP_URL may list several, separated by commas or whitespace, in
failover order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class RelayConfig:
    scheme: str  # smtp | smtp+starttls | smtps
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def name(self) -> str:
        """A label safe to log and to use as a rate-limit key (no password)."""
        return f"{self.host}:{self.port}"

    @property
    def starttls(self) -> bool:
        return self.scheme == "smtp+starttls"

    @property
    def implicit_tls(self) -> bool:
        return self.scheme == "smtps"


def parse_smtp_url(url: str) -> RelayConfig:
    """Return the relay named by `url`; raise ValueError naming the bad part."""
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError(f"{url!r}: scheme must be smtp://, smtp+starttls:// or smtps://")
    if not parts.hostname:
        raise ValueError(f"{parts.scheme}://…: a host is required")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ValueError(f"{parts.scheme}://{parts.hostname}: bad port") from None
    return RelayConfig(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def parse_smtp_urls(text: str) -> list[RelayConfig]:
    """Return every relay in a comma- or space-separated list, in order."""
    urls = [u for u in re.split(r"[\s,]+", text.strip()) if u]
    if not urls:
        raise ValueError("no SMTP URL given")
    return [parse_smtp_url(u) for u in urls]
