"""Deliver a send's due ledger rows: claim, render, send, record.

Everything it touches (database engine, relays, rate limiter, clock) is passed
in through `DeliveryContext`; Celery tasks only build the context and call
`deliver_send`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from redis import RedisError
from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from mailer.delivery import ledger
from mailer.delivery.journal import AcceptedJournal, NoJournal
from mailer.delivery.lease import BatchLease, new_token
from mailer.delivery.ledger import ClaimedRow, Outcome
from mailer.delivery.outage_notice import DATABASE, REDIS, describe, notice_for
from mailer.delivery.relays import AllRelaysDown, Handover, RateLimiterUnavailable, RelayPool
from mailer.delivery.retry import RetryPolicy
from mailer.delivery.smtp import FailureKind
from mailer.delivery.states import send_transition
from mailer.delivery.verp import make_return_path
from mailer.i18n import _
from mailer.metrics import MetricsSink, NullMetrics
from mailer.models import DeliveryStatus, SendStatus
from mailer.render.message import (
    PreparedPart,
    Recipient,
    Slots,
    deliverable_charset,
    personalize,
)
from mailer.tokens import message_id, unsubscribe_token

log = logging.getLogger(__name__)
#: one WARNING per Redis outage in this process, not one per message or batch
_journal_outage = REDIS
SEND = ledger.SEND
#: too many permanent failures: the send waits for a person (checked against the table at import)
AUTO_PAUSE = send_transition(SendStatus.PAUSED, from_=SendStatus.RUNNING)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class DeliveryConfig:
    batch_size: int
    lease: timedelta
    retry: RetryPolicy
    secrets: tuple[str, ...]  # newest last
    return_path_domain: str
    message_id_domain: str
    base_url: str
    #: how often a batch asks whether its send is still running (pause,
    #: cancel) and whether its worker is shutting down
    status_check_seconds: float = 0.5
    #: outcomes are committed in groups of this many (or every `flush_seconds`);
    #: acceptances are journaled in Redis meanwhile (see journal.py). A batch
    #: (200) per commit: each commit also writes the metrics and clears the
    #: journal, about a millisecond however few messages it carries.
    flush_every: int = 200
    flush_seconds: float = 1.0
    error_threshold_ratio: float = 0.2
    error_threshold_min: int = 20


@dataclass
class DeliveryContext:
    engine: Engine
    config: DeliveryConfig
    pool: RelayPool
    prepared_part: Callable[[int], PreparedPart]  # part id -> rendered once
    journal: AcceptedJournal = field(default_factory=NoJournal)
    #: True once the worker was asked to stop (SIGTERM): batches hand back rows
    should_stop: Callable[[], bool] = lambda: False
    metrics: MetricsSink = field(default_factory=NullMetrics)
    sign: Callable[[bytes], bytes] = lambda data: data
    now: Callable[[], datetime] = utcnow
    #: the monotonic clock the lease's local deadline is kept in (seconds)
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class BatchReport:
    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    #: the relay had the data and never answered (see DeliveryStatus.UNKNOWN)
    unknown: int = 0
    released: int = 0
    stopped: str = ""  # why the loop ended early
    #: the database or Redis failed under the batch (see `is_outage`)
    outage: bool = False

    @property
    def more_due(self) -> bool:
        return self.stopped == "time budget"


def is_outage(exc: BaseException) -> bool:
    """True for a database or Redis failure that is not the batch's fault (a
    server down or restarting, a connection lost): the batch gives its rows
    back and ends; another batch sends them once the service is back."""
    if isinstance(exc, RedisError | OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


@dataclass(frozen=True)
class _SendInfo:
    id: int
    part_id: int
    status: SendStatus
    started_at: datetime
    list_id: int | None


def _load_send(conn: object, send_id: int) -> _SendInfo | None:
    from mailer.models import SendList

    sl = SendList.__table__  # type: ignore[attr-defined]
    row = conn.execute(  # type: ignore[attr-defined]
        select(SEND.c.id, SEND.c.part_id, SEND.c.status, SEND.c.started_at).where(
            SEND.c.id == send_id
        )
    ).one_or_none()
    if row is None:
        return None
    list_id = conn.execute(  # type: ignore[attr-defined]
        select(sl.c.list_id).where(sl.c.send_id == send_id).order_by(sl.c.list_id).limit(1)
    ).scalar()
    started = as_utc(row.started_at) if row.started_at else utcnow()
    return _SendInfo(row.id, row.part_id, SendStatus(row.status), started, list_id)


def deliver_send(ctx: DeliveryContext, send_id: int, *, time_budget: float = 30.0) -> BatchReport:
    """Deliver due rows of a running send in batches until none are due, the
    send stops running, or `time_budget` seconds pass. Returns the tally."""
    report = BatchReport()
    deadline = time.monotonic() + time_budget
    try:
        _deliver_batches(ctx, send_id, report, deadline)
    except Exception as exc:
        if not is_outage(exc):
            raise
        # One line, no traceback: rows not handed back return with their
        # lease (docs/delivery.md, "When the database or Redis fails").
        report.outage = True
        report.stopped = f"{'Redis' if isinstance(exc, RedisError) else 'database'} unavailable"
        # One WARNING per outage per process (the notice); each batch's own
        # tally at INFO.
        notice_for(exc).failed(exc, engine=ctx.engine)
        log.info(
            _("配信 {send}: {what}が応答しないためバッチを止めました（{reason}）。"
              "{released} 件を未送信に戻し、残りはリースが切れると戻ります").format(
                send=send_id,
                what="Redis" if isinstance(exc, RedisError) else _("データベース"),
                reason=describe(exc, ctx.engine),
                released=report.released,
            )
        )
    else:
        DATABASE.ok()
        if report.sent:  # the rate limiter answered: Redis is there
            REDIS.ok()
    finally:
        ctx.pool.close()
    return report


def _deliver_batches(
    ctx: DeliveryContext, send_id: int, report: BatchReport, deadline: float
) -> None:
    """Claim and deliver batches (see deliver_send); raise on an outage."""
    after_id = 0  # the highest row id claimed so far: fresh rows are sought after it
    while True:
        if time.monotonic() >= deadline:
            report.stopped = "time budget"
            break
        if ctx.should_stop():
            report.stopped = "worker shutting down"
            break
        now = ctx.now()
        # The local deadline counts from before the claim, so it never
        # outlives the lease the database holds.
        started, token = ctx.clock(), new_token()
        with ctx.engine.begin() as conn:
            info = _load_send(conn, send_id)
            if info is None or info.status is not SendStatus.RUNNING:
                report.stopped = f"send is {info.status if info else 'gone'}"
                break
            # A first attempt's Message-ID is derived from the row, and
            # stored with the outcome (not in a statement of its own); a
            # retry reuses the stored one, so every copy has the same id.
            rows = ledger.claim_batch(
                conn,
                send_id=send_id,
                limit=ctx.config.batch_size,
                now=now,
                lease=ctx.config.lease,
                new_message_id=functools.partial(_message_id, ctx, info.part_id),
                after_id=after_id,
                lease_token=token,
            )
        if not rows:
            report.stopped = "nothing due"
            break
        after_id = max(after_id, rows[-1].delivery_id)
        report.claimed += len(rows)
        failed_before = report.failed
        lease = BatchLease(
            ctx.engine,
            token=token,
            ids=[r.delivery_id for r in rows],
            lease=ctx.config.lease,
            started=started,
            clock=ctx.clock,
            now=ctx.now,
        )
        if not _deliver_rows(ctx, info, rows, lease, report, deadline):
            break
        # The threshold counts the whole send, so only a batch with a
        # permanent failure can cross it (a count per batch cost O(N)).
        if report.failed > failed_before:
            _maybe_pause_for_errors(ctx, send_id)


def _message_id(ctx: DeliveryContext, part_id: int, delivery_id: int) -> str:
    return message_id(
        delivery_id=delivery_id,
        part_id=part_id,
        secret=ctx.config.secrets[-1],
        domain=ctx.config.message_id_domain,
    )


def _slots(ctx: DeliveryContext, info: _SendInfo, row: ClaimedRow) -> Slots:
    token = unsubscribe_token(
        ctx.config.secrets, subscriber_id=row.subscriber_id, list_id=info.list_id
    )
    base = ctx.config.base_url
    return Slots(
        message_id=row.message_id,
        unsubscribe_url=f"{base}/u/{token}",
        unsubscribe_mailto=f"mailto:unsubscribe+{token}@{ctx.config.return_path_domain}",
        preferences_url=f"{base}/p/{token}",
        date=ctx.now(),
    )


class _Recorder:
    """Collects outcomes and commits them in groups.

    Every acceptance is journaled before it waits for its group's commit, so
    a worker that dies in between loses nothing (the sweeper reads the
    journal). Without a journal each outcome is committed at once.
    """

    def __init__(
        self, ctx: DeliveryContext, send_id: int, lease: BatchLease, report: BatchReport
    ) -> None:
        self.ctx = ctx
        self.send_id = send_id
        self.lease = lease
        self.report = report
        self.pending: list[tuple[Outcome, ClaimedRow]] = []
        #: rows whose message was handed to the relay pool (its data may be out)
        self.handed: set[int] = set()
        self.last_flush = time.monotonic()
        self.group = 1 if isinstance(ctx.journal, NoJournal) else ctx.config.flush_every

    def add(self, outcome: Outcome, row: ClaimedRow) -> None:
        self.ctx.metrics.count_outcome(outcome.status.value, outcome.code)
        self.pending.append((outcome, row))
        must_flush = False
        if outcome.status is DeliveryStatus.SENT:
            self.report.sent += 1
            try:
                self.ctx.journal.note_accepted(self.send_id, row.delivery_id)
            except Exception as exc:  # journal unreachable: commit this acceptance now
                _journal_outage.failed(exc)
                must_flush = True
        elif outcome.status is DeliveryStatus.DEFERRED:
            self.report.deferred += 1
        elif outcome.status is DeliveryStatus.UNKNOWN:
            self.report.unknown += 1
        else:
            self.report.failed += 1
        if (
            must_flush
            or len(self.pending) >= self.group
            or time.monotonic() - self.last_flush >= self.ctx.config.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        now = self.ctx.now()
        with self.ctx.engine.begin() as conn:
            ledger.record_outcomes(
                conn, [o for o, _ in self.pending], now=now, lease_token=self.lease.token
            )
            for outcome, row in self.pending:
                if outcome.smtp_rejected:
                    ledger.record_smtp_bounce(
                        conn,
                        delivery_id=row.delivery_id,
                        subscriber_id=row.subscriber_id,
                        email=row.email,
                        reply=outcome.error,
                        now=now,
                    )
        sent = [o.delivery_id for o, _ in self.pending if o.status is DeliveryStatus.SENT]
        self.lease.done(o.delivery_id for o, _ in self.pending)
        self.pending.clear()
        self.ctx.metrics.flush()
        try:
            self.ctx.journal.forget(self.send_id, sent)
        except Exception as exc:  # stale entries are harmless: those rows are already sent
            _journal_outage.failed(exc)
        else:
            _journal_outage.ok()
        self.last_flush = time.monotonic()


def _why_stop(ctx: DeliveryContext, send_id: int, deadline: float) -> str:
    """Return why a batch should hand back its remaining rows now, or ""."""
    if ctx.should_stop():
        return "worker shutting down"
    if time.monotonic() >= deadline:
        return "time budget"
    if not _still_running(ctx, send_id):
        return "send stopped"
    return ""


def _deliver_rows(
    ctx: DeliveryContext,
    info: _SendInfo,
    rows: list[ClaimedRow],
    lease: BatchLease,
    report: BatchReport,
    deadline: float,
) -> bool:
    """Send each claimed row and record its outcome. Returns False if the
    batch stopped early: send paused or cancelled, worker shutting down, time
    budget spent (the rest is released to `pending`), every relay down, or
    the lease lost (see `_lease_lost`).

    The relays answer a message while the next one is handed over (see
    SmtpTransport), so outcomes arrive one message late; before the batch
    stops or ends, the pool is drained. No byte of a message goes to a relay
    (a `submit`, which also carries the previous message's data, or a
    `drain`) unless the lease still holds (`BatchLease.still_valid`).

    On a database or Redis outage the rows still held are handed back as far
    as the database lets (`_give_back`), and the error is raised on.
    """
    recorder = _Recorder(ctx, info.id, lease, report)
    try:
        ok = _send_rows(ctx, info, rows, lease, recorder, deadline)
    except Exception as exc:
        if is_outage(exc):
            _give_back(ctx, info, rows, lease, recorder)
        else:
            recorder.flush()
        raise
    finally:
        lease.close()
    recorder.flush()
    return ok


def _send_rows(
    ctx: DeliveryContext,
    info: _SendInfo,
    rows: list[ClaimedRow],
    lease: BatchLease,
    recorder: _Recorder,
    deadline: float,
) -> bool:
    report = recorder.report
    prepared = ctx.prepared_part(info.part_id)
    next_check = time.monotonic() + ctx.config.status_check_seconds

    down: list[AllRelaysDown] = []  # why rows were refused (the last reason counts)

    def record(handovers: list[Handover]) -> list[ClaimedRow]:
        """Record outcomes; return the rows no relay would take."""
        refused: list[ClaimedRow] = []
        for h in handovers:
            row = rows[h.tag]
            if h.relays_down is not None:
                down.append(h.relays_down)
                refused.append(row)
            else:
                recorder.add(_outcome(ctx, info, row, h), row)
        return refused

    def drain() -> list[ClaimedRow] | None:
        """Drain the pool if the lease holds: the refused rows; None if it does not."""
        if not lease.still_valid():
            return None
        with lease.waiting():  # a silent relay may hold its reply for the whole timeout
            handovers = ctx.pool.drain()
        return record(handovers)

    for i, row in enumerate(rows):
        why = ""
        if i and time.monotonic() >= next_check:
            why = _why_stop(ctx, info.id, deadline)
            next_check = time.monotonic() + ctx.config.status_check_seconds
            # The heartbeat rides on the status check: one UPDATE for the
            # rows still held, once a third of the lease has passed.
            if not why and not lease.renew_if_due():
                return _lease_lost(ctx, info, rows, lease, recorder)
        if why:
            refused = drain()
            if refused is None:
                return _lease_lost(ctx, info, rows, lease, recorder)
            recorder.flush()
            _release(ctx, info.id, lease, refused + rows[i:], report, why=why, delay=None)
            report.stopped = why
            return False
        data = _render(ctx, info, prepared, row)
        if isinstance(data, Outcome):  # a broken part must not stop the batch
            recorder.add(data, row)
            continue
        if not lease.still_valid():
            return _lease_lost(ctx, info, rows, lease, recorder)
        recorder.handed.add(row.delivery_id)
        with lease.waiting():
            handovers = ctx.pool.submit(i, _return_path(ctx, row), row.email, data)
        refused = record(handovers)
        if refused:
            more = drain()
            if more is None:
                return _lease_lost(ctx, info, rows, lease, recorder)
            report.stopped = _back_off(ctx, info, lease, recorder, refused + more, rows[i + 1 :],
                                       down[-1])
            return False
    refused = drain()
    if refused is None:
        return _lease_lost(ctx, info, rows, lease, recorder)
    if refused:
        report.stopped = _back_off(ctx, info, lease, recorder, refused, [], down[-1])
        return False
    return True


def _lease_lost(
    ctx: DeliveryContext,
    info: _SendInfo,
    rows: list[ClaimedRow],
    lease: BatchLease,
    recorder: _Recorder,
) -> bool:
    """Some rows were taken back after the lease ran out (the worker stalled:
    stopped, swapped out, cut off), and another batch may have sent them.
    Send nothing more: give up the messages handed over but not finished
    (none of their data is out), record what is known (fenced by the token)
    and hand back the rows still held. Returns False (the batch stops)."""
    abandoned = ctx.pool.abandon()
    recorder.flush()
    back = [r for r in rows if r.delivery_id in lease.held]
    log.warning(
        _("配信 {send}: リースが切れ、その間に宛先 {lost} 件が引き取られました"
          "（ワーカーが止まっていた可能性があります）。送信前の {abandoned} 件は送らずにやめ、"
          "{back} 件を未送信に戻しました").format(
            send=info.id, lost=len(lease.lost), abandoned=len(abandoned), back=len(back),
        )
    )
    _release(ctx, info.id, lease, back, recorder.report, why="lease lost", delay=None)
    recorder.report.stopped = "lease lost"
    return False


def _give_back(
    ctx: DeliveryContext,
    info: _SendInfo,
    rows: list[ClaimedRow],
    lease: BatchLease,
    recorder: _Recorder,
) -> None:
    """After an outage: give up the messages in flight, then, if the database
    answers, record what is known and hand back the rows still held. Best
    effort: rows it cannot hand back return when their lease runs out (and
    acceptances not recorded are in the accepted-journal for the sweeper)."""
    ctx.pool.abandon()
    try:
        recorder.flush()
        back = [r for r in rows if r.delivery_id in lease.held]
    except Exception:  # the outage itself
        # What was not recorded may have been accepted: those rows stay in
        # `sending`, and the sweeper settles them with the accepted-journal
        # when their lease runs out. Only rows never handed to a relay go
        # back now (a connection cut and restored between the two writes must
        # not turn an accepted message into a pending one, sent again).
        recorder.pending.clear()
        back = [r for r in rows
                if r.delivery_id in lease.held and r.delivery_id not in recorder.handed]
    with contextlib.suppress(Exception):
        _release(ctx, info.id, lease, back, recorder.report, why="outage", delay=None)


def _back_off(
    ctx: DeliveryContext,
    info: _SendInfo,
    lease: BatchLease,
    recorder: _Recorder,
    refused: list[ClaimedRow],
    rest: list[ClaimedRow],
    reason: AllRelaysDown,
) -> str:
    """No message may go out now: hand back the refused rows and the rest for
    later; return why, for the batch report. A lost rate limiter (Redis) is
    named as itself: the relays may be fine."""
    recorder.flush()
    if isinstance(reason, RateLimiterUnavailable):
        why, stopped = "rate limiter unavailable (Redis)", "rate limiter unavailable"
        REDIS.failed(reason)  # the one WARNING of the outage in this process
        log.info(
            _("配信 {send}: 送信速度の制限（Redis）が応答しません。宛先 {count} 件を"
              "未送信に戻し、後で送ります").format(send=info.id, count=len(refused) + len(rest))
        )
    else:
        why, stopped = "every relay is backing off", "relays down"
    _release(
        ctx,
        info.id,
        lease,
        refused + rest,
        recorder.report,
        why=why,
        delay=ctx.config.retry.relay_backoff_seconds,
    )
    return stopped


def _render(
    ctx: DeliveryContext, info: _SendInfo, prepared: PreparedPart, row: ClaimedRow
) -> bytes | Outcome:
    """The row's message, or the failed outcome that records why it has none."""
    try:
        recipient = Recipient(
            email=row.email,
            name=row.name or None,
            honorific=row.honorific or "様",
            format=row.format,
            charset=row.charset,
        )
        charset = deliverable_charset(prepared, recipient)
        if charset != recipient.charset:
            # The preflight refuses such a send; one that got past it (a reader
            # added or edited after the check) still reaches the reader, in UTF-8.
            log.warning(
                _("宛先 {delivery}: 本文か読者の名前を {charset} で表せないため、"
                  "{instead} で送ります").format(
                    delivery=row.delivery_id, charset=recipient.charset, instead=charset,
                )
            )
            recipient = replace(recipient, charset=charset)
        return ctx.sign(personalize(prepared, recipient, _slots(ctx, info, row)))
    except Exception as exc:
        log.exception(_("宛先 {delivery}: メールを組み立てられませんでした").format(
            delivery=row.delivery_id))
        return Outcome(
            row.delivery_id, DeliveryStatus.FAILED, f"render: {exc}", message_id=row.message_id
        )


