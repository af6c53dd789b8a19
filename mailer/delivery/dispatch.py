"""The dispatcher, run by beat every few seconds.

It never waits for a send: it starts sends whose time has come (freezing
their recipients), hands running sends to batch workers, returns rows of dead
workers, and closes sends that have nothing left to do. Far-future sends live
only in the database, never as long Celery ETAs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update

from mailer.delivery import ledger
from mailer.delivery.journal import AcceptedJournal
from mailer.delivery.publish import publish_on_start
from mailer.delivery.states import send_transition
from mailer.i18n import _
from mailer.metrics import MetricsSink
from mailer.models import SendList, SendStatus

log = logging.getLogger(__name__)
SEND = ledger.SEND
#: how long a queued, not yet started batch holds back more batches of its
#: send (Coordinator.note_queued): far longer than a broker wait, far shorter
#: than the broker's visibility timeout (1 h)
QUEUED_TTL = 600.0
SL = SendList.__table__  # type: ignore[attr-defined]

# The send status changes the dispatcher makes (checked against the table at import).
START = send_transition(SendStatus.RUNNING, from_=SendStatus.SCHEDULED)
HOLD_FOR_PREFLIGHT = send_transition(SendStatus.PAUSED, from_=SendStatus.SCHEDULED)
FINISH = send_transition(SendStatus.DONE, from_=SendStatus.RUNNING)


class Coordinator:
    """Shared state between dispatchers and workers (Redis in production)."""

    def __init__(self, client: object, *, prefix: str = "mailer:") -> None:
        self.client = client
        self.prefix = prefix

    def acquire_dispatch_lock(self, ttl_seconds: float) -> str | None:
        """Return a token if this process may dispatch now, else None."""
        token = uuid.uuid4().hex
        ok = self.client.set(  # type: ignore[attr-defined]
            self.prefix + "dispatcher-lock", token, nx=True, px=int(ttl_seconds * 1000)
        )
        return token if ok else None

    def note_epoch(self) -> bool:
        """Return True if Redis had lost its data since the last tick (the
        epoch key was missing and is set again now): a FLUSHALL, or a restart
        without persistence, took the queue, the send-active marks and the
        accepted-journal with it. One GET per tick while nothing is lost."""
        key = self.prefix + "epoch"
        if self.client.get(key) is not None:  # type: ignore[attr-defined]
            return False
        return bool(self.client.set(key, uuid.uuid4().hex, nx=True))  # type: ignore[attr-defined]

    def release_dispatch_lock(self, token: str) -> None:
        # Delete only our own lock (compare-and-delete in one script).
        self.client.eval(  # type: ignore[attr-defined]
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
            " return 0",
            1,
            self.prefix + "dispatcher-lock",
            token,
        )

    def mark_workers_active(self, send_id: int, ttl_seconds: float) -> bool:
        """Return True if this call set the marker (so it should enqueue)."""
        return bool(
            self.client.set(  # type: ignore[attr-defined]
                f"{self.prefix}send-active:{send_id}", "1", nx=True, px=int(ttl_seconds * 1000)
            )
        )

    def refresh_workers_active(self, send_id: int, ttl_seconds: float) -> None:
        self.client.set(  # type: ignore[attr-defined]
            f"{self.prefix}send-active:{send_id}", "1", px=int(ttl_seconds * 1000)
        )

    def mark_stopping(self, hostname: str, ttl_seconds: float = 600) -> None:
        """Tell a worker's batches to hand back their rows (it is shutting down)."""
        self.client.set(  # type: ignore[attr-defined]
            f"{self.prefix}worker-stopping:{hostname}", "1", px=int(ttl_seconds * 1000)
        )

    def is_stopping(self, hostname: str) -> bool:
        try:
            return bool(self.client.exists(f"{self.prefix}worker-stopping:{hostname}"))  # type: ignore[attr-defined]
        except Exception:  # Redis gone: the broker is too, so no shutdown was asked
            return False

    def clear_stopping(self, hostname: str) -> None:
        self.client.delete(f"{self.prefix}worker-stopping:{hostname}")  # type: ignore[attr-defined]

    def clear_workers_active(self, send_id: int) -> None:
        self.client.delete(f"{self.prefix}send-active:{send_id}")  # type: ignore[attr-defined]

    # Batches queued for a send and not started yet. The send-active mark
    # lives one lease; a batch may wait longer than that in the broker (every
    # worker busy), and the dispatcher then queued more batches on top of it.
    # The count lives `ttl_seconds` after the last queueing, so a batch lost
    # with the broker holds the send back that long at most; the dispatcher
    # clears it when a dead worker's rows come back (what it had reserved
    # from the broker died with it).

    def note_queued(self, send_id: int, ttl_seconds: float) -> None:
        """One more batch of `send_id` is about to be queued."""
        key = f"{self.prefix}send-queued:{send_id}"
        pipe = self.client.pipeline()  # type: ignore[attr-defined]
        pipe.incr(key)
        pipe.pexpire(key, int(ttl_seconds * 1000))
        pipe.execute()

    def note_batch_started(self, send_id: int) -> None:
        """A queued batch of `send_id` started (or was not queued after all)."""
        self.client.eval(  # type: ignore[attr-defined]
            "if tonumber(redis.call('get', KEYS[1]) or '0') > 0 then"
            " return redis.call('decr', KEYS[1]) end return 0",
            1,
            f"{self.prefix}send-queued:{send_id}",
        )

    def queued_batches(self, send_id: int) -> int:
        got = self.client.get(f"{self.prefix}send-queued:{send_id}")  # type: ignore[attr-defined]
        return int(got or 0)

    def clear_queued(self, send_id: int) -> None:
        self.client.delete(f"{self.prefix}send-queued:{send_id}")  # type: ignore[attr-defined]


