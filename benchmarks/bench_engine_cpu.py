"""Where a worker's CPU goes per message: the engine in this one process.

Run: .venv/bin/python benchmarks/bench_engine_cpu.py [N]   (default 20000)

A fresh PostgreSQL database with N subscribers (mailer.bench.data), the
sample part cut to 20 KB as `mailer bench` does, Postfix's smtp-sink (the
built-in sink if it is missing), a private Redis, and the production
delivery context (`Runtime.delivery_context`). One `deliver_send` call
sends everything in this process, so no Celery; the process's CPU time per
message is printed, and the thread CPU time spent inside each stage of the
engine (measured by wrapping the stage: a wrapped call costs about 1 µs
more, and stages nest: `pool.submit` contains `smtp.submit`, `recorder.add`
contains `journal.note` and the flushes it triggers).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailer.bench.data import prepare_database
from mailer.bench.message import trim_part
from mailer.bench.runner import _settings
from mailer.bench.services import create_postgres_database, start_redis, start_sink
from mailer.db import make_engine, session_scope
from mailer.delivery import engine as engine_module
from mailer.delivery import journal, relays, smtp
from mailer.delivery.dispatch import start_send
from mailer.runtime import Runtime
from mailer.services.sends import create_send

spent: dict[str, float] = {}


def _timed(owner: Any, name: str, label: str) -> None:
    inner: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.thread_time() - t0

    setattr(owner, name, wrapper)


def _instrument(metrics_type: type) -> None:
    e = engine_module
    for owner, name, label in (
        (e.ledger, "claim_batch", "claim (per 200)"),
        (e.ledger, "record_outcomes", "record outcomes (per 200)"),
        (e, "_message_id", "Message-ID"),
        (e, "_render", "render (slots + personalize)"),
        (e, "_slots", "  slots (unsubscribe token)"),
        (e, "personalize", "  personalize"),
        (e, "_return_path", "VERP return path"),
        (relays.RelayPool, "submit", "pool.submit"),
        (smtp.SmtpTransport, "submit", "  smtp.submit"),
        (relays.RelayPool, "drain", "pool.drain"),
        (e._Recorder, "add", "recorder.add"),
        (journal.RedisJournal, "note_accepted", "  journal note"),
        (e._Recorder, "flush", "recorder.flush (per 200)"),
        (metrics_type, "flush", "  metrics flush"),
        (journal.RedisJournal, "forget", "  journal forget"),
    ):
        _timed(owner, name, label)


def main(n: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="mailer-cpu-"))
    sink = start_sink("postfix")
    redis = start_redis(work)
    db = create_postgres_database()
    try:
        for w in sink.warnings:
            print(f"warning: {w}")
        engine = make_engine(db.url)
        seeded = prepare_database(engine, n)
        settings, _ = _settings(db, redis.url, sink, work, 1)
        trim_part(engine, settings, seeded.part_id, 20 * 1024)
        now = datetime.now(UTC)
        with session_scope(engine) as session:
            send = create_send(
                session=session,
                part_id=seeded.part_id,
                list_names=[seeded.list_name],
                at=now,
                created_by="bench",
            )
            send_id = int(send.id)  # type: ignore[arg-type]
        start_send(engine, send_id, now=now)
        runtime = Runtime(settings)
        ctx = runtime.delivery_context()
        ctx.prepared_part(seeded.part_id)  # rendered once, as a worker does
        _instrument(type(ctx.metrics))
        cpu0, t0 = os.times(), time.perf_counter()
        report = engine_module.deliver_send(ctx, send_id, time_budget=3600)
        cpu1, t1 = os.times(), time.perf_counter()
        sent = max(report.sent, 1)
        user = (cpu1.user - cpu0.user) / sent * 1e6
        system = (cpu1.system - cpu0.system) / sent * 1e6
        print(f"{report.sent} sent in {t1 - t0:.1f} s ({report.sent / (t1 - t0):,.0f} msg/s)")
        print(f"process CPU per message: {user + system:.0f} µs", end=" ")
        print(f"({user:.0f} user, {system:.0f} system)")
        print("thread CPU per message, by stage:")
        for label, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
            print(f"  {seconds / sent * 1e6:7.1f} µs  {label}")
        engine.dispose()
        runtime.dispose()
    finally:
        db.close()
        redis.close()
        sink.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
