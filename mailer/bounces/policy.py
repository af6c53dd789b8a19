"""One bounce rule for every bounce: SMTP-time rejections and inbound DSNs.

`is_soft_status` decides hard or soft from an enhanced status code (the rule
of docs/bounces.md); `smtp_reply_is_hard` applies it to an SMTP reply;
`apply_bounce` does what a bounce does to the subscriber, whichever door it
came through:

- hard: the delivered-to address is suppressed; the subscriber becomes
  `bounced` if `active` and still at that address; one `bounced` event.
- soft: one `soft-bounce` event; `soft_limit` of them within the window
  bounce the subscriber as above.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, insert, select, update

from mailer.models import Subscriber, SubscriberEvent, SubscriberStatus
from mailer.services.suppression import add_suppression, normalise

SUB = Subscriber.__table__  # type: ignore[attr-defined]
EVT = SubscriberEvent.__table__  # type: ignore[attr-defined]

#: Permanent (5.x.x) codes counted as soft bounces. X.2.2 "mailbox full" is
#: a persistent transient condition (RFC 3463 allows it in either class), and
#: X.7.x are policy refusals of *our* mail (blocklists, spam filters): one of
#: them must not suppress a working address, but `soft_limit` of them will.
SOFT_PERMANENT = re.compile(r"^5\.(2\.2|7\.\d{1,3})$")
#: Basic replies that name a dead mailbox when no enhanced code is given
#: (550 mailbox unavailable, 551 user not local, 553 mailbox name not allowed).
HARD_BASIC = frozenset({"550", "551", "553"})
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_BASIC = re.compile(r"^\s*([45]\d\d)")

SOFT_LIMIT = 3
SOFT_WINDOW = timedelta(days=30)


def is_soft_status(status: str) -> bool:
    """Return True if an enhanced status code is a soft bounce (4.x.x, 5.2.2, 5.7.x)."""
    return status.startswith("4.") or bool(SOFT_PERMANENT.match(status))


def smtp_reply_is_hard(reply: str) -> bool:
    """Return True if a permanent SMTP reply is a hard bounce.

    The enhanced code decides, as for a DSN; without one, 550/551/553 are
    hard and any other 5xx soft.
    """
    m = _ENHANCED.search(reply)
    if m:
        return not is_soft_status(".".join(m.groups()))
    basic = _BASIC.match(reply)
    return bool(basic) and basic.group(1) in HARD_BASIC  # type: ignore[union-attr]


def apply_bounce(
    conn: Connection, *, subscriber_id: int, delivery_id: int | None, delivered_to: str,
    hard: bool, detail: str, source: str, now: datetime, soft_limit: int = SOFT_LIMIT,
    soft_window: timedelta = SOFT_WINDOW,
) -> list[str]:
    """Apply one hard or soft bounce of `delivered_to`; return notes for people.

    `source` is the event's source ("smtp" at send time, "bounce" inbound).
    The caller holds the subscriber row (locked on PostgreSQL, or SQLite's
    write lock) so two bounces at once act one after the other.
    """
    notes: list[str] = []
    if not hard:
        _event(conn, subscriber_id, "soft-bounce", detail, source, delivery_id, now)
        count = conn.execute(select(func.count()).select_from(EVT).where(
            EVT.c.subscriber_id == subscriber_id, EVT.c.kind == "soft-bounce",
            EVT.c.created_at > now - soft_window,
        )).scalar_one()
        days = soft_window.days
        notes.append(f"soft bounce {count} of {soft_limit} in {days} days")
        status = conn.execute(select(SUB.c.status).where(SUB.c.id == subscriber_id)).scalar()
        if count < soft_limit or status != SubscriberStatus.ACTIVE.value:
            return notes
        detail = f"{count} soft bounces in {days} days, last {detail}"
        reason = f"soft bounces: {detail}"
    else:
        reason = f"hard bounce: {detail}"
    if add_suppression(conn, email=delivered_to, reason=reason, source=source, now=now):
        notes.append(f"suppressed {delivered_to}")
    sub = conn.execute(select(SUB.c.email, SUB.c.status).where(SUB.c.id == subscriber_id)).first()
    if sub is None:
        return notes
    if normalise(sub.email) != normalise(delivered_to):
        # The ledger froze the old address: only that one is dead.
        notes.append(f"subscriber now uses {sub.email}: status unchanged")
    elif sub.status == SubscriberStatus.ACTIVE.value:
        conn.execute(update(SUB).where(SUB.c.id == subscriber_id,
                                       SUB.c.status == SubscriberStatus.ACTIVE.value)
                     .values(status=SubscriberStatus.BOUNCED.value, updated_at=now))
        notes.append("subscriber bounced")
    else:
        notes.append(f"subscriber stays {sub.status}")
    _event(conn, subscriber_id, "bounced", detail, source, delivery_id, now)
    return notes


def _event(conn: Connection, sid: int, kind: str, detail: str, source: str,
           delivery_id: int | None, now: datetime) -> None:
    conn.execute(insert(EVT).values(subscriber_id=sid, kind=kind, detail=detail[:500],
                                    source=source, delivery_id=delivery_id, created_at=now))
