"""Dispatcher and engine called in-process (no Celery) against a real
database, real Redis and a real SMTP sink."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dkim
import pytest
import redis
from sqlalchemy import Engine

from mailer.db import session_scope
from mailer.delivery.dispatch import Coordinator, dispatch
from mailer.delivery.engine import deliver_send
from mailer.embedded.smtp_sink import FaultPlan, SmtpSink
from mailer.models import DeliveryStatus, SendStatus
from mailer.runtime import Runtime
from mailer.services.send_progress import send_progress
from mailer.services.sends import create_send
from mailer.settings import Settings, load_settings
from mailer.testing.seed import LIST, seed
from mailer.testing.stack import TEST_SECRET


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "outbox") as s:
        yield s


def make_settings(database_url: str, redis_url: str, sink: SmtpSink, **extra: object) -> Settings:
    return load_settings(
        database_url=database_url,
        redis_url=redis_url,
        smtp_url=sink.url,
        secret_key=TEST_SECRET,
        base_url="https://mailer.example.com",
        rate_limit="1000/s",
        **extra,
    )


def schedule(engine: Engine, part_id: int, at: datetime | None = None) -> int:
    with session_scope(engine) as session:
        return int(create_send(session=session, part_id=part_id, list_names=[LIST], at=at).id)  # type: ignore[arg-type]


def test_dispatcher_starts_only_due_sends_and_one_at_a_time(
    engine: Engine, database_url: str, redis_url: str, sink: SmtpSink
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    data = seed(engine, 3)
    now = datetime.now(UTC)
    due = schedule(engine, data.part_id, now - timedelta(seconds=1))
    later = schedule(engine, data.part2_id, now + timedelta(hours=1))
    coordinator = Coordinator(redis.Redis.from_url(redis_url))
    queued: list[int] = []
    held = coordinator.acquire_dispatch_lock(10)  # another dispatcher is acting
    assert held
    report = dispatch(engine, coordinator, queued.append, parallelism=2, interval=1)
    assert report.skipped and not queued
    coordinator.release_dispatch_lock(held)
    report = dispatch(engine, coordinator, queued.append, parallelism=2, interval=1)
    assert report.started == [due] and queued == [due, due]
    assert send_progress(engine=engine, send_id=later).status is SendStatus.SCHEDULED
    assert send_progress(engine=engine, send_id=due).recipients == 3
    # a second tick does not queue more while workers are marked active
    report = dispatch(engine, coordinator, queued.append, parallelism=2, interval=1)
    assert queued == [due, due]


def test_engine_pauses_a_send_when_failures_pass_the_threshold(
    engine: Engine, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    data = seed(engine, 30)
    reject = FaultPlan(lambda st, r, a: "550 5.7.1 message refused" if st == "RCPT" else None)
    with SmtpSink(tmp_path / "o", faults=reject) as bad:
        settings = make_settings(database_url, redis_url, bad, batch_size=10)
        rt = Runtime(settings)
        send_id = schedule(engine, data.part_id)
        dispatch(engine, rt.coordinator, lambda _: None, parallelism=1, interval=1)
        report = deliver_send(rt.delivery_context(), send_id, time_budget=30)
        rt.dispose()
    p = send_progress(engine=engine, send_id=send_id)
    assert p.status is SendStatus.PAUSED
    assert "自動で一時停止しました" in p.note and "恒久的に失敗しました" in p.note
    assert p.counts[DeliveryStatus.FAILED] == 20 and report.failed == 20
    assert p.counts[DeliveryStatus.PENDING] == 10


def test_preflight_errors_pause_the_send_before_it_starts(
    engine: Engine, database_url: str, redis_url: str, sink: SmtpSink
) -> None:
    """The sample part names 髙橋; a list with an ISO-2022-JP reader blocks it."""
    from sqlmodel import Session, select

    from mailer.models import Subscriber

    redis.Redis.from_url(redis_url).flushdb()
    data = seed(engine, 2)
    with Session(engine) as session:
        sub = session.exec(select(Subscriber).where(Subscriber.email == data.emails[0])).one()
        sub.charset = "iso-2022-jp"
        session.add(sub)
        session.commit()
    rt = Runtime(make_settings(database_url, redis_url, sink))
    send_id = schedule(engine, data.part_id)
    dispatch(
        engine, rt.coordinator, lambda _: None, parallelism=1, interval=1, preflight=rt.preflight
    )
    rt.dispose()
    p = send_progress(engine=engine, send_id=send_id)
    assert p.status is SendStatus.PAUSED and p.recipients == 0
    assert p.note.startswith("事前チェックのエラー：") and "U+9AD9" in p.note


def test_dkim_signature_covers_list_unsubscribe_and_verifies(
    engine: Engine, database_url: str, redis_url: str, sink: SmtpSink, tmp_path: Path
) -> None:
    import subprocess

    from mailer.delivery.dkim import dns_txt_value, load_dkim_key

    redis.Redis.from_url(redis_url).flushdb()
    pem_path = tmp_path / "dkim.pem"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(pem_path), "2048"], check=True, capture_output=True
    )
    txt = dns_txt_value(load_dkim_key(pem_path, selector="sel1", domain="mailer.example.com"))
    data = seed(engine, 2)
    rt = Runtime(
        make_settings(database_url, redis_url, sink, dkim_key_file=pem_path, dkim_selector="sel1")
    )
    send_id = schedule(engine, data.part_id)
    dispatch(engine, rt.coordinator, lambda _: None, parallelism=1, interval=1)
    deliver_send(rt.delivery_context(), send_id, time_budget=30)
    rt.dispose()
    assert len(sink.accepted) == 2
    raw = sink.accepted[0].data

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"sel1._domainkey.mailer.example.com."
        return txt.encode() if isinstance(txt, str) else txt

    assert dkim.verify(raw, dnsfunc=dnsfunc)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    signed = msg["DKIM-Signature"]
    assert "list-unsubscribe" in signed.lower() and "list-unsubscribe-post" in signed.lower()
    tampered = raw.replace(
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        b"List-Unsubscribe-Post: List-Unsubscribe=Two-Click",
    )
    assert tampered != raw and not dkim.verify(tampered, dnsfunc=dnsfunc)


def test_unsubscribed_or_suppressed_after_start_are_skipped(
    engine: Engine, database_url: str, redis_url: str, sink: SmtpSink
) -> None:
    from sqlmodel import Session, select

    from mailer.models import Subscriber, SubscriberStatus, Suppression

    redis.Redis.from_url(redis_url).flushdb()
    data = seed(engine, 4)
    rt = Runtime(make_settings(database_url, redis_url, sink))
    send_id = schedule(engine, data.part_id)
    dispatch(engine, rt.coordinator, lambda _: None, parallelism=1, interval=1)
    assert send_progress(engine=engine, send_id=send_id).recipients == 4
    with Session(engine) as session:  # after the freeze, before any delivery
        sub = session.exec(select(Subscriber).where(Subscriber.email == data.emails[0])).one()
        sub.status = SubscriberStatus.UNSUBSCRIBED
        session.add(sub)
        session.add(Suppression(email=data.emails[1], reason="complaint"))
        session.commit()
    deliver_send(rt.delivery_context(), send_id, time_budget=30)
    rt.dispose()
    p = send_progress(engine=engine, send_id=send_id)
    assert p.counts[DeliveryStatus.SKIPPED] == 2 and p.counts[DeliveryStatus.SENT] == 2
    assert sorted(a.recipients[0] for a in sink.accepted) == sorted(data.emails[2:])


def test_sweeper_trusts_the_accepted_journal(
    engine: Engine, database_url: str, redis_url: str
) -> None:
    """Rows a dead worker had handed to the relay (journaled, not yet committed)
    become sent; the others go back to pending."""
    from mailer.delivery import ledger
    from mailer.delivery.journal import RedisJournal

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    data = seed(engine, 5)
    send_id = schedule(engine, data.part_id)
    coordinator = Coordinator(client)
    dispatch(engine, coordinator, lambda _: None, parallelism=1, interval=1)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        rows = ledger.claim_batch(
            conn, send_id=send_id, limit=5, now=now, lease=timedelta(seconds=10)
        )
    journal = RedisJournal(client)
    for row in rows[:3]:
        journal.note_accepted(send_id, row.delivery_id)
    later = now + timedelta(seconds=11)
    with engine.begin() as conn:
        assert ledger.release_expired_leases(conn, now=later, accepted=journal.accepted) == 5
    p = send_progress(engine=engine, send_id=send_id)
    assert p.counts[DeliveryStatus.SENT] == 3 and p.counts[DeliveryStatus.PENDING] == 2


def test_sweeper_tells_the_operator_in_one_line(
    engine: Engine, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A dead worker's rows taken back by the dispatcher: one WARNING in
    Japanese naming the send and how many rows (and how many the journal
    showed were sent); nothing at WARNING when there is nothing to take back."""
    import logging

    from mailer.delivery import ledger
    from mailer.delivery.journal import RedisJournal

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    data = seed(engine, 6)
    send_id = schedule(engine, data.part_id)
    coordinator = Coordinator(client)
    journal = RedisJournal(client)
    dispatch(engine, coordinator, lambda _: None, parallelism=1, interval=1)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        rows = ledger.claim_batch(conn, send_id=send_id, limit=4, now=now,
                                  lease=timedelta(seconds=10))
    journal.note_accepted(send_id, rows[0].delivery_id)
    caplog.set_level(logging.INFO, logger="mailer.delivery.dispatch")
    dispatch(engine, coordinator, lambda _: None, parallelism=1, interval=1, journal=journal,
             now=now + timedelta(seconds=5))  # leases still held: nothing said
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    report = dispatch(engine, coordinator, lambda _: None, parallelism=1, interval=1,
                      journal=journal, now=now + timedelta(seconds=11))
    assert report.taken_back == {send_id: (3, 1)}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        f"配信 {send_id}: 応答のなくなったワーカーの宛先 4 件を引き取りました"
        "（3 件は未送信に戻して再送、1 件は送信済みと確認）"
    ]


