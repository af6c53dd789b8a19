"""The delivery ledger: freeze recipients, claim rows, record outcomes.

Set-based statements only; every claim is a conditional UPDATE whose returned
rows decide who owns a delivery (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite:
the whole transaction runs under BEGIN IMMEDIATE, see mailer.db).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Exists,
    Row,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from mailer.bounces.policy import apply_bounce, smtp_reply_is_hard
from mailer.delivery.states import CLAIMABLE, OPEN_DELIVERY, delivery_transition
from mailer.models import (
    Delivery,
    DeliveryStatus,
    Membership,
    Send,
    SendOverlap,
    SendStatus,
    Subscriber,
    SubscriberEvent,
    SubscriberStatus,
    Suppression,
)
from mailer.services.suppression import suppressed_clause

D = Delivery.__table__  # type: ignore[attr-defined]
SUB = Subscriber.__table__  # type: ignore[attr-defined]
MEM = Membership.__table__  # type: ignore[attr-defined]
SUP = Suppression.__table__  # type: ignore[attr-defined]
SEND = Send.__table__  # type: ignore[attr-defined]
EVT = SubscriberEvent.__table__  # type: ignore[attr-defined]

# Every status change this module makes, checked against the state table
# when it is imported (mailer.delivery.states).
_S = DeliveryStatus
#: a batch claims due rows, one status at a time (see claim_batch)
CLAIM = {s: delivery_transition(_S.SENDING, from_=s) for s in CLAIMABLE}
#: a claimed row whose subscriber left or was suppressed meanwhile
SKIP = delivery_transition(_S.SKIPPED, from_=_S.SENDING)
#: an outcome, or a row handed back unsent (PENDING)
RECORD = delivery_transition(
    (_S.SENT, _S.DEFERRED, _S.FAILED, _S.UNKNOWN, _S.PENDING), from_=_S.SENDING
)
#: accepted by a relay (an outcome, or found in the accepted-journal by the sweeper)
ACCEPTED = delivery_transition(_S.SENT, from_=_S.SENDING)
#: the sweeper takes back a row whose lease expired
TAKE_BACK = delivery_transition(_S.PENDING, from_=_S.SENDING)
#: rows still waiting when their send was cancelled
CANCEL_LEFT = delivery_transition(_S.CANCELLED, from_=CLAIMABLE)


@dataclass(frozen=True)
class ClaimedRow:
    """A ledger row this worker now owns, with what is needed to render it."""

    delivery_id: int
    subscriber_id: int
    email: str
    attempts: int
    message_id: str
    name: str
    honorific: str
    format: str
    charset: str


#: a subscriber holds a part when a row of it was sent or is still owed an
#: attempt, or its outcome is unknown (the relay may have it: sending it again
#: could be a duplicate); failed, skipped and cancelled rows do not count
#: (they never got it)
HOLDING = (_S.SENT, _S.UNKNOWN, *OPEN_DELIVERY)


def holding_part(part_id: int, subscriber_id: Any) -> Exists:
    """EXISTS: the subscriber was sent the part, or a send still owes it to them."""
    return exists().where(and_(D.c.part_id == part_id, D.c.subscriber_id == subscriber_id,
                               D.c.status.in_([st.value for st in HOLDING])))


def held_through_another_send(part_id: int, send_id: int) -> Exists:
    """EXISTS, for a row of `send_id`: its subscriber holds the part through a
    row of another send (sent, or still owed). Resending such a failed row
    would mail the part twice."""
    other = D.alias("other")
    return exists().where(and_(other.c.part_id == part_id,
                               other.c.subscriber_id == D.c.subscriber_id,
                               other.c.send_id != send_id,
                               other.c.status.in_([st.value for st in HOLDING])))


def eligible(list_ids: Sequence[int], part_id: int, *, again: bool) -> list[ColumnElement[bool]]:
    """The conditions on `subscriber` rows a send freezes as recipients:
    active, on one of the lists, not suppressed, and (unless `again`) not
    holding the part. The freeze and the scheduling preview share them."""
    s = SUB
    member = exists().where(and_(MEM.c.subscriber_id == s.c.id, MEM.c.list_id.in_(list(list_ids))))
    # By the stored hash of the normalised address: any case, and erased
    # addresses (hash only) too; a hash anti-join on PostgreSQL.
    clauses = [s.c.status == SubscriberStatus.ACTIVE.value, member,
               ~suppressed_clause(s.c.email_hash)]
    if not again:
        # A NOT EXISTS the (part_id, subscriber_id, send_id) key answers: an
        # anti-join on PostgreSQL, one index probe per subscriber on SQLite.
        clauses.append(~holding_part(part_id, s.c.id))
    return clauses


def freeze_recipients(
    conn: Connection, *, send_id: int, part_id: int, list_ids: Sequence[int], now: datetime
) -> int:
    """Insert one pending row per eligible subscriber of the lists; return how many.

    Eligible: active, not suppressed, and (unless the send's `overlap` is
    `again`) not already holding this part: sent, or still owed an attempt by
    another send (`HOLDING`). A subscriber on two lists gets one row. One
    INSERT … SELECT; the unique key (part, subscriber, send) backs it up.
    """
    if not list_ids:
        return 0
    again = conn.execute(
        select(SEND.c.overlap).where(SEND.c.id == send_id)
    ).scalar() == SendOverlap.AGAIN.value
    s = SUB
    source = select(
        literal(send_id),
        literal(part_id),
        s.c.id,
        s.c.email,
        literal(DeliveryStatus.PENDING.value),
        literal(0),
        literal(""),
        literal(""),
        literal(""),
        literal(now, D.c.created_at.type),
        literal(now, D.c.updated_at.type),
    ).where(*eligible(list_ids, part_id, again=again))
    cols = [
        "send_id",
        "part_id",
        "subscriber_id",
        "email",
        "status",
        "attempts",
        "last_error",
        "message_id",
        "relay",
        "created_at",
        "updated_at",
    ]
    dialect = conn.dialect.name
    ins = (postgresql.insert(D) if dialect == "postgresql" else sqlite.insert(D)).from_select(
        cols, source
    )
    ins = ins.on_conflict_do_nothing(index_elements=["part_id", "subscriber_id", "send_id"])
    inserted = conn.execute(ins).rowcount
    if inserted is not None and inserted >= 0:  # psycopg and sqlite3 report it
        return int(inserted)
    return int(conn.execute(select(func.count()).where(D.c.send_id == send_id)).scalar_one())


def _claim(
    conn: Connection,
    send_id: int,
    status: DeliveryStatus,
    limit: int,
    *,
    now: datetime,
    lease: timedelta,
    lease_token: str = "",
    after_id: int = 0,
) -> list[Row[Any]]:
    claim = CLAIM[status]
    due = (
        select(D.c.id)
        .where(
            D.c.send_id == send_id,
            claim.guard(D.c.status),
            or_(D.c.next_attempt_at.is_(None), D.c.next_attempt_at <= now),
            exists().where(and_(SEND.c.id == send_id, SEND.c.status == SendStatus.RUNNING.value)),
        )
        .order_by(D.c.id)
        .limit(limit)
    )
    if after_id:
        due = due.where(D.c.id > after_id)
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    stmt = (
        update(D)
        .where(D.c.id.in_(due.scalar_subquery()))
        .values(
            **claim.values(
                attempts=D.c.attempts + 1,
                lease_until=now + lease,
                lease_token=lease_token,
                updated_at=now,
            )
        )
        .returning(D.c.id, D.c.subscriber_id, D.c.email, D.c.attempts, D.c.message_id)
    )
    return list(conn.execute(stmt).all())


def claim_batch(
    conn: Connection,
    *,
    send_id: int,
    limit: int,
    now: datetime,
    lease: timedelta,
    new_message_id: Callable[[int], str] | None = None,
    after_id: int = 0,
    lease_token: str = "",
) -> list[ClaimedRow]:
    """Move up to `limit` due rows of a running send to `sending`; return them.

    Rows whose subscriber has since unsubscribed, bounced or been suppressed
    are moved to `skipped` and not returned (checked again at send time).
    A row with no stored Message-ID gets `new_message_id(delivery_id)` when
    that is given (stored later with its outcome). `after_id` (the highest
    id this worker claimed before) is where fresh rows are looked for first;
    rows below it (handed back) are taken once none are left above it.
    `lease_token` (the batch's fencing token) is stored on every claimed row;
    `renew_leases` and `record_outcomes` match it.
    """
    # Due retries first, then fresh rows, each by one equality on status:
    # `status IN (pending, deferred) ORDER BY id` cannot walk the
    # (send_id, status, id) index in order, so PostgreSQL read and sorted
    # every open row of the send per claim (O(N) a batch; docs/performance.md).
    # Fresh rows after `after_id` first: the index keeps the `pending`
    # entries of rows already claimed until vacuum, and a claim from the
    # start of the range steps over all of them (14 ms instead of 6 ms per
    # claim late in a send of 1,000,000).
    claimed = _claim(
        conn, send_id, DeliveryStatus.DEFERRED, limit, now=now, lease=lease,
        lease_token=lease_token,
    )
    for after in (after_id, 0) if after_id else (0,):
        if len(claimed) >= limit:
            break
        claimed += _claim(
            conn,
            send_id,
            DeliveryStatus.PENDING,
            limit - len(claimed),
            now=now,
            lease=lease,
            lease_token=lease_token,
            after_id=after,
        )
    if not claimed:
        return []
    ids = [r.subscriber_id for r in claimed]
    subs = {
        r.id: r
        for r in conn.execute(
            select(
                SUB.c.id,
                SUB.c.email,
                SUB.c.name,
                SUB.c.honorific,
                SUB.c.format,
                SUB.c.charset,
                SUB.c.status,
                suppressed_clause(SUB.c.email_hash).label("suppressed"),
            ).where(SUB.c.id.in_(ids))
        )
    }
    rows: list[ClaimedRow] = []
    skipped: list[int] = []
    for r in sorted(claimed, key=lambda r: r.id):
        sub = subs.get(r.subscriber_id)
        if sub is None or sub.status != SubscriberStatus.ACTIVE.value or sub.suppressed:
            skipped.append(r.id)
            continue
        rows.append(
            ClaimedRow(
                delivery_id=r.id,
                subscriber_id=r.subscriber_id,
                email=r.email,
                attempts=r.attempts,
                message_id=r.message_id
                or (new_message_id(r.id) if new_message_id is not None else ""),
                name=sub.name,
                honorific=sub.honorific,
                format=sub.format,
                charset=sub.charset,
            )
        )
    if skipped:
        conn.execute(
            SKIP.update(
                D,
                D.c.id.in_(skipped),
                lease_until=None,
                updated_at=now,
                last_error="unsubscribed or suppressed before sending",
            )
        )
    return rows


def renew_leases(
    conn: Connection,
    *,
    ids: Sequence[int],
    lease_token: str,
    now: datetime,
    lease: timedelta,
) -> set[int]:
    """Extend the lease of the rows a batch still holds; return their ids.

    One UPDATE for the whole batch (by primary key). A row is held while it
    is `sending` under this claim's token: a row missing from the answer was
    taken back by the sweeper (and maybe claimed by another batch), and the
    caller must not send it. The status is not changed.
    """
    if not ids:
        return set()
    stmt = (
        update(D)
        .where(
            D.c.id.in_(list(ids)),
            D.c.status == DeliveryStatus.SENDING.value,
            D.c.lease_token == lease_token,
        )
        .values(lease_until=now + lease, updated_at=now)
        .returning(D.c.id)
    )
    return set(conn.execute(stmt).scalars())


@dataclass(frozen=True)
class Outcome:
    """What happened to one claimed row."""

    delivery_id: int
    status: DeliveryStatus  # SENT, DEFERRED, FAILED, PENDING (released)
    error: str = ""
    relay: str = ""
    next_attempt_at: datetime | None = None
    refund_attempt: bool = False  # released without trying: the attempt does not count
    smtp_rejected: bool = False  # a 5xx reply: recorded as a bounce too
    code: int | None = None  # the SMTP reply code behind it (metrics)
    #: the Message-ID the attempt used ("" keeps the stored one)
    message_id: str = ""


# PostgreSQL: the whole group in one statement, its columns as arrays. One
# statement per row (executemany) cost the database more CPU than the rest of
# the send together, and a VALUES list is compiled anew for every group
# (docs/performance.md); this text is parsed once per connection. Each statement
# exists twice: fenced (a batch's outcomes, `AND d.lease_token = :token`) and not.
_FENCE = " AND d.lease_token = :token"
_PG_RECORD_OUTCOMES = (
    f"""
    UPDATE {D.name} AS d SET
        {RECORD.sql_set("o.status")},
        last_error = CASE WHEN o.status = '{_S.SENT.value}' THEN ''
                          WHEN o.error = '' THEN d.last_error ELSE o.error END,
        relay = o.relay,
        next_attempt_at = o.next_at,
        sent_at = o.sent_at,
        attempts = d.attempts - o.refund,
        message_id = CASE WHEN o.mid = '' THEN d.message_id ELSE o.mid END,
        lease_until = NULL,
        updated_at = :now
    FROM unnest(
        CAST(:ids AS integer[]), CAST(:statuses AS varchar[]), CAST(:errors AS varchar[]),
        CAST(:relays AS varchar[]), CAST(:next_ats AS timestamptz[]),
        CAST(:sent_ats AS timestamptz[]), CAST(:refunds AS integer[]), CAST(:mids AS varchar[])
    ) AS o(id, status, error, relay, next_at, sent_at, refund, mid)
    WHERE d.id = o.id AND {RECORD.sql_guard("d.status")}"""
)
_PG_RECORD_OUTCOMES_BY = {
    False: text(_PG_RECORD_OUTCOMES), True: text(_PG_RECORD_OUTCOMES + _FENCE)
}

# The common group: messages a relay accepted, first try or not. Only their
# ids and Message-IDs differ, so only those travel as arrays (the statement
# above dumps eight arrays per group, most of them constant).
_PG_RECORD_SENT = (
    f"""
    UPDATE {D.name} AS d SET
        {ACCEPTED.sql_set()},
        last_error = '',
        relay = :relay,
        next_attempt_at = NULL,
        sent_at = :now,
        message_id = CASE WHEN o.mid = '' THEN d.message_id ELSE o.mid END,
        lease_until = NULL,
        updated_at = :now
    FROM unnest(CAST(:ids AS integer[]), CAST(:mids AS varchar[])) AS o(id, mid)
    WHERE d.id = o.id AND {ACCEPTED.sql_guard("d.status")}"""
)
_PG_RECORD_SENT_BY = {False: text(_PG_RECORD_SENT), True: text(_PG_RECORD_SENT + _FENCE)}

# SQLite (in-process, no round trips): one cached statement, executemany.
_RECORD_VALUES: dict[str, Any] = dict(
    status=bindparam("b_status"),
    last_error=case(
        (bindparam("b_status") == _S.SENT.value, ""),
        (bindparam("b_error") == "", D.c.last_error),
        else_=bindparam("b_error"),
    ),
    relay=bindparam("b_relay"),
    next_attempt_at=bindparam("b_next", type_=D.c.next_attempt_at.type),
    sent_at=bindparam("b_sent", type_=D.c.sent_at.type),
    attempts=D.c.attempts - bindparam("b_refund"),
    message_id=case((bindparam("b_mid") == "", D.c.message_id), else_=bindparam("b_mid")),
    lease_until=None,
    updated_at=bindparam("b_now", type_=D.c.updated_at.type),
)
_RECORD_OUTCOME_BY = {
    False: RECORD.update(D, D.c.id == bindparam("b_id"), **_RECORD_VALUES),
    True: RECORD.update(
        D,
        D.c.id == bindparam("b_id"),
        D.c.lease_token == bindparam("b_token"),
        **_RECORD_VALUES,
    ),
}


def record_outcomes(
    conn: Connection,
    outcomes: Sequence[Outcome],
    *,
    now: datetime,
    lease_token: str | None = None,
) -> int:
    """Write outcomes for rows still in `sending`; return rows changed.

    With `lease_token` (a batch's fencing token) only rows still held under
    that claim are written: a worker that stalled past its lease cannot
    write over the batch that claimed its rows after the sweeper.

    A success clears the row's last error: a sent delivery carries none
    (why earlier tries were deferred or handed back is history, not an
    error; `attempts` still counts them). Any other outcome with an empty
    error keeps the stored one. The `status = 'sending'` guard means a row the sweeper already
    took back (lease expired) is not overwritten by a late worker. Raises
    TransitionError (nothing written) if an outcome's status is not one a
    sending row may take (RECORD).
    """
    if not outcomes:
        return 0
    # The statuses of the group as a set: the edges were checked at import,
    # this only checks that the bound values stay on them.
    RECORD.check_targets({o.status for o in outcomes})
    if conn.dialect.name == "postgresql":
        return _record_outcomes_pg(conn, outcomes, now=now, lease_token=lease_token)
    keys = ("b_id", "b_status", "b_error", "b_relay", "b_next", "b_sent", "b_refund", "b_mid")
    fence = {} if lease_token is None else {"b_token": lease_token}
    result = conn.execute(
        _RECORD_OUTCOME_BY[lease_token is not None],
        [
            {**dict(zip(keys, _values(o, now), strict=True)), "b_now": now, **fence}
            for o in outcomes
        ],
    )
    return int(result.rowcount or 0)


def _values(o: Outcome, now: datetime) -> tuple[Any, ...]:
    """One outcome's column values, in the order both statements take them."""
    return (
        o.delivery_id,
        o.status.value,
        o.error[:500],
        o.relay,
        o.next_attempt_at,
        now if o.status is DeliveryStatus.SENT else None,
        1 if o.refund_attempt else 0,
        o.message_id,
    )


def _record_outcomes_pg(
    conn: Connection, outcomes: Sequence[Outcome], *, now: datetime, lease_token: str | None
) -> int:
    """Accepted messages by the two-array statement (per relay), the rest by
    the general one."""
    accepted: dict[str, list[Outcome]] = {}  # by relay
    others: list[Outcome] = []
    for o in outcomes:
        if o.status is DeliveryStatus.SENT and not (o.error or o.refund_attempt):
            accepted.setdefault(o.relay, []).append(o)
        else:
            others.append(o)
    changed = 0
    fenced = lease_token is not None
    fence = {"token": lease_token} if fenced else {}
    for relay, group in accepted.items():
        result = conn.execute(
            _PG_RECORD_SENT_BY[fenced],
            {
                **fence,
                "ids": [o.delivery_id for o in group],
                "mids": [o.message_id for o in group],
                "relay": relay,
                "now": now,
            },
        )
        changed += int(result.rowcount or 0)
    if others:
        columns = list(zip(*(_values(o, now) for o in others), strict=True))
        names = ("ids", "statuses", "errors", "relays", "next_ats", "sent_ats", "refunds", "mids")
        params: dict[str, Any] = {n: list(c) for n, c in zip(names, columns, strict=True)}
        result = conn.execute(_PG_RECORD_OUTCOMES_BY[fenced], {**params, "now": now, **fence})
        changed += int(result.rowcount or 0)
    return changed


def record_smtp_bounce(
    conn: Connection,
    *,
    delivery_id: int,
    subscriber_id: int,
    email: str,
    reply: str,
    now: datetime,
) -> bool:
    """Record a permanent SMTP rejection as a bounce, by the one bounce rule
    (mailer.bounces.policy, the same as for an inbound DSN); return True if
    it was hard (the address is suppressed and the subscriber bounced)."""
    hard = smtp_reply_is_hard(reply)
    # Lock the subscriber as the inbound path does (PostgreSQL; SQLite holds
    # the write lock already), so soft bounces are counted one at a time.
    conn.execute(select(SUB.c.id).where(SUB.c.id == subscriber_id).with_for_update())
    apply_bounce(conn, subscriber_id=subscriber_id, delivery_id=delivery_id, delivered_to=email,
                 hard=hard, detail=reply[:400], source="smtp", now=now)
    return hard


def release_expired_leases(
    conn: Connection,
    *,
    now: datetime,
    accepted: Callable[[int, list[int]], set[int]] | None = None,
    taken: dict[int, tuple[int, int]] | None = None,
) -> int:
    """Take back rows left in `sending` by a dead worker; return how many.

    Rows the accepted-journal knows the relay took are marked `sent`; the
    rest return to `pending` for another attempt. `taken`, if given, gets
    per send: (rows back to `pending`, rows found `sent` in the journal).
    """
    query = select(D.c.id, D.c.send_id).where(
        D.c.status == DeliveryStatus.SENDING.value, D.c.lease_until < now
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    expired = conn.execute(query).all()
    if not expired:
        return 0
    by_send: dict[int, list[int]] = {}
    for row in expired:
        by_send.setdefault(row.send_id, []).append(row.id)
    sent: set[int] = set()
    if accepted is not None:
        for send_id, ids in by_send.items():
            sent |= accepted(send_id, ids)
    back = [row.id for row in expired if row.id not in sent]
    if taken is not None:
        for send_id, ids in by_send.items():
            n_sent = sum(1 for i in ids if i in sent)
            taken[send_id] = (len(ids) - n_sent, n_sent)
    if sent:
        conn.execute(
            ACCEPTED.update(
                D,
                D.c.id.in_(sorted(sent)),
                sent_at=now,
                lease_until=None,
                updated_at=now,
                last_error="",  # sent: no error (a sent delivery carries none)
            )
        )
    if back:
        conn.execute(
            TAKE_BACK.update(
                D,
                D.c.id.in_(back),
                lease_until=None,
                updated_at=now,
                last_error="lease expired: worker stopped before recording an outcome",
            )
        )
        for send_id in by_send:
            cancel_left_rows(conn, send_id, now=now)
    return len(expired)


def cancel_left_rows(conn: Connection, send_id: int, *, now: datetime) -> int:
    """If the send was cancelled, cancel its rows still waiting; return how many.

    Cancelling a send cancels its waiting rows at once, but rows in flight
    come back to `pending` later (a batch handing them back, the sweeper);
    this closes them too, so a cancelled send owes nothing.
    """
    cancelled = exists().where(
        and_(SEND.c.id == send_id, SEND.c.status == SendStatus.CANCELLED.value)
    )
    result = conn.execute(
        CANCEL_LEFT.update(
            D, D.c.send_id == send_id, cancelled, next_attempt_at=None, updated_at=now
        )
    )
    return int(result.rowcount or 0)


def count_by_status(conn: Connection, send_id: int) -> dict[DeliveryStatus, int]:
    """Return the number of ledger rows of a send in each status."""
    counts = {s: 0 for s in DeliveryStatus}
    for status, n in conn.execute(
        select(D.c.status, func.count()).where(D.c.send_id == send_id).group_by(D.c.status)
    ):
        counts[DeliveryStatus(status)] = int(n)
    return counts


def open_rows(conn: Connection, send_id: int, *, limit: int | None = None) -> int:
    """Rows of a send still owed an attempt (at most `limit`, which keeps the
    dispatcher's once-a-second question cheap at a million rows)."""
    query = select(D.c.id).where(
        D.c.send_id == send_id, D.c.status.in_([s.value for s in OPEN_DELIVERY])
    )
    return _count(conn, query, limit)


def due_rows(conn: Connection, send_id: int, now: datetime, *, limit: int | None = None) -> int:
    """Rows of a send that may be claimed now (at most `limit`)."""
    query = select(D.c.id).where(
        D.c.send_id == send_id,
        D.c.status.in_([s.value for s in CLAIMABLE]),
        or_(D.c.next_attempt_at.is_(None), D.c.next_attempt_at <= now),
    )
    return _count(conn, query, limit)


def leased_rows(conn: Connection, send_id: int, now: datetime, *,
                limit: int | None = None) -> int:
    """Rows of a send a batch holds under a live lease (at most `limit`)."""
    query = select(D.c.id).where(
        D.c.send_id == send_id,
        D.c.status == DeliveryStatus.SENDING.value,
        D.c.lease_until >= now,
    )
    return _count(conn, query, limit)


def _count(conn: Connection, query: Select[Any], limit: int | None) -> int:
    if limit is not None:
        query = query.limit(limit)
    return int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())
