"""Drive the real pipeline: Celery workers + beat, a send scheduled now,
the ledger polled until every row is sent.

Batch latency (claim → last outcome recorded) comes from the ledger: rows
claimed together carry the same `updated_at` (the claim time) while they are
`sending`; a poller groups sending rows by it every 50 ms; afterwards each
claim's end is the latest `sent_at` of its rows.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select, text

from mailer.bench.stats import CpuMeter, peak_rss_bytes, process_tree
from mailer.db import session_scope
from mailer.delivery.ledger import SEND, D
from mailer.embedded.processes import Child, start_beat, start_worker
from mailer.models import DeliveryStatus, SendStatus
from mailer.services.sends import create_send

#: send statuses in which nothing more is sent without a person acting
STOPPED = frozenset({SendStatus.DONE, SendStatus.PAUSED, SendStatus.CANCELLED})


@dataclass
class ProductResult:
    recipients: int
    counts: dict[str, int]
    seconds: float  # scheduling → last sent_at
    dispatch_lag: float  # scheduling → send started (ledger frozen)
    first_sent: float  # scheduling → first sent_at
    latencies: list[float] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    claims_seen: int = 0
    pool_peak_rss: list[int] = field(default_factory=list)
    main_peak_rss: int = 0
    cpu_seconds: float = 0.0  # worker main + pool children, during the send
    db_cpu_seconds: float | None = None  # PostgreSQL backends of this database
    redis_cpu_seconds: float | None = None
    timed_out: bool = False
    log_dir: Path | None = None

    @property
    def sent(self) -> int:
        return self.counts.get(DeliveryStatus.SENT.value, 0)


def _utc(v: datetime) -> datetime:
    return v if v.tzinfo else v.replace(tzinfo=UTC)


def wait_ready(child: Child, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited at start; see {child.log}")
        try:
            if " ready." in child.log.read_text(errors="replace"):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} not ready after {timeout:.0f} s; see {child.log}")


def _db_backend_pids(engine: Engine) -> list[int]:
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        return [
            int(p)
            for p in conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            ).scalars()
        ]


def run_product(
    *,
    engine: Engine,
    env: dict[str, str],
    workdir: Path,
    part_id: int,
    list_name: str,
    recipients: int,
    workers: int,
    timeout: float,
    redis_pid: int | None = None,
) -> ProductResult:
    """Start a worker (concurrency = workers) and beat, send the part, wait."""
    children: list[Child] = []
    try:
        worker = start_worker(
            env, workdir / "worker.log", concurrency=workers, hostname=f"bench{workers}"
        )
        children.append(worker)
        children.append(
            start_beat({**env, "MAILER_VAR_DIR": str(workdir / "beat")}, workdir / "beat.log")
        )
        wait_ready(worker)
        tree = process_tree(worker.process.pid)
        meter = CpuMeter()
        meter.start(tree)
        redis_meter = CpuMeter()
        if redis_pid:
            redis_meter.start([redis_pid])
        t0 = datetime.now(UTC)
        with session_scope(engine) as session:
            send = create_send(
                session=session, part_id=part_id, list_names=[list_name], at=t0, created_by="bench"
            )
            send_id = int(send.id)  # type: ignore[arg-type]
        claims: dict[datetime, tuple[int, int, int]] = {}  # claim time -> (min id, max id, n)
        deadline = time.monotonic() + timeout
        timed_out = False
        last_count = 0.0
        while True:
            with engine.connect() as conn:
                for at, lo, hi, n in conn.execute(
                    select(D.c.updated_at, func.min(D.c.id), func.max(D.c.id), func.count())
                    .where(D.c.send_id == send_id, D.c.status == DeliveryStatus.SENDING.value)
                    .group_by(D.c.updated_at)
                ):
                    seen = claims.get(at)
                    if seen is None or n > seen[2]:
                        claims[at] = (lo, hi, n)
                done = False
                if time.monotonic() - last_count >= 0.25:
                    last_count = time.monotonic()
                    # The send's own status, not a count over its rows: the
                    # dispatcher marks it done (within a tick of the last
                    # outcome), and the time measured ends at the last sent_at.
                    status = conn.execute(
                        select(SEND.c.status).where(SEND.c.id == send_id)
                    ).scalar_one()
                    done = status in STOPPED
            if done:
                break
            if any(c.process.poll() is not None for c in children):
                raise RuntimeError(f"a worker or beat stopped; see {workdir}")
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.05)
        pool = [p for p in process_tree(worker.process.pid) if p != worker.process.pid]
        pool_rss = [peak_rss_bytes(p) for p in pool]
        main_rss = peak_rss_bytes(worker.process.pid)
        cpu = meter.stop(pool)
        db_cpu = None
        if engine.dialect.name == "postgresql":
            from mailer.bench.stats import cpu_seconds

            db_cpu = sum(cpu_seconds(p) for p in _db_backend_pids(engine))
        redis_cpu = redis_meter.stop() if redis_pid else None
        with engine.connect() as conn:
            counts = {
                str(s): int(n)
                for s, n in conn.execute(
                    select(D.c.status, func.count())
                    .where(D.c.send_id == send_id)
                    .group_by(D.c.status)
                )
            }
            started = conn.execute(select(SEND.c.started_at).where(SEND.c.id == send_id)).scalar()
            sent_rows = sorted(
                (int(i), _utc(s))
                for i, s in conn.execute(
                    select(D.c.id, D.c.sent_at).where(
                        D.c.send_id == send_id, D.c.sent_at.is_not(None)
                    )
                )
            )
        ids = [i for i, _ in sent_rows]
        latencies, sizes = [], []
        for at, (lo, hi, n) in sorted(claims.items()):
            a, b = bisect.bisect_left(ids, lo), bisect.bisect_right(ids, hi)
            if b > a:
                end = max(s for _, s in sent_rows[a:b])
                latencies.append((end - _utc(at)).total_seconds())
                sizes.append(n)
        first = min((s for _, s in sent_rows), default=t0)
        last = max((s for _, s in sent_rows), default=t0)
        return ProductResult(
            recipients=recipients,
            counts=counts,
            seconds=(last - t0).total_seconds(),
            dispatch_lag=((_utc(started) - t0).total_seconds() if started else float("nan")),
            first_sent=(first - t0).total_seconds(),
            latencies=latencies,
            batch_sizes=sizes,
            claims_seen=len(claims),
            pool_peak_rss=pool_rss,
            main_peak_rss=main_rss,
            cpu_seconds=cpu,
            db_cpu_seconds=db_cpu,
            redis_cpu_seconds=redis_cpu,
            timed_out=timed_out,
            log_dir=workdir,
        )
    finally:
        for c in reversed(children):
            c.stop(timeout=20)
