"""Sends: schedule, pause, resume, cancel, resend the failed, and progress.

Data functions are keyword-only and receive the engine or session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select, update
from sqlmodel import Session, col

from mailer.delivery import ledger
from mailer.delivery.states import SEND_TRANSITIONS
from mailer.models import (
    Delivery,
    DeliveryStatus,
    MailingList,
    Membership,
    Part,
    Send,
    SendList,
    SendStatus,
    Subscriber,
    SubscriberStatus,
)
from mailer.services.retention import parse_counts

SEND = ledger.SEND
D = ledger.D


class SendError(ValueError):
    """A request about a send that cannot be carried out; the message says why."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_send(
    *,
    session: Session,
    part_id: int,
    list_names: Sequence[str],
    at: datetime | None = None,
    created_by: str = "",
) -> Send:
    """Schedule a part to one or more lists at `at` (now if None); return the Send.

    Raises SendError naming an unknown part or list.
    """
    if session.get(Part, part_id) is None:
        raise SendError(f"part {part_id}: no such part (see `mailer status`)")
    if not list_names:
        raise SendError("--list: at least one list is required")
    lists = []
    for name in list_names:
        ml = (
            session.exec(  # type: ignore[call-overload]
                select(MailingList).where(col(MailingList.name) == name)
            )
            .scalars()
            .first()
        )
        if ml is None:
            raise SendError(f"--list {name}: no such list")
        lists.append(ml)
    when = (at or utcnow()).astimezone(UTC)
    send = Send(part_id=part_id, scheduled_at=when, created_by=created_by)
    session.add(send)
    session.flush()
    for ml in lists:
        session.add(SendList(send_id=send.id, list_id=ml.id))  # type: ignore[arg-type]
    session.flush()
    return send


def _transition(
    engine: Engine,
    send_id: int,
    new: SendStatus,
    *,
    note: str | None = None,
    allowed: Sequence[SendStatus] | None = None,
) -> SendStatus:
    with engine.begin() as conn:
        cur = conn.execute(
            select(SEND.c.status, SEND.c.started_at).where(SEND.c.id == send_id)
        ).one_or_none()
        if cur is None:
            raise SendError(f"send {send_id}: no such send")
        old = SendStatus(cur.status)
        if old == new:
            return new
        ok = (
            allowed
            if allowed is not None
            else [s for s, nxt in SEND_TRANSITIONS.items() if new in nxt]
        )
        if old not in ok or new not in SEND_TRANSITIONS[old]:
            raise SendError(f"send {send_id} is {old}; it cannot become {new}")
        values: dict[str, object] = {"status": new.value, "updated_at": utcnow()}
        if note is not None:
            values["note"] = note
        res = conn.execute(
            update(SEND).where(SEND.c.id == send_id, SEND.c.status == old.value).values(**values)
        )
        if res.rowcount != 1:
            raise SendError(f"send {send_id} changed while updating; try again")
        if new is SendStatus.CANCELLED:
            conn.execute(
                update(D)
                .where(
                    D.c.send_id == send_id,
                    D.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.DEFERRED.value]),
                )
                .values(
                    status=DeliveryStatus.CANCELLED.value, updated_at=utcnow(), next_attempt_at=None
                )
            )
    return new


def approve_send(
    *, engine: Engine, send_id: int, approver: str, require_other: bool = True
) -> None:
    """Approve a scheduled or paused send. With `require_other`, the person who
    created it cannot approve it. Raises SendError saying why not."""
    if not approver:
        raise SendError("an approver name is required")
    with engine.begin() as conn:
        row = conn.execute(
            select(SEND.c.status, SEND.c.created_by, SEND.c.approved_by).where(SEND.c.id == send_id)
        ).one_or_none()
        if row is None:
            raise SendError(f"send {send_id}: no such send")
        if row.status not in (SendStatus.SCHEDULED, SendStatus.PAUSED):
            raise SendError(f"send {send_id} is {row.status}; only a waiting send can be approved")
        if require_other and row.created_by and row.created_by == approver:
            raise SendError(
                f"send {send_id} was created by {approver}; someone else must approve it"
            )
        conn.execute(
            update(SEND)
            .where(SEND.c.id == send_id)
            .values(approved_by=approver, approved_at=utcnow(), updated_at=utcnow())
        )


def pause_send(*, engine: Engine, send_id: int) -> SendStatus:
    """Pause a scheduled or running send; in-flight batches stop at their next check."""
    return _transition(engine, send_id, SendStatus.PAUSED, note="paused by request")


def resume_send(*, engine: Engine, send_id: int) -> SendStatus:
    """Resume a paused send (back to scheduled if it never started)."""
    with engine.connect() as conn:
        started = conn.execute(select(SEND.c.started_at).where(SEND.c.id == send_id)).scalar()
    target = SendStatus.RUNNING if started else SendStatus.SCHEDULED
    return _transition(engine, send_id, target, note="")