def return_path(config: DeliveryConfig, delivery_id: int) -> str:
    """The VERP envelope sender of one delivery (see verp.py), signed with the newest secret."""
    return make_return_path(
        delivery_id, secret=config.secrets[-1].encode(), domain=config.return_path_domain
    )


def _return_path(ctx: DeliveryContext, row: ClaimedRow) -> str:
    return return_path(ctx.config, row.delivery_id)


def _outcome(ctx: DeliveryContext, info: _SendInfo, row: ClaimedRow, h: Handover) -> Outcome:
    """The outcome of one delivery attempt a relay answered. Every outcome
    carries the row's Message-ID, which its statement stores."""
    mid = row.message_id
    exc = h.error
    if exc is None:
        return Outcome(
            row.delivery_id, DeliveryStatus.SENT, relay=h.relay or "", code=250, message_id=mid
        )
    if exc.kind is FailureKind.PERMANENT:
        return Outcome(
            row.delivery_id,
            DeliveryStatus.FAILED,
            str(exc),
            smtp_rejected=True,
            code=exc.code,
            message_id=mid,
        )
    if exc.kind is FailureKind.AMBIGUOUS:
        # No reply after the data (the relay went silent or the connection
        # dropped): the relay may have the message. Recorded as unknown and
        # never sent again, so it cannot become a duplicate; counted for the
        # operator (docs/delivery.md, "The one ambiguous case"). At most one
        # per connection: the others sharing it are handed over again.
        log.warning(
            _("配信 {send}: 宛先 {delivery} は結果不明（SMTP 応答なし: {reason}）。"
              "重複を避けるため再送しません").format(
                send=info.id, delivery=row.delivery_id, reason=exc,
            )
        )
        return Outcome(
            row.delivery_id, DeliveryStatus.UNKNOWN, str(exc), code=exc.code, message_id=mid
        )
    # DEFER: retry later; the Message-ID stays the same (docs/delivery.md).
    now = ctx.now()
    when = ctx.config.retry.next_attempt(
        attempts=row.attempts, started_at=info.started_at, now=now, rng=ctx.rng
    )
    if when is None:
        return Outcome(
            row.delivery_id,
            DeliveryStatus.FAILED,
            f"retry deadline passed: {exc}",
            code=exc.code,
            message_id=mid,
        )
    return Outcome(
        row.delivery_id,
        DeliveryStatus.DEFERRED,
        str(exc),
        next_attempt_at=when,
        code=exc.code,
        message_id=mid,
    )


