"""Leases, heartbeat and fencing, and batches that give their rows back when
the database fails: the engine in-process (no Celery) against a real
database, real Redis and a real SMTP sink (aiosmtpd) that stalls on cue.

The one seam: `database_down`, an engine event that fails every statement
of the worker's engine with the driver's own OperationalError while set (on
both databases); on PostgreSQL the same outage is also made for real (the
server refuses the database and drops its sessions).
"""

from __future__ import annotations

import email
import email.policy
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, event, select

from mailer.db import session_scope
from mailer.delivery import ledger
from mailer.delivery.batch_task import active_ttl, run_batch
from mailer.delivery.dispatch import dispatch
from mailer.delivery.engine import BatchReport, deliver_send
from mailer.embedded.smtp_sink import FaultPlan, SmtpSink
from mailer.runtime import Runtime
from mailer.services.sends import create_send
from mailer.settings import load_settings
from mailer.testing.seed import LIST, seed
from mailer.testing.stack import TEST_SECRET

D = ledger.D


def runtime(database_url: str, redis_url: str, sink: SmtpSink) -> Runtime:
    return Runtime(
        load_settings(
            database_url=database_url,
            redis_url=redis_url,
            smtp_url=sink.url,
            secret_key=TEST_SECRET,
            base_url="https://mailer.example.com",
            rate_limit="1000/s",
        )
    )


def start(engine: Engine, rt: Runtime, part_id: int) -> int:
    """Schedule a send now and let one dispatcher tick start it (queue nothing)."""
    with session_scope(engine) as session:
        send_id = int(create_send(session=session, part_id=part_id, list_names=[LIST]).id)  # type: ignore[arg-type]
    dispatch(engine, rt.coordinator, lambda _: None, parallelism=1, interval=1)
    rt.coordinator.clear_workers_active(send_id)
    rt.coordinator.clear_queued(send_id)  # the batch it "queued" went nowhere
    return send_id


def received(sink: SmtpSink) -> Counter[str]:
    got: Counter[str] = Counter()
    for acc in sink.accepted:
        msg = email.message_from_bytes(acc.data, policy=email.policy.default)
        got[msg["To"].addresses[0].addr_spec] += 1
    return got


def statuses(engine: Engine, send_id: int) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(conn.execute(select(D.c.status).where(D.c.send_id == send_id)).scalars())


@pytest.fixture(autouse=True)
def _clean_redis(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).flushdb()