def cancel_send(*, engine: Engine, send_id: int) -> SendStatus:
    """Cancel a send; rows not yet sent become cancelled."""
    return _transition(engine, send_id, SendStatus.CANCELLED, note="cancelled by request")


def resend_failed(*, engine: Engine, send_id: int) -> int:
    """Return failed rows to pending and reopen the send; return how many."""
    with engine.begin() as conn:
        status = conn.execute(select(SEND.c.status).where(SEND.c.id == send_id)).scalar()
        if status is None:
            raise SendError(f"send {send_id}: no such send")
        if status not in (SendStatus.DONE.value, SendStatus.RUNNING.value, SendStatus.PAUSED.value):
            raise SendError(
                f"send {send_id} is {status}; only a started send has failures to resend"
            )
        n = conn.execute(
            update(D)
            .where(D.c.send_id == send_id, D.c.status == DeliveryStatus.FAILED.value)
            .values(status=DeliveryStatus.PENDING.value, next_attempt_at=None, updated_at=utcnow())
        ).rowcount
        if n and status == SendStatus.DONE.value:
            conn.execute(
                update(SEND)
                .where(SEND.c.id == send_id, SEND.c.status == SendStatus.DONE.value)
                .values(
                    status=SendStatus.RUNNING.value,
                    finished_at=None,
                    updated_at=utcnow(),
                    note=f"resending {n} failed deliveries",
                )
            )
    return int(n or 0)


@dataclass(frozen=True)
class SendProgress:
    """The numbers `mailer status` and the web dashboard show for one send."""

    send_id: int
    part_id: int
    status: SendStatus
    scheduled_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    recipients: int
    counts: dict[DeliveryStatus, int]
    rate_per_second: float  # sent over the last minute
    eta_seconds: float | None
    later_joiners: int  # active list members not in the frozen ledger
    note: str
    created_by: str = ""
    approved_by: str = ""

    @property
    def accounted(self) -> bool:
        """True when every frozen recipient is in a final state."""
        open_ = sum(
            self.counts[s]
            for s in (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED)
        )
        return open_ == 0 and sum(self.counts.values()) == self.recipients


def _utc(v: datetime | None) -> datetime | None:
    return None if v is None else (v if v.tzinfo else v.replace(tzinfo=UTC))


def send_progress(*, engine: Engine, send_id: int, now: datetime | None = None) -> SendProgress:
    """Return counts per state, rate, ETA and later joiners for a send."""
    now = now or utcnow()
    with engine.connect() as conn:
        s = conn.execute(select(SEND).where(SEND.c.id == send_id)).one_or_none()
        if s is None:
            raise SendError(f"send {send_id}: no such send")
        # Rows removed by compaction or erasure are kept as counts on the send.
        counts = ledger.count_by_status(conn, send_id)
        for key, n in parse_counts(s.counts_json).items():
            if key in DeliveryStatus.__members__.values():
                counts[DeliveryStatus(key)] += n
        recent = conn.execute(
            select(func.count()).where(
                D.c.send_id == send_id,
                D.c.status == DeliveryStatus.SENT.value,
                D.c.sent_at >= now - timedelta(seconds=60),
            )
        ).scalar_one()
        later = 0
        if s.started_at is not None:
            sl = SendList.__table__  # type: ignore[attr-defined]
            mem = Membership.__table__  # type: ignore[attr-defined]
            sub = Subscriber.__table__  # type: ignore[attr-defined]
            later = conn.execute(
                select(func.count(func.distinct(mem.c.subscriber_id)))
                .select_from(mem.join(sub, sub.c.id == mem.c.subscriber_id))
                .where(
                    mem.c.list_id.in_(select(sl.c.list_id).where(sl.c.send_id == send_id)),
                    sub.c.status == SubscriberStatus.ACTIVE.value,
                    ~select(D.c.id)
                    .where(D.c.part_id == s.part_id, D.c.subscriber_id == mem.c.subscriber_id)
                    .exists(),
                )
            ).scalar_one()
    started = _utc(s.started_at)
    elapsed = (now - started).total_seconds() if started else 0.0
    window = min(60.0, elapsed) if elapsed > 0 else 0.0
    rate = recent / window if window >= 1 else 0.0
    remaining = (
        counts[DeliveryStatus.PENDING]
        + counts[DeliveryStatus.SENDING]
        + counts[DeliveryStatus.DEFERRED]
    )
    eta = remaining / rate if rate > 0 else None
    return SendProgress(
        send_id=s.id,
        part_id=s.part_id,
        status=SendStatus(s.status),
        scheduled_at=_utc(s.scheduled_at) or now,
        started_at=started,
        finished_at=_utc(s.finished_at),
        recipients=s.recipients,
        counts=counts,
        rate_per_second=rate,
        eta_seconds=eta,
        later_joiners=int(later),
        note=s.note,
        created_by=s.created_by,
        approved_by=s.approved_by,
    )


def sends_for_part(*, engine: Engine, part_id: int) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(SEND.c.id).where(SEND.c.part_id == part_id).order_by(SEND.c.id)
            ).scalars()
        )


__all__ = ["Delivery"]