@dataclass
class DispatchReport:
    skipped: bool = False  # another dispatcher held the lock
    started: list[int] = field(default_factory=list)
    enqueued: dict[int, int] = field(default_factory=dict)
    finished: list[int] = field(default_factory=list)
    released_leases: int = 0
    #: per send: (rows taken back to `pending`, rows found sent in the journal)
    taken_back: dict[int, tuple[int, int]] = field(default_factory=dict)


def start_send(
    engine: Engine,
    send_id: int,
    *,
    now: datetime,
    preflight: Callable[[int], list[str]] | None = None,
) -> bool:
    """Move a due scheduled send to running, freeze its recipients and publish
    its part if it is not public yet.

    The conditional UPDATE decides which dispatcher starts it; the ledger
    insert and the publication happen in the same transaction. If the preflight check reports
    errors the send is paused with them as its note instead. Returns True if
    this call started it.
    """
    errors = preflight(send_id) if preflight else []
    with engine.begin() as conn:
        if errors:
            conn.execute(
                HOLD_FOR_PREFLIGHT.update(
                    SEND,
                    SEND.c.id == send_id,
                    updated_at=now,
                    note=_("事前チェックのエラー：{errors}").format(
                        errors="; ".join(errors)[:900]),
                )
            )
            return False
        res = conn.execute(START.update(SEND, SEND.c.id == send_id, started_at=now, updated_at=now))
        if res.rowcount != 1:
            return False
        part_id = conn.execute(select(SEND.c.part_id).where(SEND.c.id == send_id)).scalar_one()
        # The part goes public (archive, feed, images) with its first send.
        publish_on_start(conn, part_id=part_id, send_id=send_id, now=now)
        list_ids = list(conn.execute(select(SL.c.list_id).where(SL.c.send_id == send_id)).scalars())
        n = ledger.freeze_recipients(
            conn, send_id=send_id, part_id=part_id, list_ids=list_ids, now=now
        )
        conn.execute(update(SEND).where(SEND.c.id == send_id).values(recipients=n))
    log.info(
        _("配信 {send} を始めました: 宛先 {count} 件を確定しました").format(send=send_id, count=n)
    )
    return True


def finish_if_complete(engine: Engine, send_id: int, *, now: datetime) -> bool:
    """Mark a running send done when no row is owed an attempt; True if it did."""
    with engine.begin() as conn:
        if ledger.open_rows(conn, send_id, limit=1):
            return False
        res = conn.execute(
            FINISH.update(SEND, SEND.c.id == send_id, finished_at=now, updated_at=now)
        )
        return res.rowcount == 1


