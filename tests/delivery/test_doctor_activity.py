"""`mailer doctor` reports dead workers and rows stuck in `sending`
(reliability #17): a real worker notes itself in Redis, a clean stop removes
it, a killed one stays as dead; rows past their lease by more than a minute
mean the sweeper is not running."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import Engine

from mailer.db import session_scope
from mailer.delivery import ledger
from mailer.delivery.dispatch import start_send
from mailer.delivery.liveness import ALIVE_SECONDS, WorkerRegistry
from mailer.ops.checks import Status
from mailer.ops.probes import check_activity
from mailer.services.sends import create_send
from mailer.testing.seed import LIST, seed
from mailer.testing.stack import Stack


def _wait_seen(registry: WorkerRegistry, name: str, present: bool = True) -> None:
    """Wait until the worker `name` (its node name is name@host) is (not) noted."""
    deadline = time.monotonic() + 60
    while any(w.hostname.startswith(f"{name}@") for w in registry.seen()) != present:
        assert time.monotonic() < deadline, f"{name} never {'noted' if present else 'removed'}"
        time.sleep(0.2)


def test_live_killed_and_stopped_workers(stack: Stack, engine: Engine) -> None:
    registry = WorkerRegistry(redis.Redis.from_url(stack.redis_url))
    now = datetime.now(UTC)
    killed = stack.start_worker(concurrency=1, name="w-killed")
    stopped = stack.start_worker(concurrency=1, name="w-stopped")
    _wait_seen(registry, "w-killed")
    _wait_seen(registry, "w-stopped")
    checks = check_activity(engine, registry.seen, now=now)
    live = [c for c in checks if c.name == "workers"]
    assert len(live) == 1 and live[0].status is Status.OK
    assert "2 台が動いています" in live[0].message

    stopped.stop(timeout=15)  # SIGTERM: a clean shutdown says goodbye
    _wait_seen(registry, "w-stopped", present=False)
    killed.kill()  # SIGKILL: no goodbye; seen as dead once its notes stop
    later = time.time() + ALIVE_SECONDS + 5
    checks = check_activity(engine, lambda: registry.seen(now=later), now=now)
    workers = [c for c in checks if c.name == "workers"]
    assert [c.status for c in workers] == [Status.OK, Status.WARN], workers
    assert "動いているものはありません" in workers[0].message
    assert workers[1].message.startswith("w-killed@") and "強制終了か停止" in workers[1].message


def test_no_live_worker_while_a_send_runs_is_an_error(engine: Engine) -> None:
    data = seed(engine, 3)
    with session_scope(engine) as session:
        send_id = int(create_send(session=session, part_id=data.part_id, list_names=[LIST]).id)  # type: ignore[arg-type]
    start_send(engine, send_id, now=datetime.now(UTC))
    checks = check_activity(engine, lambda: [], now=datetime.now(UTC))
    workers = [c for c in checks if c.name == "workers"]
    assert workers[0].status is Status.ERROR and "動いているワーカーがない" in workers[0].message


def test_rows_stuck_past_their_lease(engine: Engine) -> None:
    data = seed(engine, 4)
    now = datetime.now(UTC).replace(microsecond=0)
    with session_scope(engine) as session:
        send_id = int(create_send(session=session, part_id=data.part_id, list_names=[LIST]).id)  # type: ignore[arg-type]
    start_send(engine, send_id, now=now)
    with engine.begin() as conn:
        ledger.claim_batch(conn, send_id=send_id, limit=4, now=now, lease=timedelta(seconds=30))

    def deliveries(at: datetime) -> list[tuple[Status, str]]:
        return [(c.status, c.message) for c in check_activity(engine, lambda: [], now=at)
                if c.name == "deliveries"]

    assert deliveries(now) == [(Status.OK, "`sending` のまま止まっているものはありません")]
    # within a minute of the lease's end the sweeper may simply not have run yet
    assert deliveries(now + timedelta(seconds=80))[0][0] is Status.OK
    stuck = deliveries(now + timedelta(minutes=5))
    assert stuck[0][0] is Status.ERROR and stuck[0][1].startswith("4 件が `sending` のまま")
