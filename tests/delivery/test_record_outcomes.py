"""Recording a group of outcomes: every kind of outcome in one group, on
both databases (PostgreSQL takes accepted messages by a statement of their
own, per relay; the rest, and SQLite, by the general one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update

from mailer.db import session_scope
from mailer.delivery import ledger
from mailer.delivery.dispatch import start_send
from mailer.delivery.ledger import D, Outcome
from mailer.models import DeliveryStatus
from mailer.services.sends import create_send
from mailer.testing.seed import LIST, seed


def test_a_mixed_group_is_recorded_row_by_row(engine: Engine) -> None:
    data = seed(engine, 8)
    now = datetime.now(UTC).replace(microsecond=0)
    with session_scope(engine) as session:
        send_id = int(create_send(session=session, part_id=data.part_id, list_names=[LIST]).id)  # type: ignore[arg-type]
    start_send(engine, send_id, now=now)
    with engine.begin() as conn:
        rows = ledger.claim_batch(
            conn, send_id=send_id, limit=8, now=now, lease=timedelta(minutes=5)
        )
        # a retried row keeps its Message-ID when it succeeds; its earlier error goes
        conn.execute(
            update(D)
            .where(D.c.id == rows[2].delivery_id)
            .values(last_error="451 greylisted", message_id="<kept@example.jp>")
        )
        # a row the sweeper took back meanwhile is not overwritten
        conn.execute(update(D).where(D.c.id == rows[7].delivery_id).values(status="pending"))
    ids = [r.delivery_id for r in rows]
    later = now + timedelta(minutes=10)
    outcomes = [
        Outcome(
            ids[0], DeliveryStatus.SENT, relay="a:25", code=250, message_id="<m0@x.example.jp>"
        ),
        Outcome(
            ids[1], DeliveryStatus.SENT, relay="b:25", code=250, message_id="<m1@x.example.jp>"
        ),
        Outcome(ids[2], DeliveryStatus.SENT, relay="a:25", code=250),
        Outcome(
            ids[3],
            DeliveryStatus.DEFERRED,
            "451 4.7.1 later",
            next_attempt_at=later,
            code=451,
            message_id="<m3@x.example.jp>",
        ),
        Outcome(
            ids[4],
            DeliveryStatus.FAILED,
            "550 5.1.1 no such user",
            smtp_rejected=True,
            code=550,
            message_id="<m4@x.example.jp>",
        ),
        Outcome(
            ids[5],
            DeliveryStatus.PENDING,
            "send stopped",
            refund_attempt=True,
            message_id="<m5@x.example.jp>",
        ),
        Outcome(ids[6], DeliveryStatus.FAILED, "render: broken part"),
        Outcome(
            ids[7], DeliveryStatus.SENT, relay="a:25", code=250, message_id="<m7@x.example.jp>"
        ),
    ]
    with engine.begin() as conn:
        changed = ledger.record_outcomes(conn, outcomes, now=now)
    assert changed == 7
    with engine.connect() as conn:
        got = {r.id: r for r in conn.execute(select(D).where(D.c.id.in_(ids)))}

    def when(v: datetime | None) -> datetime | None:
        return v if v is None or v.tzinfo else v.replace(tzinfo=UTC)

    assert (got[ids[0]].status, got[ids[0]].relay, got[ids[0]].message_id) == (
        "sent",
        "a:25",
        "<m0@x.example.jp>",
    )
    assert when(got[ids[0]].sent_at) == now and got[ids[0]].lease_until is None
    assert got[ids[0]].attempts == 1 and got[ids[0]].last_error in ("", None)
    assert (got[ids[1]].status, got[ids[1]].relay) == ("sent", "b:25")
    r2 = got[ids[2]]
    assert (r2.status, r2.last_error, r2.message_id) == (
        "sent",
        "",
        "<kept@example.jp>",
    )
    r3 = got[ids[3]]
    assert (r3.status, r3.last_error, when(r3.next_attempt_at), r3.sent_at) == (
        "deferred",
        "451 4.7.1 later",
        later,
        None,
    )
    assert (got[ids[4]].status, got[ids[4]].last_error) == ("failed", "550 5.1.1 no such user")
    r5 = got[ids[5]]
    assert (r5.status, r5.attempts, r5.lease_until) == ("pending", 0, None)
    assert (got[ids[6]].status, got[ids[6]].last_error) == ("failed", "render: broken part")
    assert (got[ids[7]].status, got[ids[7]].sent_at) == ("pending", None)


def test_claims_after_a_hint_then_take_rows_handed_back_below_it(engine: Engine) -> None:
    data = seed(engine, 10)
    now = datetime.now(UTC)
    lease = timedelta(minutes=5)
    with session_scope(engine) as session:
        send_id = int(create_send(session=session, part_id=data.part_id, list_names=[LIST]).id)  # type: ignore[arg-type]
    start_send(engine, send_id, now=now)

    def claim(limit: int, after_id: int) -> list[int]:
        with engine.begin() as conn:
            rows = ledger.claim_batch(
                conn, send_id=send_id, limit=limit, now=now, lease=lease, after_id=after_id
            )
        return [r.delivery_id for r in rows]

    first = claim(4, 0)
    ids = sorted(first)
    with engine.begin() as conn:  # the second row is handed back (a stopped batch)
        conn.execute(update(D).where(D.c.id == ids[1]).values(status="pending"))
    second = claim(3, max(first))
    assert second == [ids[3] + 1, ids[3] + 2, ids[3] + 3]  # after the hint, not the row below
    third = claim(5, max(second))
    assert third == sorted([ids[1], ids[3] + 4, ids[3] + 5, ids[3] + 6])  # and then below it
    assert claim(5, max(third)) == []


def test_renewal_and_outcomes_touch_only_rows_held_under_the_token(engine: Engine) -> None:
    """Fencing in the ledger: worker A's rows, taken back by the sweeper and
    claimed by B, are neither renewed nor written by A any more (both
    statements of PostgreSQL's record, and SQLite's)."""
    data = seed(engine, 4)
    now = datetime.now(UTC).replace(microsecond=0)
    lease = timedelta(seconds=30)
    with session_scope(engine) as session:
        send_id = int(create_send(session=session, part_id=data.part_id, list_names=[LIST]).id)  # type: ignore[arg-type]
    start_send(engine, send_id, now=now)
    with engine.begin() as conn:
        rows_a = ledger.claim_batch(
            conn, send_id=send_id, limit=4, now=now, lease=lease, lease_token="a" * 32
        )
        ids = [r.delivery_id for r in rows_a]
        assert ledger.renew_leases(
            conn, ids=ids, lease_token="a" * 32, now=now + lease, lease=lease
        ) == set(ids)
        # the renewal moved the lease: the sweeper at the old end takes nothing
        assert ledger.release_expired_leases(conn, now=now + lease + timedelta(seconds=1)) == 0
        assert ledger.release_expired_leases(conn, now=now + 3 * lease) == 4
        rows_b = ledger.claim_batch(
            conn, send_id=send_id, limit=2, now=now + 3 * lease, lease=lease,
            lease_token="b" * 32,
        )
        taken = {r.delivery_id for r in rows_b}
        rows_a2 = ledger.claim_batch(  # A's last two rows, claimed again by A
            conn, send_id=send_id, limit=2, now=now + 3 * lease, lease=lease,
            lease_token="c" * 32,
        )
        assert ledger.renew_leases(
            conn, ids=ids, lease_token="a" * 32, now=now + 3 * lease, lease=lease
        ) == set()
        late = [
            Outcome(ids[0], DeliveryStatus.SENT, relay="a:25", code=250),
            Outcome(ids[1], DeliveryStatus.DEFERRED, "451 later", next_attempt_at=now, code=451),
            Outcome(ids[2], DeliveryStatus.PENDING, "handed back", refund_attempt=True),
        ]
        assert ledger.record_outcomes(conn, late, now=now, lease_token="a" * 32) == 0
        assert ledger.record_outcomes(
            conn,
            [Outcome(i, DeliveryStatus.SENT, relay="b:25", code=250) for i in sorted(taken)],
            now=now,
            lease_token="b" * 32,
        ) == 2
        got = {
            r.id: r for r in conn.execute(select(D.c.id, D.c.status, D.c.relay, D.c.lease_token))
        }
    assert {got[i].status for i in taken} == {"sent"} and {got[i].relay for i in taken} == {"b:25"}
    assert {got[r.delivery_id].status for r in rows_a2} == {"sending"}
