"""Test sends: real mail to a few addresses, marked as a test, outside the ledger."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from email_validator import EmailNotValidError, validate_email

from mailer.delivery.smtp import SmtpTransport, TransportError
from mailer.render.message import Recipient, Slots, personalize, prepare_part
from mailer.runtime import render_config
from mailer.services.parts import documents
from mailer.services.publication import preview_render_config
from mailer.settings import Settings


class TestSendError(ValueError):
    """A test send could not start (bad address, no relay); the message says which."""

    __test__ = False  # not a pytest test class


def test_send_part(
    *, settings: Settings, part_id: int, addresses: Sequence[str]
) -> list[tuple[str, str]]:
    """Send the part to each address; return (address, "sent" or the error).

    Raises TestSendError for a bad address or when no relay is configured.
    """
    normalised = []
    for addr in addresses:
        try:
            normalised.append(validate_email(addr, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            raise TestSendError(f"--to {addr}: {exc}") from None
    relays = settings.relays()
    if not relays:
        raise TestSendError("MAILER_SMTP_URL is not set: a test send needs a real relay")
    engine_url = settings.effective_database_url
    from mailer.db import make_engine

    engine = make_engine(engine_url)
    issue, part = documents(engine=engine, part_id=part_id)
    # An unpublished part's web version and images open through a preview link.
    config = preview_render_config(engine=engine, config=render_config(settings),
                               secrets=settings.secret_keys, part_id=part_id)
    prepared = prepare_part(issue=issue, part=part, config=config)
    domain = settings.from_address.rsplit("@", 1)[1]
    results: list[tuple[str, str]] = []
    transport = SmtpTransport(
        relays[0], timeout=settings.smtp_timeout, ca_file=settings.smtp_ca_file
    )
    try:
        for addr in normalised:
            slots = Slots(
                message_id=f"<test.{secrets.token_hex(8)}@{domain}>",
                unsubscribe_url=f"{settings.base_url}/u/TEST",
                unsubscribe_mailto=f"mailto:unsubscribe@{settings.return_path_domain}",
                preferences_url=f"{settings.base_url}/p/TEST",
                date=datetime.now(UTC),
                test=True,
            )
            data = personalize(prepared, Recipient(email=addr), slots)
            try:
                transport.send(settings.from_address, addr, data)
                results.append((addr, "sent"))
            except TransportError as exc:
                results.append((addr, f"not sent: {exc}"))
    finally:
        transport.close()
        engine.dispose()
    return results