def test_approval_required_before_a_send_starts(engine: Engine, redis_url: str) -> None:
    from mailer.services.actors import Actor
    from mailer.services.sends import SendError, approve_send

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    data = seed(engine, 2)
    with session_scope(engine) as session:
        send = create_send(
            session=session, part_id=data.part_id, list_names=[LIST], created_by="editor-a"
        )
        send_id = int(send.id)  # type: ignore[arg-type]
    coordinator = Coordinator(client)
    tick = dict(parallelism=1, interval=1, require_approval=True)
    assert dispatch(engine, coordinator, lambda _: None, **tick).started == []  # type: ignore[arg-type]
    with pytest.raises(SendError, match="ほかの人"):
        approve_send(engine=engine, send_id=send_id, actor=Actor("Editor-A", None, "cli"))
    approve_send(engine=engine, send_id=send_id, actor=Actor("approver-b", None, "cli"))
    assert dispatch(engine, coordinator, lambda _: None, **tick).started == [send_id]  # type: ignore[arg-type]
    assert send_progress(engine=engine, send_id=send_id).approved_by == "approver-b"


def test_redis_data_lost_is_told_once_while_a_send_runs(
    engine: Engine, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """FLUSHALL (or Redis restarted empty) under a running send: the next tick
    says so in one WARNING naming the send, and queues batches again; the
    ticks after it say nothing."""
    import logging

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    data = seed(engine, 3)
    send_id = schedule(engine, data.part_id)
    coordinator = Coordinator(client)
    caplog.set_level(logging.INFO, logger="mailer.delivery.dispatch")
    queued: list[int] = []
    dispatch(engine, coordinator, queued.append, parallelism=1, interval=1)  # starts it
    dispatch(engine, coordinator, queued.append, parallelism=1, interval=1)

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    assert warnings() == [] and queued == [send_id]  # a first start with nothing running
    client.flushdb()  # the FLUSHALL of this test's database
    dispatch(engine, coordinator, queued.append, parallelism=1, interval=1)
    dispatch(engine, coordinator, queued.append, parallelism=1, interval=1)
    [line] = warnings()
    assert line.startswith("Redis のデータが失われていました") and f"配信 {send_id} " in line
    assert queued == [send_id, send_id]  # the lost send-active mark: queued again at once
