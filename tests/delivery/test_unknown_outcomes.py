"""A transaction cut after DATA (the relay took the data, then went silent or
dropped the connection before its final reply) leaves the outcome unknowable:
recorded as `unknown` (結果不明（SMTP 応答なし）), counted, never sent again
(docs/delivery.md, "The one ambiguous case"), and the other recipients are
delivered. Real worker, Redis, database and aiosmtpd sink."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from test_engine_faults import by_index, done, ledger, received, schedule

from mailer.embedded.smtp_sink import FaultPlan
from mailer.models import DeliveryStatus
from mailer.services.send_preview import send_preview
from mailer.services.send_progress import send_progress
from mailer.testing.seed import LIST, seed
from mailer.testing.stack import Stack

pytestmark = pytest.mark.slow


def test_connection_dropped_after_data_is_unknown_and_not_sent_again(stack: Stack) -> None:
    data = seed(stack.engine, 12)
    plan = FaultPlan(lambda st, r, a: by_index({4}, "drop", attempts=9)(st, r, a)
                     if st == "DATA" else None)
    sink = stack.add_sink(plan)
    stack.start_worker()
    stack.start_beat()
    send_id = schedule(stack, data.part_id)
    stack.wait_for(send_id, done)
    cut = data.emails[4]
    # every other recipient exactly once; the cut one never reached the store
    # and was not tried again (its DATA stage was reached once)
    assert received(sink) == Counter({e: 1 for e in data.emails if e != cut})
    assert plan._seen[("DATA", cut)] == 1
    row = ledger(stack, send_id)[cut]
    assert row.status is DeliveryStatus.UNKNOWN and row.attempts == 1
    assert "no reply after data" in row.last_error
    p = send_progress(engine=stack.engine, send_id=send_id)
    assert p.unknown == 1 and p.accounted
    assert p.counts[DeliveryStatus.SENT] == 11 and p.done == 12
    assert "結果不明（SMTP 応答なし" in stack.logs()
    # the reader may have it: a later send of the part leaves them out (skip)
    preview = send_preview(engine=stack.engine, part_id=data.part_id, list_names=[LIST])
    assert preview.recipients == 12 and preview.overlap == 12


def test_relay_silent_after_data_longer_than_the_lease_is_one_unknown(stack: Stack) -> None:
    """The relay stores one message and stays silent past the lease: the worker
    waits the SMTP timeout while its keeper renews the lease, so the rows are
    not taken back and sent by the other process (a duplicate); the silent
    one is counted unknown, once, whatever the batch size."""
    data = seed(stack.engine, 40)
    stack.extra_env.update({"MAILER_LEASE_SECONDS": "10", "MAILER_SMTP_TIMEOUT": "16",
                            "MAILER_BATCH_SIZE": "40"})
    silent = data.emails[3]
    plan = FaultPlan(lambda st, r, a: ("accept-then-sleep", 60.0)
                     if st == "DATA" and r == silent else None)
    sink = stack.add_sink(plan)
    stack.start_worker(concurrency=2)
    stack.start_beat()
    started = time.monotonic()
    send_id = schedule(stack, data.part_id)
    stack.wait_for(send_id, done, timeout=90)
    assert time.monotonic() - started > 15  # it did wait the timeout, past the lease
    got = received(sink)
    assert got == Counter({e: 1 for e in data.emails}), (
        {e: n for e, n in got.items() if n != 1}, stack.logs())
    rows = ledger(stack, send_id)
    assert rows[silent].status is DeliveryStatus.UNKNOWN
    assert all(r.status is DeliveryStatus.SENT for e, r in rows.items() if e != silent)
    assert send_progress(engine=stack.engine, send_id=send_id).unknown == 1
    assert all(r.attempts == 1 for r in rows.values())  # none taken back, none retried
