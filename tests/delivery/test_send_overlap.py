"""Scheduling a part to people who already have it: the preview counts them,
`skip` (the default) leaves them out when the recipients are frozen,
`again` mails them again, and a `skip` send that would reach nobody new is
refused. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from mailer.delivery.dispatch import start_send
from mailer.delivery.ledger import D
from mailer.models import DeliveryStatus, Send, SendOverlap
from mailer.render.message import RenderConfig
from mailer.services.actors import Actor
from mailer.services.errors import ErrorKind
from mailer.services.send_preview import send_preview
from mailer.services.sends import ScheduledSend, SendError, cancel_send, schedule_send
from mailer.testing.seed import LIST, Seeded, add_subscribers, seed

EDITOR = Actor(name="editor@metro.example.jp", user_id=None, door="cli")
CONFIG = RenderConfig(base_url="https://mailer.example.com", from_name="CIOフォーラム",
                      from_address="news@mailer.example.com", list_id="cio.mailer.example.com",
                      list_name="CIOフォーラム")


def _schedule(engine: Engine, part_id: int, overlap: str = "skip") -> ScheduledSend:
    return schedule_send(engine=engine, actor=EDITOR, part_id=part_id, list_names=[LIST],
                         at=None, config=CONFIG, overlap=overlap)


def _start(engine: Engine, send_id: int) -> set[str]:
    now = datetime.now(UTC) + timedelta(seconds=5)
    assert start_send(engine, send_id, now=now)
    with engine.connect() as conn:
        return set(conn.execute(select(D.c.email).where(D.c.send_id == send_id)).scalars())


def _mark_sent(engine: Engine, send_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(D).where(D.c.send_id == send_id)
                     .values(status=DeliveryStatus.SENT.value))


@pytest.fixture
def seeded(engine: Engine) -> Seeded:
    return seed(engine, 3)


def test_preview_counts_lists_names_and_overlap(engine: Engine, seeded: Seeded) -> None:
    first = send_preview(engine=engine, part_id=seeded.part_id, list_names=[LIST])
    assert (first.recipients, first.overlap) == (3, 0)
    assert [lst.name for lst in first.lists] == [LIST]
    assert first.first_names == ["髙橋 太郎0", "髙橋 太郎1", "髙橋 太郎2"]

    # a send scheduled but not started yet already counts as "getting it",
    # and so does someone who joins its list before it starts
    scheduled = _schedule(engine, seeded.part_id)
    assert (scheduled.overlapping, scheduled.skipped) == (0, 0)
    seen = send_preview(engine=engine, part_id=seeded.part_id, list_names=[LIST])
    assert (seen.recipients, seen.overlap) == (3, 3)
    add_subscribers(engine, ["new@city-x.example.jp"])
    assert send_preview(engine=engine, part_id=seeded.part_id, list_names=[LIST]).overlap == 4

    # once started, by its ledger rows: sent or still owed count, failed do not
    _start(engine, scheduled.send_id)
    _mark_sent(engine, scheduled.send_id)
    with engine.begin() as conn:
        conn.execute(update(D).where(D.c.email == "new@city-x.example.jp")
                     .values(status=DeliveryStatus.FAILED.value))
    add_subscribers(engine, ["later@city-y.example.jp"])
    seen = send_preview(engine=engine, part_id=seeded.part_id, list_names=[LIST])
    assert (seen.recipients, seen.overlap) == (5, 3)
    assert (seen.mailed(SendOverlap.SKIP), seen.mailed(SendOverlap.AGAIN)) == (2, 5)
    assert send_preview(engine=engine, part_id=seeded.part2_id, list_names=[LIST]).overlap == 0


def test_skip_leaves_out_who_already_had_the_part(engine: Engine, seeded: Seeded) -> None:
    first = _schedule(engine, seeded.part_id)
    assert _start(engine, first.send_id) == set(seeded.emails)
    _mark_sent(engine, first.send_id)
    add_subscribers(engine, ["new@city-x.example.jp"])

    second = _schedule(engine, seeded.part_id)
    assert (second.overlap, second.overlapping, second.skipped) == (SendOverlap.SKIP, 3, 3)
    assert _start(engine, second.send_id) == {"new@city-x.example.jp"}
    with engine.connect() as conn:
        assert conn.execute(select(Send.recipients).where(Send.id == second.send_id)  # type: ignore[call-overload, arg-type]
                            ).scalar_one() == 1


def test_again_mails_them_again(engine: Engine, seeded: Seeded) -> None:
    first = _schedule(engine, seeded.part_id)
    _start(engine, first.send_id)
    _mark_sent(engine, first.send_id)

    again = _schedule(engine, seeded.part_id, overlap="again")
    assert (again.overlap, again.overlapping, again.skipped) == (SendOverlap.AGAIN, 3, 0)
    assert _start(engine, again.send_id) == set(seeded.emails)
    with engine.connect() as conn:
        rows = conn.execute(select(D.c.subscriber_id).where(D.c.part_id == seeded.part_id)).all()
    assert len(rows) == 6  # two rows per subscriber for the part, one per send


def test_skip_that_reaches_nobody_new_is_refused(engine: Engine, seeded: Seeded) -> None:
    first = _schedule(engine, seeded.part_id)
    with pytest.raises(SendError) as refused:
        _schedule(engine, seeded.part_id)
    assert refused.value.kind is ErrorKind.CONFLICT and refused.value.field == "overlap"
    assert "3 名は全員" in refused.value.message and "もう一度送る" in refused.value.message
    with engine.connect() as conn:
        assert len(conn.execute(select(Send.id)).all()) == 1  # type: ignore[call-overload]

    # a cancelled send mails nobody: its people count again
    cancel_send(engine=engine, actor=EDITOR, send_id=first.send_id)
    assert _schedule(engine, seeded.part_id).skipped == 0


def test_an_unknown_choice_is_refused(engine: Engine, seeded: Seeded) -> None:
    with pytest.raises(SendError) as refused:
        _schedule(engine, seeded.part_id, overlap="twice")
    assert refused.value.kind is ErrorKind.INVALID and refused.value.field == "overlap"


def test_resend_failed_leaves_out_who_has_the_part_through_another_send(
        engine: Engine, seeded: Seeded) -> None:
    """Send A fails for one reader; send B (skip) reaches them, since a failed
    row does not hold the part; then 失敗分を再送 on A must not mail them
    again, while A's other failed reader is queued (review of #14)."""
    from mailer.services.sends import resend_failed

    first = _schedule(engine, seeded.part_id)
    _start(engine, first.send_id)
    with engine.begin() as conn:
        conn.execute(update(D).where(D.c.send_id == first.send_id)
                     .values(status=DeliveryStatus.FAILED.value))
    second = _schedule(engine, seeded.part_id)
    reached = _start(engine, second.send_id)
    assert len(reached) == 3  # every reader of A failed, so B freezes them all
    with engine.begin() as conn:  # B reached two of them; the third failed again
        conn.execute(update(D).where(D.c.send_id == second.send_id,
                                     D.c.email != seeded.emails[2])
                     .values(status=DeliveryStatus.SENT.value))
        conn.execute(update(D).where(D.c.send_id == second.send_id,
                                     D.c.email == seeded.emails[2])
                     .values(status=DeliveryStatus.FAILED.value))
    assert resend_failed(engine=engine, actor=EDITOR, send_id=first.send_id) == 1
    with engine.connect() as conn:
        queued = set(conn.execute(select(D.c.email).where(
            D.c.send_id == first.send_id,
            D.c.status == DeliveryStatus.PENDING.value)).scalars())
    assert queued == {seeded.emails[2]}
