"""Record an inbound message and act on it, in one transaction.

Every message is stored (`InboundMessage`, raw text kept) whatever it is. What
changes for the subscriber:

- dsn-hard: the delivered-to address is suppressed, the subscriber becomes
  `bounced` (only from `active`: an unsubscribed or complained status stays),
  one `bounced` event.
- dsn-soft: one `soft-bounce` event; when `soft_limit` of them fall within
  `soft_window_days`, the subscriber is bounced as above.
- complaint: suppressed, status `complained`, one `complained` event.
- unsubscribe-request: off the token's list (every list when it names none);
  `unsubscribed` when no list is left; one event, source "mailto".

A repeated report (same delivery, same kind) is stored but changes nothing:
the subscriber row is locked first, so two copies processed at once cannot
both act.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlmodel import Session

from mailer.bounces.classify import InboundKind, InboundResult
from mailer.bounces.policy import apply_bounce
from mailer.db import session_scope
from mailer.delivery.verp import TEST_DELIVERY_ID
from mailer.models import (
    Delivery,
    InboundMessage,
    MailingList,
    Membership,
    Subscriber,
    SubscriberEvent,
    SubscriberStatus,
)
from mailer.services.subscriptions import unsubscribe
from mailer.services.suppression import add_suppression

IM = InboundMessage.__table__  # type: ignore[attr-defined]
MEM = Membership.__table__  # type: ignore[attr-defined]

#: kinds that act once per delivery; a repeat is stored, nothing more
ONCE_PER_DELIVERY = frozenset({InboundKind.DSN_HARD, InboundKind.DSN_SOFT, InboundKind.COMPLAINT})


def utcnow() -> datetime:
    return datetime.now(UTC)


def record_inbound(
    *, engine: Engine, result: InboundResult, raw: bytes, mail_from: str, rcpt_to: str,
    soft_limit: int = 3, soft_window_days: int = 30, now: datetime | None = None,
) -> InboundMessage:
    """Store one inbound message and apply what it means; return the stored row.

    All in one transaction: on any database error nothing is stored and the
    error propagates (the SMTP receiver then answers 451 so the sender retries).
    `summary` on the returned row says what was done.
    """
    now = now or utcnow()
    with session_scope(engine) as session:
        done = _apply(session, result, soft_limit=soft_limit,
                      window=timedelta(days=soft_window_days), now=now)
        row = InboundMessage(
            received_at=now, mail_from=mail_from[:320], rcpt_to=rcpt_to[:320],
            kind=result.kind.value,
            delivery_id=None if result.delivery_id == TEST_DELIVERY_ID else result.delivery_id,
            subscriber_id=done.subscriber_id,
            summary=(result.summary + (" → " + "; ".join(done.notes) if done.notes else ""))[:2000],
            # PostgreSQL text cannot hold NUL; U+FFFD marks the spot as decoding does.
            raw=raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
        )
        session.add(row)
        session.flush()
    return row


class _Done:
    def __init__(self) -> None:
        self.subscriber_id: int | None = None
        self.notes: list[str] = []


def _apply(
    session: Session, result: InboundResult, *, soft_limit: int, window: timedelta,
    now: datetime,
) -> _Done:
    done = _Done()
    if result.kind is InboundKind.UNSUBSCRIBE_REQUEST:
        if result.subscriber_id is not None:
            done.subscriber_id = result.subscriber_id
            _unsubscribe(session, result, done, now=now)
        return done
    if result.delivery_id is None:
        return done
    if result.delivery_id == TEST_DELIVERY_ID:
        # A test send's bounce (mailer/services/test_send.py): no ledger row,
        # no subscriber; stored for staff to read, nothing applied.
        done.notes.append("a test send's bounce: nothing to apply")
        return done
    delivery = session.get(Delivery, result.delivery_id)
    if delivery is None:
        done.notes.append(f"delivery {result.delivery_id} is not in the ledger")
        return done
    done.subscriber_id = delivery.subscriber_id
    if result.kind not in ONCE_PER_DELIVERY:
        return done
    sub = _lock_subscriber(session, delivery.subscriber_id)
    if sub is None:
        done.notes.append(f"subscriber {delivery.subscriber_id} no longer exists")
        return done
    prior = session.execute(
        select(IM.c.id).where(IM.c.delivery_id == delivery.id, IM.c.kind == result.kind.value)
        .order_by(IM.c.id).limit(1)
    ).scalar()
    if prior is not None:
        done.notes.append(f"repeat of inbound #{prior}: no change")
        return done
    if result.kind in (InboundKind.DSN_HARD, InboundKind.DSN_SOFT):
        # The one bounce rule, the same as for an SMTP rejection at send time.
        done.notes += apply_bounce(
            session.connection(), subscriber_id=sub.id, delivery_id=delivery.id,  # type: ignore[arg-type]
            delivered_to=delivery.email, hard=result.kind is InboundKind.DSN_HARD,
            detail=_what(result), source="bounce", now=now, soft_limit=soft_limit,
            soft_window=window)
        session.expire(sub)
    else:
        _complaint(session, sub, delivery, result, done=done, now=now)
    return done


def _what(result: InboundResult) -> str:
    return " ".join(x for x in (result.status, result.diagnostic or result.note) if x)[:400]


def _lock_subscriber(session: Session, subscriber_id: int) -> Subscriber | None:
    # FOR UPDATE on PostgreSQL; SQLite already holds the write lock (BEGIN IMMEDIATE).
    return session.execute(
        select(Subscriber).where(Subscriber.id == subscriber_id).with_for_update()  # type: ignore[arg-type]
    ).scalars().first()


def _suppress(session: Session, email: str, *, reason: str, now: datetime) -> bool:
    """Add `email` to the suppression list unless it is there; return True if added."""
    return add_suppression(session.connection(), email=email, reason=reason,
                           source="feedback-loop", now=now)


def _same_address(sub: Subscriber, delivery: Delivery) -> bool:
    # The ledger froze the address; if the subscriber has changed it since,
    # only the old address is dead, not the subscriber.
    return sub.email.strip().lower() == delivery.email.strip().lower()


def _complaint(
    session: Session, sub: Subscriber, delivery: Delivery, result: InboundResult, *,
    done: _Done, now: datetime,
) -> None:
    detail = result.note or "complaint"
    if _suppress(session, delivery.email, reason=f"complaint: {detail}", now=now):
        done.notes.append(f"suppressed {delivery.email}")
    if not _same_address(sub, delivery):
        done.notes.append(f"subscriber now uses {sub.email}: status unchanged")
    elif sub.status != SubscriberStatus.COMPLAINED:
        sub.status = SubscriberStatus.COMPLAINED
        sub.updated_at = now
        done.notes.append("subscriber complained")
    session.add(SubscriberEvent(
        subscriber_id=sub.id, kind="complained", detail=detail[:500], source="feedback-loop",
        delivery_id=delivery.id, created_at=now,
    ))


def _unsubscribe(session: Session, result: InboundResult, done: _Done, *, now: datetime) -> None:
    # The same rules as the one-click and web unsubscribe (one place).
    assert result.subscriber_id is not None
    if session.get(Subscriber, result.subscriber_id) is None:
        done.notes.append(f"subscriber {result.subscriber_id} no longer exists")
        return
    changed = unsubscribe(
        session=session, subscriber_id=result.subscriber_id, list_id=result.list_id,
        source="mailto",
    )
    if not changed:
        done.notes.append("already unsubscribed: no change")
        return
    ml = session.get(MailingList, result.list_id) if result.list_id is not None else None
    where = ml.name if ml else "all lists" if result.list_id is None else f"list {result.list_id}"
    done.notes.append(f"unsubscribed from {where}")
