"""Read model of one send's progress: counts per state, rate, ETA, later joiners.

What `mailer status`, the admin's send page and the API's send resource show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from mailer.delivery import ledger
from mailer.delivery.states import OPEN_DELIVERY
from mailer.i18n import _
from mailer.models import (
    DeliveryStatus,
    Membership,
    SendList,
    SendStatus,
    Subscriber,
    SubscriberStatus,
)
from mailer.services.errors import not_found
from mailer.services.retention import parse_counts

SEND = ledger.SEND
D = ledger.D


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    eta_seconds: float | None  # None unless running and moving
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

    @property
    def unknown(self) -> int:
        """Messages whose outcome SMTP left unknowable (the relay took the data
        and never answered), shown as 「結果不明（SMTP 応答なし）」; never sent again."""
        return self.counts[DeliveryStatus.UNKNOWN]

    @property
    def done(self) -> int:
        """Rows in a final state (sent, failed, skipped, cancelled, unknown)."""
        return sum(n for s, n in self.counts.items() if s not in OPEN_DELIVERY)


def _utc(v: datetime | None) -> datetime | None:
    return None if v is None else (v if v.tzinfo else v.replace(tzinfo=UTC))


def send_progress(*, engine: Engine, send_id: int, now: datetime | None = None) -> SendProgress:
    """Return counts per state, rate, ETA and later joiners for a send."""
    now = now or utcnow()
    with engine.connect() as conn:
        s = conn.execute(select(SEND).where(SEND.c.id == send_id)).one_or_none()
        if s is None:
            raise not_found(_("配信 {send_id} はありません").format(send_id=send_id))
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
    status = SendStatus(s.status)
    # Only a running send is moving: a paused one has no time left to estimate.
    eta = remaining / rate if rate > 0 and status is SendStatus.RUNNING else None
    return SendProgress(
        send_id=s.id,
        part_id=s.part_id,
        status=status,
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

