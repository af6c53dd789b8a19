"""How the per-batch ledger statements grow with the size of a send (PostgreSQL).

Run: .venv/bin/python benchmarks/bench_ledger_growth.py [N ...]   (default 10000 100000)

For each N: a fresh database with N subscribers (mailer.bench.data), a send
started (recipients frozen), then the median time of the statements one batch
runs: claim_batch (200 rows), count_by_status (over the whole send, run after
batches with a permanent failure by the engine's error-threshold check),
due_rows (limit 4, as the dispatcher asks) and the dispatcher's lease sweep.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from mailer.bench.data import prepare_database
from mailer.bench.services import create_postgres_database
from mailer.db import make_engine, session_scope
from mailer.delivery import ledger
from mailer.delivery.dispatch import start_send
from mailer.delivery.ledger import D
from mailer.models import DeliveryStatus
from mailer.services.sends import create_send


def _median_ms(fn: Callable[[], object], repeat: int = 15) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def measure(n: int) -> None:
    db = create_postgres_database()
    engine = make_engine(db.url)
    try:
        seeded = prepare_database(engine, n)
        now = datetime.now(UTC)
        with session_scope(engine) as session:
            send_id = int(
                create_send(
                    session=session,
                    part_id=seeded.part_id,  # type: ignore[arg-type]
                    list_names=[seeded.list_name],
                    at=now,
                ).id
            )
        t0 = time.perf_counter()
        start_send(engine, send_id, now=now)
        freeze_ms = (time.perf_counter() - t0) * 1000

        def claim(after_id: int = 0) -> None:  # after_id: as a worker after its first batch
            with engine.begin() as conn:
                ledger.claim_batch(
                    conn,
                    send_id=send_id,
                    limit=200,
                    now=datetime.now(UTC),
                    lease=timedelta(seconds=300),
                    after_id=after_id,
                )

        def counts() -> None:
            with engine.connect() as conn:
                ledger.count_by_status(conn, send_id)

        def due() -> None:  # as the dispatcher asks it: at most `parallelism` rows
            with engine.connect() as conn:
                ledger.due_rows(conn, send_id, datetime.now(UTC), limit=4)

        def sweep() -> None:  # the dispatcher's lease sweep, every tick
            with engine.begin() as conn:
                ledger.release_expired_leases(conn, now=datetime.now(UTC))

        print(
            f"N={n:>7,}: freeze {freeze_ms:7.1f} ms | claim_batch(200) {_median_ms(claim):6.1f}"
            f" ms | count_by_status {_median_ms(counts):6.1f} ms | due_rows "
            f"{_median_ms(due):6.1f} ms | lease sweep {_median_ms(sweep):6.1f} ms",
            flush=True,
        )
        # Late in a send: 90 % of the rows claimed, then sent (two updates
        # each, as the engine makes them), their old index entries not yet
        # vacuumed.
        with engine.begin() as conn:
            first = conn.execute(
                select(func.min(D.c.id)).where(D.c.send_id == send_id)
            ).scalar_one()
            # The same moves as the engine's, through the state table.
            for move in (ledger.CLAIM[DeliveryStatus.PENDING], ledger.ACCEPTED):
                conn.execute(move.update(D, D.c.send_id == send_id, D.c.id < first + int(n * 0.9)))
        hint = first + int(n * 0.9) - 1

        print(
            f"           with 90 % sent: claim_batch(200) {_median_ms(claim):6.1f} ms"
            f" | after the last claimed id {_median_ms(lambda: claim(hint)):6.1f} ms",
            flush=True,
        )
    finally:
        engine.dispose()
        db.close()


def main() -> None:
    for n in [int(a) for a in sys.argv[1:]] or [10_000, 100_000]:
        measure(n)


if __name__ == "__main__":
    main()
