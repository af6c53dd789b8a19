"""One bounce rule: an SMTP rejection at send time and an inbound DSN with the
same status do the same to the subscriber (mailer.bounces.policy)."""

from __future__ import annotations

from datetime import UTC, datetime

from bounce_helpers import Ref
from sqlalchemy import Engine, select

from mailer.bounces.apply import record_inbound
from mailer.bounces.classify import InboundKind, InboundResult
from mailer.bounces.policy import smtp_reply_is_hard
from mailer.delivery import ledger
from mailer.models import Subscriber, SubscriberEvent, Suppression
from mailer.services.suppression import email_hash


def _smtp(engine: Engine, ref: Ref, reply: str, now: datetime) -> bool:
    with engine.begin() as conn:
        return ledger.record_smtp_bounce(conn, delivery_id=ref.delivery_id,
                                         subscriber_id=ref.subscriber_id, email=ref.email,
                                         reply=reply, now=now)


def _dsn(engine: Engine, ref: Ref, kind: InboundKind, status: str, now: datetime) -> None:
    result = InboundResult(kind, delivery_id=ref.delivery_id, matched_by="verp",
                           recipient=ref.email, status=status, diagnostic=f"550 {status} x")
    record_inbound(engine=engine, result=result, raw=b"report", mail_from="",
                   rcpt_to="bounces+x@example.jp", now=now)


def _state(engine: Engine, ref: Ref) -> tuple[str, bool, list[str]]:
    """The subscriber's status, whether the address is suppressed, event kinds."""
    with engine.connect() as conn:
        status = conn.execute(select(Subscriber.status).where(  # type: ignore[call-overload]
            Subscriber.id == ref.subscriber_id)).scalar_one()
        suppressed = conn.execute(select(Suppression.id).where(  # type: ignore[call-overload]
            Suppression.email_hash == email_hash(ref.email))).first() is not None
        kinds = list(conn.execute(select(SubscriberEvent.kind).where(  # type: ignore[call-overload]
            SubscriberEvent.subscriber_id == ref.subscriber_id,
            SubscriberEvent.kind != "created").order_by(SubscriberEvent.id)).scalars())
    return str(getattr(status, "value", status)), suppressed, kinds


def test_smtp_511_and_dsn_511_have_the_same_effect(engine: Engine, refs: list[Ref]) -> None:
    now = datetime.now(UTC)
    assert _smtp(engine, refs[0], "550 5.1.1 <x>: no such user", now) is True
    _dsn(engine, refs[1], InboundKind.DSN_HARD, "5.1.1", now)
    assert _state(engine, refs[0]) == _state(engine, refs[1]) == ("bounced", True, ["bounced"])


def test_soft_smtp_and_soft_dsn_are_counted_together(engine: Engine, refs: list[Ref]) -> None:
    now = datetime.now(UTC)
    # one soft bounce each way: counted the same, nothing suppressed
    assert _smtp(engine, refs[0], "550 5.7.1 refused by policy", now) is False
    _dsn(engine, refs[1], InboundKind.DSN_SOFT, "5.7.1", now)
    assert _state(engine, refs[0]) == _state(engine, refs[1]) == (
        "active", False, ["soft-bounce"])
    # the third soft bounce (two at send time, one inbound) bounces the subscriber
    _smtp(engine, refs[0], "552 mailbox over quota", now)
    _dsn(engine, refs[0], InboundKind.DSN_SOFT, "4.2.2", now)
    status, suppressed, kinds = _state(engine, refs[0])
    assert (status, suppressed) == ("bounced", True)
    assert kinds == ["soft-bounce", "soft-bounce", "soft-bounce", "bounced"]


def test_smtp_replies_follow_the_dsn_rule() -> None:
    assert smtp_reply_is_hard("550 5.1.1 no such user")
    assert smtp_reply_is_hard("550-5.2.1 mailbox disabled")
    assert not smtp_reply_is_hard("552 5.2.2 mailbox full")
    assert not smtp_reply_is_hard("554 5.7.1 blocked")
    assert smtp_reply_is_hard("550 user unknown")
    assert not smtp_reply_is_hard("554 transaction failed")
