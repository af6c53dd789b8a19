"""Test sends: the mail readers get, to a few addresses, marked as a test,
outside the ledger.

A test message goes out the way a delivery does: through the relay pool of
MAILER_SMTP_URL (a relay that answers 421 or is down hands it to the next),
DKIM-signed with MAILER_DKIM_KEY_FILE when set, from the VERP envelope
sender `bounces+TOKEN@bounce-domain`. TOKEN names `TEST_DELIVERY_ID`, which
no ledger row ever has, so a bounce of a test send changes nobody. What
differs: the subject is marked as a test (`Slots(test=True)`), the
unsubscribe links name no subscriber, no delivery row is written, and
neither the workers' shared relay-down marks nor the rate limiter (both in
Redis) are used: a handful of messages must not need Redis.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Engine

from mailer.addresses import email_problem
from mailer.delivery.dkim import DkimKeyError
from mailer.delivery.engine import DeliveryConfig, return_path, utcnow
from mailer.delivery.relays import Handover, LocalRelayHealth
from mailer.delivery.verp import TEST_DELIVERY_ID
from mailer.i18n import _
from mailer.render.errors import RenderError
from mailer.render.message import PreparedPart, Recipient, Slots, personalize, prepare_part
from mailer.runtime import delivery_config, dkim_signer, relay_pool, render_config
from mailer.services.errors import ErrorKind, ServiceError, invalid, not_found
from mailer.services.parts import PartNotFound, documents
from mailer.services.publication import preview_render_config
from mailer.settings import Settings

SENT = "sent"  # the outcome of an accepted message (the API answers it as is)


def test_send_part(
    *, engine: Engine, settings: Settings, part_id: int, addresses: Sequence[str]
) -> list[tuple[str, str]]:
    """Send the part to each address; return (address, "sent" or why not, in Japanese).

    Raises ServiceError: INVALID (field "to") for a bad address, CONFLICT
    when no relay is configured, NOT_FOUND for an unknown part, UNAVAILABLE
    for a DKIM key that cannot be used. Nothing is written to the database.
    """
    recipients = [_normalised(addr) for addr in addresses]
    if not settings.relays():
        raise ServiceError(_("MAILER_SMTP_URL が設定されていないため、テスト送信はできません"
                             "（送信サーバーを設定してください）"), kind=ErrorKind.CONFLICT)
    try:
        issue, part = documents(engine=engine, part_id=part_id)
    except PartNotFound:
        raise not_found(_("パート {part_id} はありません").format(part_id=part_id)) from None
    try:
        sign = dkim_signer(settings) or (lambda data: data)
    except DkimKeyError as exc:
        raise ServiceError(_("MAILER_DKIM_KEY_FILE の DKIM 鍵を使えないため、テスト送信できません"
                             "（{exc}）").format(exc=exc), kind=ErrorKind.UNAVAILABLE) from None
    # An unpublished part's web version and images open through a preview link.
    look = preview_render_config(engine=engine, config=render_config(settings),
                                 secrets=settings.secret_keys, part_id=part_id)
    try:
        prepared = prepare_part(issue=issue, part=part, config=look)
    except RenderError as exc:  # e.g. a subject with a line break, stored before it was refused
        raise ServiceError(_("このパートからメールを作れません: {exc}").format(exc=exc),
                           kind=ErrorKind.INVALID) from None
    config = delivery_config(settings)
    messages = {i: _message(prepared, config, addr, sign) for i, addr in enumerate(recipients)}
    outcomes: dict[int, str] = {}
    pool = relay_pool(settings, LocalRelayHealth())
    envelope_from = return_path(config, TEST_DELIVERY_ID)
    try:
        for i, data in messages.items():
            if isinstance(data, str):  # could not be built: said instead of sent
                outcomes[i] = data
                continue
            outcomes.update(_told(pool.submit(i, envelope_from, recipients[i], data)))
        outcomes.update(_told(pool.drain()))
    finally:
        pool.close()
    return [(addr, outcomes[i]) for i, addr in enumerate(recipients)]


def _normalised(address: str) -> str:
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise invalid(_("to: {address} はメールアドレスとして正しくありません（{reason}）").format(
                          address=address, reason=email_problem(str(exc))),
                      field="to") from None


def _message(
    prepared: PreparedPart, config: DeliveryConfig, address: str,
    sign: Callable[[bytes], bytes],
) -> bytes | str:
    """The signed message for one address, or why it could not be built."""
    slots = Slots(
        message_id=f"<test.{secrets.token_hex(8)}@{config.message_id_domain}>",
        unsubscribe_url=f"{config.base_url}/u/TEST",
        unsubscribe_mailto=f"mailto:unsubscribe@{config.return_path_domain}",
        preferences_url=f"{config.base_url}/p/TEST",
        date=utcnow(),
        test=True,
    )
    try:
        return sign(personalize(prepared, Recipient(email=address), slots))
    except ValueError as exc:  # a malformed header DKIM cannot sign
        return f"送信できませんでした（メールを作れません：{exc}）"


def _told(handovers: list[Handover]) -> dict[int, str]:
    """The outcome text of each answered message, by its index."""
    told: dict[int, str] = {}
    for h in handovers:
        if h.relays_down is not None:  # the last refusal, if this message had one
            last = h.relays_down.last
            told[h.tag] = ("送信できませんでした（どの送信サーバーも受け付けません"
                           + (f"：{last}）" if last else "）"))
        elif h.error is not None:
            told[h.tag] = f"送信できませんでした（{h.error}）"
        else:
            told[h.tag] = SENT
    return told
