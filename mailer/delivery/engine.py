"""Deliver a send's due ledger rows: claim, render, send, record.

Everything it touches (database engine, relays, rate limiter, clock) is passed
in through `DeliveryContext`; Celery tasks only build the context and call
`deliver_send`.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from mailer.delivery import ledger
from mailer.delivery.journal import AcceptedJournal, NoJournal
from mailer.delivery.ledger import ClaimedRow, Outcome
from mailer.delivery.relays import Handover, RelayPool
from mailer.delivery.retry import RetryPolicy
from mailer.delivery.smtp import FailureKind
from mailer.delivery.states import send_transition
from mailer.delivery.verp import make_return_path
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
    rng: random.Random = field(default_factory=random.Random)


@dataclass
class BatchReport:
    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    released: int = 0
    stopped: str = ""  # why the loop ended early

    @property
    def more_due(self) -> bool:
        return self.stopped == "time budget"


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
    after_id = 0  # the highest row id claimed so far: fresh rows are sought after it
    try:
        while True:
            if time.monotonic() >= deadline:
                report.stopped = "time budget"
                break
            if ctx.should_stop():
                report.stopped = "worker shutting down"
                break
            now = ctx.now()
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
                )
            if not rows:
                report.stopped = "nothing due"
                break
            after_id = max(after_id, rows[-1].delivery_id)
            report.claimed += len(rows)
            failed_before = report.failed
            if not _deliver_rows(ctx, info, rows, report, deadline):
                break
            # The threshold counts the whole send, so only a batch with a
            # permanent failure can cross it (a count per batch cost O(N)).
            if report.failed > failed_before:
                _maybe_pause_for_errors(ctx, send_id)
    finally:
        ctx.pool.close()
    return report


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

    def __init__(self, ctx: DeliveryContext, send_id: int, report: BatchReport) -> None:
        self.ctx = ctx
        self.send_id = send_id
        self.report = report
        self.pending: list[tuple[Outcome, ClaimedRow]] = []
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
            except Exception:  # journal unreachable: commit this acceptance now
                log.warning("accepted-journal unavailable; committing at once", exc_info=True)
                must_flush = True
        elif outcome.status is DeliveryStatus.DEFERRED:
            self.report.deferred += 1
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
            ledger.record_outcomes(conn, [o for o, _ in self.pending], now=now)
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
        self.pending.clear()
        self.ctx.metrics.flush()
        try:
            self.ctx.journal.forget(self.send_id, sent)
        except Exception:  # stale entries are harmless: those rows are already sent
            log.warning("could not clear the accepted-journal", exc_info=True)
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
    report: BatchReport,
    deadline: float,
) -> bool:
    """Send each claimed row and record its outcome. Returns False if the
    batch stopped early: send paused or cancelled, worker shutting down, time
    budget spent (the rest is released to `pending`), or every relay down.

    The relays answer a message while the next one is handed over (see
    SmtpTransport), so outcomes arrive one message late; before the batch
    stops or ends, the pool is drained."""
    prepared = ctx.prepared_part(info.part_id)
    recorder = _Recorder(ctx, info.id, report)
    next_check = time.monotonic() + ctx.config.status_check_seconds

    def record(handovers: list[Handover]) -> list[ClaimedRow]:
        """Record outcomes; return the rows no relay would take."""
        refused: list[ClaimedRow] = []
        for h in handovers:
            row = rows[h.tag]
            if h.relays_down is not None:
                refused.append(row)
            else:
                recorder.add(_outcome(ctx, info, row, h), row)
        return refused

    try:
        for i, row in enumerate(rows):
            why = ""
            if i and time.monotonic() >= next_check:
                why = _why_stop(ctx, info.id, deadline)
                next_check = time.monotonic() + ctx.config.status_check_seconds
            if why:
                refused = record(ctx.pool.drain())
                recorder.flush()
                _release(ctx, info.id, refused + rows[i:], report, why=why, delay=None)
                report.stopped = why
                return False
            data = _render(ctx, info, prepared, row)
            if isinstance(data, Outcome):  # a broken part must not stop the batch
                recorder.add(data, row)
                continue
            refused = record(ctx.pool.submit(i, _return_path(ctx, row), row.email, data))
            if refused:
                _back_off(ctx, info, recorder, refused + record(ctx.pool.drain()), rows[i + 1 :])
                report.stopped = "relays down"
                return False
        refused = record(ctx.pool.drain())
        if refused:
            _back_off(ctx, info, recorder, refused, [])
            report.stopped = "relays down"
            return False
    finally:
        recorder.flush()
    return True


def _back_off(
    ctx: DeliveryContext,
    info: _SendInfo,
    recorder: _Recorder,
    refused: list[ClaimedRow],
    rest: list[ClaimedRow],
) -> None:
    """Every relay is down: hand back the refused rows and the rest for later."""
    recorder.flush()
    _release(
        ctx,
        info.id,
        refused + rest,
        recorder.report,
        why="every relay is backing off",
        delay=ctx.config.retry.relay_backoff_seconds,
    )


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
                "delivery %s: the part or the reader's name cannot be carried in %s; "
                "sent as %s instead", row.delivery_id, recipient.charset, charset,
            )
            recipient = replace(recipient, charset=charset)
        return ctx.sign(personalize(prepared, recipient, _slots(ctx, info, row)))
    except Exception as exc:
        log.exception("render failed for delivery %s", row.delivery_id)
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
    # DEFER, and AMBIGUOUS (no reply after the data): retry later. The
    # ambiguous case may deliver twice; losing a part is worse, and the
    # Message-ID stays the same (docs/delivery.md).
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
        ledger.record_outcomes(conn, outcomes, now=now)
        ledger.cancel_left_rows(conn, send_id, now=now)
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
        note = (
            f"paused automatically: {failed} of {tried} attempts failed permanently "
            f"(threshold {ctx.config.error_threshold_ratio:.0%}); check the failures, "
            "then resume"
        )
        conn.execute(AUTO_PAUSE.update(SEND, SEND.c.id == send_id, note=note, updated_at=ctx.now()))
        log.warning("send %s: %s", send_id, note)
