"""One entry point for an inbound message: classify it, then record it.

The SMTP receiver and the mailbox importer both call `process_inbound`; what
they need from the settings is gathered once in `InboundConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from mailer.bounces.apply import record_inbound
from mailer.bounces.classify import classify_inbound
from mailer.models import InboundMessage
from mailer.settings import Settings

#: local parts (before "+") the bounce domain accepts mail for
ACCEPTED_LOCAL_PARTS = ("bounces", "unsubscribe")


@dataclass(frozen=True)
class InboundConfig:
    domain: str  # the bounce (return-path) domain, lowercase ASCII
    secret: bytes  # the VERP secret: the newest key
    secrets: tuple[str, ...]  # every accepted key, newest last
    soft_limit: int = 3
    soft_window_days: int = 30


def inbound_config(settings: Settings, *, soft_limit: int = 3,
                   soft_window_days: int = 30) -> InboundConfig:
    """Return the inbound configuration the engine's outbound settings imply."""
    return InboundConfig(
        domain=settings.return_path_domain.encode("idna").decode("ascii").lower(),
        secret=settings.secret_keys[-1].encode(),
        secrets=tuple(settings.secret_keys),
        soft_limit=soft_limit,
        soft_window_days=soft_window_days,
    )


def accepts_recipient(address: str, *, domain: str) -> bool:
    """Return True for `bounces+…@domain` and `unsubscribe+…@domain` (any case)."""
    text = address.strip().strip("<>")
    local, at, rcpt_domain = text.rpartition("@")
    if not at or rcpt_domain.lower() != domain.lower():
        return False
    base, plus, tag = local.partition("+")
    return bool(plus and tag) and base.lower() in ACCEPTED_LOCAL_PARTS


def process_inbound(
    *, engine: Engine, config: InboundConfig, raw: bytes, mail_from: str, rcpt_to: str,
    now: datetime | None = None,
) -> InboundMessage:
    """Classify `raw` and record it; return the stored row (see `record_inbound`)."""
    result = classify_inbound(raw, rcpt_to=rcpt_to, secret=config.secret,
                              secrets=list(config.secrets))
    return record_inbound(
        engine=engine, result=result, raw=raw, mail_from=mail_from, rcpt_to=rcpt_to,
        soft_limit=config.soft_limit, soft_window_days=config.soft_window_days, now=now,
    )