def _release(
    ctx: DeliveryContext,
    send_id: int,
    lease: BatchLease,
    rows: list[ClaimedRow],
    report: BatchReport,
    *,
    why: str,
    delay: float | None,
) -> None:
    now = ctx.now()
    when = now + timedelta(seconds=delay) if delay else None
    outcomes = [
        Outcome(
            r.delivery_id,
            DeliveryStatus.PENDING,
            why,
            next_attempt_at=when,
            refund_attempt=True,
            message_id=r.message_id,
        )
        for r in rows
    ]
    with ctx.engine.begin() as conn:
        ledger.record_outcomes(conn, outcomes, now=now, lease_token=lease.token)
        ledger.cancel_left_rows(conn, send_id, now=now)
    lease.done(r.delivery_id for r in rows)
    report.released += len(rows)


def _still_running(ctx: DeliveryContext, send_id: int) -> bool:
    with ctx.engine.connect() as conn:
        status = conn.execute(select(SEND.c.status).where(SEND.c.id == send_id)).scalar()
    return status == SendStatus.RUNNING.value


def _maybe_pause_for_errors(ctx: DeliveryContext, send_id: int) -> None:
    """Pause a send whose permanent failures pass the threshold, saying why."""
    with ctx.engine.begin() as conn:
        counts = ledger.count_by_status(conn, send_id)
        failed, sent = counts[DeliveryStatus.FAILED], counts[DeliveryStatus.SENT]
        tried = failed + sent
        if (
            failed < ctx.config.error_threshold_min
            or failed < ctx.config.error_threshold_ratio * tried
        ):
            return
        note = _(
            "自動で一時停止しました：{tried} 件中 {failed} 件が恒久的に失敗しました"
            "（しきい値 {threshold}）。失敗を確かめてから再開してください"
        ).format(tried=tried, failed=failed,
                 threshold=f"{ctx.config.error_threshold_ratio:.0%}")
        conn.execute(AUTO_PAUSE.update(SEND, SEND.c.id == send_id, note=note, updated_at=ctx.now()))
        log.warning(_("配信 {send}: {note}").format(send=send_id, note=note))