def test_a_batch_holding_rows_longer_than_its_lease_keeps_them(
    engine: Engine, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """The heartbeat: a slow relay keeps the batch three leases long; the
    sweeper, running all along, takes nothing back and nothing goes twice."""
    data = seed(engine, 12)
    slow = FaultPlan(lambda stage, rcpt, n: ("sleep", 0.25) if stage == "RCPT" else None)
    with SmtpSink(tmp_path / "o", faults=slow) as sink:
        rt = runtime(database_url, redis_url, sink)
        send_id = start(engine, rt, data.part_id)
        ctx = rt.delivery_context()
        ctx.config = replace(ctx.config, lease=timedelta(seconds=1), status_check_seconds=0.1)
        taken_back: list[int] = []
        done = threading.Event()

        def sweep() -> None:
            while not done.is_set():
                with engine.begin() as conn:
                    taken_back.append(
                        ledger.release_expired_leases(conn, now=datetime.now(UTC))
                    )
                time.sleep(0.05)

        sweeper = threading.Thread(target=sweep)
        sweeper.start()
        started = time.monotonic()
        try:
            report = deliver_send(ctx, send_id, time_budget=60)
        finally:
            done.set()
            sweeper.join()
            rt.dispose()
    assert time.monotonic() - started > 2.5  # the rows were held for over two leases
    assert len(taken_back) > 20 and sum(taken_back) == 0
    assert report.sent == 12 and report.stopped == "nothing due"
    assert received(sink) == Counter({e: 1 for e in data.emails})
    assert statuses(engine, send_id) == Counter({"sent": 12})


class StallAfterJournaling:
    """Worker A's accepted-journal, which stops A (as SIGSTOP would) right
    after it journaled the acceptance of one row, until told to go on."""

    def __init__(self, inner: Any, delivery_id: int) -> None:
        self.inner = inner
        self.delivery_id = delivery_id
        self.reached = threading.Event()
        self.go = threading.Event()

    def note_accepted(self, send_id: int, delivery_id: int) -> None:
        self.inner.note_accepted(send_id, delivery_id)
        if delivery_id == self.delivery_id:
            self.reached.set()
            assert self.go.wait(30)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize("stall_after", [3, 6], ids=["mid-batch", "before-the-drain"])
def test_a_worker_woken_after_its_lease_sends_nothing_taken_over(
    engine: Engine, database_url: str, redis_url: str, tmp_path: Path, stall_after: int
) -> None:
    """Fencing. Worker A stops once the relay accepted row `stall_after`: the
    next row's MAIL, RCPT and DATA are out, its data is held (pipelining).
    Meanwhile A's lease runs out (its clock is moved on), the sweeper takes
    its rows back and worker B claims and sends them. When A wakes it must
    send nothing: not the held data (with the next message's commands, or by
    the drain after the last row) and no later row. The relay gets each
    message exactly once."""
    data = seed(engine, 8)
    with SmtpSink(tmp_path / "o") as sink:
        rt = runtime(database_url, redis_url, sink)
        send_id = start(engine, rt, data.part_id)
        with engine.connect() as conn:
            stall_id = conn.execute(
                select(D.c.id).where(D.c.email == data.emails[stall_after])
            ).scalar_one()
        skew = [0.0]
        worker_a = rt.delivery_context()
        worker_a.clock = lambda: time.monotonic() + skew[0]
        stall = StallAfterJournaling(worker_a.journal, stall_id)
        worker_a.journal = stall
        reports: list[BatchReport] = []
        a = threading.Thread(target=lambda: reports.append(deliver_send(worker_a, send_id)))
        a.start()
        try:
            assert stall.reached.wait(10)
            assert received(sink) == Counter(data.emails[: stall_after + 1])
            # A stays stopped past its lease; the sweeper takes its rows back
            # (those the journal knows the relay took become sent) and B sends the rest.
            skew[0] = 3600.0
            later = datetime.now(UTC) + timedelta(hours=1)
            with engine.begin() as conn:
                assert ledger.release_expired_leases(
                    conn, now=later, accepted=rt.journal.accepted
                ) == 8
            report_b = deliver_send(rt.delivery_context(), send_id)
        finally:
            stall.go.set()
            a.join(30)
            rt.dispose()
    (report_a,) = reports
    assert report_a.stopped == "lease lost"
    assert report_b.sent == 8 - stall_after - 1
    assert received(sink) == Counter({e: 1 for e in data.emails})
    assert statuses(engine, send_id) == Counter({"sent": 8})


@pytest.fixture
def database_down() -> Iterator[tuple[threading.Event, Any]]:
    """The seam: while the event is set, every statement on an engine passed
    to `attach` fails with the driver's OperationalError, as when the server
    is down or restarting."""
    down = threading.Event()
    attached: list[tuple[Engine, Any]] = []

    def attach(target: Engine) -> None:
        def fail(*_: object) -> None:
            if down.is_set():
                raise target.dialect.loaded_dbapi.OperationalError("server closed the connection")

        event.listen(target, "before_cursor_execute", fail)
        attached.append((target, fail))

    yield down, attach
    for target, fail in attached:
        event.remove(target, "before_cursor_execute", fail)


def test_a_batch_cut_off_from_the_database_gives_its_rows_back(
    engine: Engine,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    database_down: tuple[threading.Event, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The database goes away while row 4 is handed over. The batch ends with
    one WARNING (no traceback) and clears the send-active mark; once the
    database is back, the next dispatcher tick after one lease takes the rows
    back and queues a batch, which delivers them: each message exactly once
    (what the first batch sent is found in the accepted-journal)."""
    down, attach = database_down
    data = seed(engine, 10)

    def decide(stage: str, rcpt: str, n: int) -> None:
        if stage == "RCPT" and rcpt == data.emails[4] and n == 1:
            down.set()

    with SmtpSink(tmp_path / "o", faults=FaultPlan(decide)) as sink:
        rt = runtime(database_url, redis_url, sink)
        send_id = start(engine, rt, data.part_id)
        attach(rt.engine)
        queued: list[int] = []

        def context() -> Any:
            ctx = rt.delivery_context()
            ctx.config = replace(ctx.config, status_check_seconds=0.0)
            return ctx

        claimed_at = datetime.now(UTC)
        with caplog.at_level(logging.INFO):
            report = run_batch(
                rt.coordinator, context, send_id, requeue=queued.append, time_budget=30
            )
        assert report is not None and report.outage and report.stopped == "database unavailable"
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and warnings[0].exc_info is None
        assert warnings[0].getMessage().startswith("データベース（")
        assert "が応答しません" in warnings[0].getMessage()
        assert any("データベースが応答しないためバッチを止めました" in r.getMessage()
                   for r in caplog.records if r.levelno == logging.INFO)
        assert not rt.redis.exists(f"mailer:send-active:{send_id}") and not queued
        assert 4 <= len(sink.accepted) < 10
        down.clear()
        lease = timedelta(seconds=rt.settings.lease_seconds)
        # Before the lease runs out nothing is taken back or queued ...
        report_tick = dispatch(
            engine, rt.coordinator, queued.append, parallelism=1, interval=1,
            now=claimed_at + lease - timedelta(seconds=2), journal=rt.journal,
        )
        assert report_tick.released_leases == 0 and not queued
        # ... and at one lease the rows come back and a batch is queued at once,
        # its send-active mark living one lease (a dead worker's lapses with its rows).
        report_tick = dispatch(
            engine, rt.coordinator, queued.append, parallelism=1, interval=1,
            now=claimed_at + lease + timedelta(seconds=1), journal=rt.journal,
            active_ttl=active_ttl(rt.settings.lease_seconds, time_budget=20),
        )
        assert report_tick.released_leases == 10 and queued == [send_id]
        assert 0 < rt.redis.pttl(f"mailer:send-active:{send_id}") <= lease / timedelta(
            milliseconds=1
        )
        second = run_batch(rt.coordinator, context, send_id, requeue=queued.append,
                           time_budget=30)
        rt.dispose()
    assert second is not None and second.stopped == "nothing due"
    assert received(sink) == Counter({e: 1 for e in data.emails})
    assert statuses(engine, send_id) == Counter({"sent": 10})


def test_a_batch_cut_off_by_a_real_postgresql_outage_recovers_within_a_lease(
    engine: Engine, database_url: str, redis_url: str, tmp_path: Path, pg_admin: str
) -> None:
    """The same without the seam, on PostgreSQL: the server stops letting
    anyone into the database and drops every session in it (as a restart
    does) while row 4 is handed over; it comes back after the batch gave up."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a real server outage needs PostgreSQL")
    import psycopg

    admin = pg_admin.replace("postgresql+psycopg://", "postgresql://")
    name = engine.url.database

    def allow(yes: bool) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(yes).lower()}')
            if not yes:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )

    data = seed(engine, 10)

    def decide(stage: str, rcpt: str, n: int) -> None:
        if stage == "RCPT" and rcpt == data.emails[4] and n == 1:
            allow(False)

    try:
        with SmtpSink(tmp_path / "o", faults=FaultPlan(decide)) as sink:
            rt = runtime(database_url, redis_url, sink)
            send_id = start(engine, rt, data.part_id)
            queued: list[int] = []

            def context() -> Any:
                ctx = rt.delivery_context()
                ctx.config = replace(ctx.config, status_check_seconds=0.0)
                return ctx

            claimed_at = datetime.now(UTC)
            report = run_batch(
                rt.coordinator, context, send_id, requeue=queued.append, time_budget=30
            )
            assert report is not None and report.stopped == "database unavailable"
            assert not rt.redis.exists(f"mailer:send-active:{send_id}") and not queued
            allow(True)
            lease = timedelta(seconds=rt.settings.lease_seconds)
            tick = dispatch(
                engine, rt.coordinator, queued.append, parallelism=1, interval=1,
                now=claimed_at + lease + timedelta(seconds=1), journal=rt.journal,
            )
            assert tick.released_leases == 10 and queued == [send_id]
            second = run_batch(
                rt.coordinator, context, send_id, requeue=queued.append, time_budget=30
            )
            rt.dispose()
    finally:
        allow(True)
    assert second is not None and second.stopped == "nothing due"
    assert received(sink) == Counter({e: 1 for e in data.emails})
    assert statuses(engine, send_id) == Counter({"sent": 10})


