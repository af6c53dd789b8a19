"""What leaving out who already has the part costs the freeze (PostgreSQL).

Run: .venv/bin/python benchmarks/bench_freeze_overlap.py [N ...]   (default 100000)

For each N: a fresh database with N subscribers on one list (mailer.bench.data),
then three sends of the same part, each frozen by `start_send` as the
dispatcher does: the first (`skip`, empty ledger: the common case), its rows
then marked sent; a second with `skip` (everyone holds the part: the
NOT EXISTS finds a row for each and inserts none); a third with `again`
(no such condition: N rows inserted next to the first N).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from mailer.bench.data import prepare_database
from mailer.bench.services import create_postgres_database
from mailer.db import make_engine, session_scope
from mailer.delivery import ledger
from mailer.delivery.dispatch import start_send
from mailer.delivery.ledger import D
from mailer.models import DeliveryStatus, SendOverlap
from mailer.services.sends import create_send


def measure(n: int) -> None:
    db = create_postgres_database()
    engine = make_engine(db.url)
    try:
        seeded = prepare_database(engine, n)
        times = []
        for overlap in (SendOverlap.SKIP, SendOverlap.SKIP, SendOverlap.AGAIN):
            now = datetime.now(UTC)
            with session_scope(engine) as session:
                send_id = int(create_send(session=session, part_id=seeded.part_id,  # type: ignore[arg-type]
                                          list_names=[seeded.list_name], at=now,
                                          overlap=overlap).id)
            t0 = time.perf_counter()
            start_send(engine, send_id, now=now)
            times.append((time.perf_counter() - t0) * 1000)
            with engine.begin() as conn:  # all sent, by the engine's moves (state table)
                for move in (ledger.CLAIM[DeliveryStatus.PENDING], ledger.ACCEPTED):
                    conn.execute(move.update(D, D.c.send_id == send_id))
        print(f"N={n:>7,}: freeze first (skip, empty ledger) {times[0]:7.1f} ms | "
              f"skip, everyone has it {times[1]:7.1f} ms | again {times[2]:7.1f} ms", flush=True)
    finally:
        engine.dispose()
        db.close()


def main() -> None:
    for n in [int(a) for a in sys.argv[1:]] or [100_000]:
        measure(n)


if __name__ == "__main__":
    main()