def dispatch(
    engine: Engine,
    coordinator: Coordinator,
    enqueue: Callable[[int], None],
    *,
    parallelism: int,
    interval: float,
    now: datetime | None = None,
    preflight: Callable[[int], list[str]] | None = None,
    journal: AcceptedJournal | None = None,
    require_approval: bool = False,
    metrics: MetricsSink | None = None,
    active_ttl: float = 60.0,
    queued_ttl: float = QUEUED_TTL,
) -> DispatchReport:
    """One dispatcher tick. `enqueue(send_id)` queues one batch task; the
    send-active mark set with it lives `active_ttl` seconds unless a batch
    refreshes it (delivery.batch_task.active_ttl: about one lease). No batch
    is queued for a send while one of its batches is queued and not started
    (for up to `queued_ttl` seconds) or holds a live lease on its rows."""
    report = DispatchReport()
    token = coordinator.acquire_dispatch_lock(ttl_seconds=max(5.0, interval * 5))
    if token is None:
        report.skipped = True
        return report
    try:
        now = now or datetime.now(UTC)
        redis_lost = coordinator.note_epoch()
        with engine.begin() as conn:
            report.released_leases = ledger.release_expired_leases(
                conn, now=now, accepted=journal.accepted if journal else None,
                taken=report.taken_back,
            )
        for send_id, (back, sent) in sorted(report.taken_back.items()):
            # A worker died or stalled past its lease (kill -9, SIGSTOP, a
            # lost host): the operator hears of it once per sweep, here.
            log.warning(
                _("配信 {send}: 応答のなくなったワーカーの宛先 {taken} 件を引き取りました"
                  "（{back} 件は未送信に戻して再送、{sent} 件は送信済みと確認）").format(
                    send=send_id, taken=back + sent, back=back, sent=sent,
                )
            )
        due_query = select(SEND.c.id, SEND.c.scheduled_at).where(
            SEND.c.status == SendStatus.SCHEDULED.value, SEND.c.scheduled_at <= now
        )
        if require_approval:  # unapproved sends wait, however late
            due_query = due_query.where(SEND.c.approved_by != "")
        with engine.connect() as conn:
            due = list(conn.execute(due_query.order_by(SEND.c.scheduled_at, SEND.c.id)))
        for send_id, scheduled_at in due:
            if start_send(engine, send_id, now=now, preflight=preflight):
                report.started.append(send_id)
                if metrics is not None:
                    at = scheduled_at if scheduled_at.tzinfo else scheduled_at.replace(tzinfo=UTC)
                    metrics.send_started(max(0.0, (now - at).total_seconds()))
        with engine.connect() as conn:
            running = list(
                conn.execute(
                    select(SEND.c.id).where(SEND.c.status == SendStatus.RUNNING.value)
                ).scalars()
            )
        were_running = [s for s in running if s not in report.started]
        if redis_lost and were_running:
            # Nothing is lost from the ledger: batches in flight carry on and
            # this tick queues new ones. The operator hears of it once.
            log.warning(
                _("Redis のデータが失われていました（FLUSHALL か、永続化なしの再起動）: "
                  "キュー・送信中の印・受理記録が消えています。配信 {sends} は台帳から続けます"
                  ).format(sends=", ".join(str(s) for s in were_running))
            )
        for send_id in running:
            if finish_if_complete(engine, send_id, now=now):
                report.finished.append(send_id)
                coordinator.clear_workers_active(send_id)
                coordinator.clear_queued(send_id)
                continue
            if report.released_leases:
                # Rows of a dead worker came back: the batches it had taken
                # from the broker but not started died with it, uncounted.
                coordinator.clear_queued(send_id)
            if coordinator.queued_batches(send_id):
                continue  # its batches wait in the broker: they will take the rows
            with engine.connect() as conn:
                due_rows = ledger.due_rows(conn, send_id, now, limit=parallelism)
                if due_rows and ledger.leased_rows(conn, send_id, now, limit=1):
                    continue  # a batch is at work (its lease outlives the mark)
            if due_rows and coordinator.mark_workers_active(send_id, ttl_seconds=active_ttl):
                n = max(1, min(parallelism, due_rows))
                for _i in range(n):
                    coordinator.note_queued(send_id, ttl_seconds=queued_ttl)
                    try:
                        enqueue(send_id)
                    except BaseException:
                        coordinator.note_batch_started(send_id)  # it was not queued
                        raise
                report.enqueued[send_id] = n
        if metrics is not None:
            metrics.dispatcher_tick(now)
    finally:
        coordinator.release_dispatch_lock(token)
    return report