def test_a_blip_under_a_flush_does_not_turn_accepted_rows_into_pending_ones(
    engine: Engine, database_url: str, redis_url: str, tmp_path: Path,
) -> None:
    """The connection drops for the statements recording a group of accepted
    messages (the batch's and its retry when it gives up) and is back for the
    next one, the hand-back. The batch hands back
    only the rows it never handed to a relay; the accepted ones stay in
    `sending` until their lease, when the sweeper finds them in the
    accepted-journal. Each message goes out exactly once (review of #17:
    releasing them made them pending, and sent again)."""
    data = seed(engine, 10)
    armed = threading.Event()
    failed: list[str] = []

    def blip(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if armed.is_set() and statement.lstrip().upper().startswith("UPDATE") \
                and "relay" in statement and len(failed) < 2:
            failed.append(statement)
            raise rt.engine.dialect.loaded_dbapi.OperationalError("connection reset")

    def decide(stage: str, rcpt: str, n: int) -> None:
        if stage == "RCPT" and rcpt == data.emails[5] and n == 1:
            armed.set()

    with SmtpSink(tmp_path / "o", faults=FaultPlan(decide)) as sink:
        rt = runtime(database_url, redis_url, sink)
        send_id = start(engine, rt, data.part_id)
        event.listen(rt.engine, "before_cursor_execute", blip)

        def context() -> Any:
            ctx = rt.delivery_context()
            ctx.config = replace(ctx.config, flush_every=3, status_check_seconds=60.0)
            return ctx

        claimed_at = datetime.now(UTC)
        report = run_batch(rt.coordinator, context, send_id, requeue=lambda _: None,
                           time_budget=30)
        assert failed and report is not None and report.outage
        lease = timedelta(seconds=rt.settings.lease_seconds)
        dispatch(engine, rt.coordinator, lambda _: None, parallelism=1, interval=1,
                 now=claimed_at + lease + timedelta(seconds=1), journal=rt.journal)
        run_batch(rt.coordinator, context, send_id, requeue=lambda _: None, time_budget=30)
        event.remove(rt.engine, "before_cursor_execute", blip)
        rt.dispose()
    assert received(sink) == Counter({e: 1 for e in data.emails})
    assert statuses(engine, send_id) == Counter({"sent": 10})


def test_no_extra_batches_while_one_waits_in_the_broker_or_holds_a_lease(
    engine: Engine, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """The send-active mark lives one lease. A batch waiting longer than that
    in the broker (every worker busy) used to let the dispatcher queue more
    batches on top of it, tick after tick; now the queued batch holds them
    back until it starts, and a batch at work holds them back while its lease
    lives, even after the mark has lapsed."""
    data = seed(engine, 6)
    with SmtpSink(tmp_path / "o") as sink:
        rt = runtime(database_url, redis_url, sink)
    try:
        send_id = start(engine, rt, data.part_id)
        queued: list[int] = []

        def tick(now: datetime | None = None) -> dict[int, int]:
            return dispatch(engine, rt.coordinator, queued.append, parallelism=2, interval=1,
                            active_ttl=0.2, now=now).enqueued

        assert tick() == {send_id: 2}
        time.sleep(0.3)  # the mark lapses; both batches still wait in the broker
        assert not rt.redis.exists(f"mailer:send-active:{send_id}")
        assert tick() == {} and tick() == {}
        assert queued == [send_id, send_id]
        # The first batch starts and takes two rows: the second still waits.
        rt.coordinator.note_batch_started(send_id)
        now = datetime.now(UTC)
        with engine.begin() as conn:
            taken = ledger.claim_batch(conn, send_id=send_id, limit=2, now=now,
                                       lease=timedelta(seconds=30), lease_token="a")
        assert len(taken) == 2
        time.sleep(0.3)
        assert tick() == {}
        # Both started; the first still holds its rows under a live lease.
        rt.coordinator.note_batch_started(send_id)
        assert rt.coordinator.queued_batches(send_id) == 0
        time.sleep(0.3)
        assert tick() == {}
        # Once that lease has run out its rows come back and batches are queued.
        assert tick(now + timedelta(seconds=31)) == {send_id: 2}
        assert rt.coordinator.queued_batches(send_id) == 2
        # A worker took both from the broker, started one (two rows) and was
        # killed: when its rows come back the other counts as lost with it.
        rt.coordinator.note_batch_started(send_id)
        with engine.begin() as conn:
            assert len(ledger.claim_batch(conn, send_id=send_id, limit=2, now=now,
                                          lease=timedelta(seconds=40), lease_token="b")) == 2
        time.sleep(0.3)
        assert tick(now + timedelta(seconds=35)) == {}
        report = dispatch(engine, rt.coordinator, queued.append, parallelism=2, interval=1,
                          active_ttl=0.2, now=now + timedelta(seconds=41))
        assert report.released_leases == 2 and report.enqueued == {send_id: 2}
    finally:
        rt.dispose()
