"""Sends: scheduling and steering a send, the same for every door.

The CLI, the admin pages and the API call these functions, and nothing
else, to schedule, approve, pause, resume, cancel or resend a send. Each
takes the acting person (`Actor`), checks the rules (the lists exist and
reach someone, the time is not past, the preflight gate, the overlap choice,
the four-eyes rule by person, the state machine of
`mailer.delivery.states`), changes the rows
and writes the audit record in one transaction, and raises `ServiceError`
saying why not. `can_approve` and `can_resend_failed` tell the pages which
buttons would be accepted, by the same rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, Engine, select, update
from sqlmodel import Session, col

from mailer.delivery import ledger
from mailer.delivery.states import TransitionError, check_send, delivery_transition
from mailer.i18n import _
from mailer.labels import SEND_LABELS
from mailer.models import (
    DeliveryStatus,
    MailingList,
    Part,
    Send,
    SendList,
    SendOverlap,
    SendStatus,
)
from mailer.render.message import RenderConfig
from mailer.services.accounts import record_audit
from mailer.services.actors import Actor, person_key
from mailer.services.errors import ErrorKind, ServiceError, invalid, not_found
from mailer.services.parts import PartNotFound, preflight
from mailer.services.send_preview import SendPreview, send_preview

SEND = ledger.SEND
D = ledger.D
#: how far in the past a scheduled time may be (clock skew, a slow form), not more
PAST_GRACE = timedelta(minutes=1)
#: the states in which a send can still be approved
WAITING = (SendStatus.SCHEDULED, SendStatus.PAUSED)
#: resend-failed moves a send's failed deliveries back to pending
RESEND = delivery_transition(DeliveryStatus.PENDING, from_=DeliveryStatus.FAILED)
#: the states in which a send has failures to resend
STARTED = (SendStatus.DONE, SendStatus.RUNNING, SendStatus.PAUSED)


class SendError(ServiceError):
    """A request about a send that cannot be carried out; the message says why."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _no_send(send_id: int) -> SendError:
    return SendError(_("配信 {send_id} はありません").format(
                         send_id=send_id), kind=ErrorKind.NOT_FOUND)


def _list_ids(session: Session, names: Sequence[str]) -> dict[str, int]:
    """Return {name: id} for the named lists; raises SendError(field lists) naming the
    missing ones."""
    rows = session.execute(
        select(MailingList.id, MailingList.name).where(  # type: ignore[call-overload]
            col(MailingList.name).in_(list(names))
        )
    ).all()
    found = {r.name: r.id for r in rows}
    missing = [n for n in names if n not in found]
    if missing:
        raise SendError(_("lists: リスト {missing} はありません").format(
                            missing="、".join(missing)),
                        kind=ErrorKind.INVALID, field="lists")
    return found


def create_send(
    *,
    session: Session,
    part_id: int,
    list_names: Sequence[str],
    at: datetime | None = None,
    created_by: str = "",
    created_by_user_id: int | None = None,
    overlap: SendOverlap = SendOverlap.SKIP,
) -> Send:
    """Store a send of a part to lists at `at` (now if None) without any rule but
    that the part and lists exist; return the Send.

    For seeding (demo, benchmarks, tests). People schedule with `schedule_send`,
    which adds the preflight gate, the time check and the audit record.
    """
    if session.get(Part, part_id) is None:
        raise not_found(_("パート {part_id} はありません").format(part_id=part_id))
    names = [n for n in dict.fromkeys(list_names) if n]
    if not names:
        raise invalid(_("lists: 配信先のリストを1つ以上選んでください"), "lists")
    list_ids = _list_ids(session, names)
    when = (at or utcnow()).astimezone(UTC)
    send = Send(part_id=part_id, scheduled_at=when, created_by=created_by,
                created_by_user_id=created_by_user_id, overlap=overlap)
    session.add(send)
    session.flush()
    for name in names:
        session.add(SendList(send_id=send.id, list_id=list_ids[name]))  # type: ignore[arg-type]
    session.flush()
    return send


@dataclass(frozen=True)
class ScheduledSend:
    """What `schedule_send` did: the send, and what it does with the overlap."""

    send_id: int
    overlap: SendOverlap  # the choice stored on the send
    overlapping: int  # recipients who already got the part or are getting it (when scheduled)
    skipped: int  # of those, how many the send leaves out (all with skip, none with again)


def overlap_choice(value: str | SendOverlap) -> SendOverlap:
    """Return the overlap choice named `value` ("skip" or "again"); raises
    SendError(INVALID, field overlap) for anything else."""
    try:
        return SendOverlap(value)
    except ValueError:
        raise SendError(_("overlap: 「{value}」は選べません。skip（受け取った人を除く）か "
                          "again（もう一度送る）を指定してください").format(value=value),
                        kind=ErrorKind.INVALID, field="overlap") from None


def require_recipients(seen: SendPreview) -> None:
    """Raises SendError(INVALID, field lists) when the lists reach nobody: a
    send to no one would only end as 完了 0/0."""
    if not seen.recipients:
        names = "、".join(lst.title for lst in seen.lists)
        raise SendError(
            _("lists: 選んだリスト（{names}）に配信できる読者がいません（0 名）。"
              "読者を登録するか、ほかのリストを選んでください").format(names=names),
            kind=ErrorKind.INVALID, field="lists")


def preview_send(*, engine: Engine, part_id: int, list_names: Sequence[str]) -> SendPreview:
    """Return who a send of the part to the lists would reach (the step
    before confirming); raises SendError as `send_preview` does, and
    INVALID (field lists) when the lists reach nobody."""
    seen = send_preview(engine=engine, part_id=part_id, list_names=list_names)
    require_recipients(seen)
    return seen


def refuse_past(at: datetime | None, *, now: datetime | None = None) -> None:
    """Raise SendError(INVALID, field at) when `at` is in the past (more than
    PAST_GRACE ago); None (send now) always passes. `schedule_send` checks
    this; a form may check it first, before it asks anything else."""
    if at is not None and at.astimezone(UTC) < (now or utcnow()) - PAST_GRACE:
        raise SendError(_("at: 過去の日時には予約できません。今すぐ送るときは「今すぐ送る」"
                          "（API と CLI では日時を指定しない）を使ってください"),
                        kind=ErrorKind.INVALID, field="at")


def schedule_send(
    *,
    engine: Engine,
    actor: Actor,
    part_id: int,
    list_names: Sequence[str],
    at: datetime | None,
    config: RenderConfig,
    overlap: str | SendOverlap = SendOverlap.SKIP,
    now: datetime | None = None,
) -> ScheduledSend:
    """Schedule the part to the lists at `at` (None: now); return the send and
    what it does with subscribers who already have the part.

    `overlap` says what happens to recipients who already got the part or
    are getting it from another send: `skip` (the default) leaves them out
    when the recipients are frozen, `again` sends it to them again.

    Raises SendError: INVALID (field `lists`, `at` or `overlap`) for no list,
    an unknown list, lists that reach nobody, a time in the past or an
    unknown choice; NOT_FOUND for an
    unknown part; CONFLICT when the part's preflight has errors for these
    lists, or when with `skip` every recipient already has the part.
    """
    now = now or utcnow()
    choice = overlap_choice(overlap)
    names = [n for n in dict.fromkeys(list_names) if n]
    if not names:
        raise SendError(_("lists: 配信先のリストを1つ以上選んでください"),
                        kind=ErrorKind.INVALID, field="lists")
    refuse_past(at, now=now)
    seen = preview_send(engine=engine, part_id=part_id, list_names=names)
    if choice is SendOverlap.SKIP and seen.recipients and not seen.mailed(choice):
        raise SendError(
            _("overlap: 選んだリストの {recipients} 名は全員、この配信回をすでに受け取ったか、"
              "ほかの配信で受け取る予定です。もう一度送るときは「もう一度送る」（again）を"
              "選んでください").format(
                recipients=seen.recipients), kind=ErrorKind.CONFLICT, field="overlap")
    try:
        report = preflight(engine=engine, part_id=part_id, config=config,
                           list_ids=_ids_of(engine, names))
    except PartNotFound:
        raise SendError(_("パート {part_id} はありません").format(
                            part_id=part_id), kind=ErrorKind.NOT_FOUND) from None
    if report.errors:
        lines = "; ".join(f"{f.where}: {f.message}" if f.where else f.message
                          for f in report.errors)
        raise SendError(_("事前チェックのエラーを直してから予約してください: {lines}").format(
                            lines=lines),
                        kind=ErrorKind.CONFLICT, field="part_id")
    with Session(engine) as session, session.begin():
        send = create_send(session=session, part_id=part_id, list_names=names, at=at or now,
                           created_by=actor.name, created_by_user_id=actor.user_id,
                           overlap=choice)
        assert send.id is not None
        record_audit(session, actor=actor.name, action="send.schedule", target_type="send",
                     target_id=send.id,
                     detail=_("パート {part_id} を {lists} へ {at} に配信。"
                              "受け取り済み {overlap} 名の扱い: {choice}").format(
                         part_id=part_id, lists=", ".join(names),
                         at=send.scheduled_at.isoformat(), overlap=seen.overlap,
                         choice=choice.value))
        return ScheduledSend(send_id=send.id, overlap=choice, overlapping=seen.overlap,
                             skipped=seen.skipped(choice))


def _ids_of(engine: Engine, names: Sequence[str]) -> list[int]:
    with Session(engine) as session:
        return list(_list_ids(session, names).values())


class _SendFacts(Protocol):
    status: SendStatus
    created_by: str
    created_by_user_id: int | None


def is_creator(actor: Actor, send: _SendFacts) -> bool:
    """True when `actor` is the person who created the send (the four-eyes rule)."""
    return bool(send.created_by) and (
        person_key(send.created_by_user_id, send.created_by) == actor.person)


def can_approve(actor: Actor, send: _SendFacts) -> bool:
    """True when `approve_send` would let `actor` approve the send now (its role aside)."""
    return SendStatus(send.status) in WAITING and not is_creator(actor, send)


def can_resend_failed(send: _SendFacts, failed: int) -> bool:
    """True when the send has `failed` > 0 deliveries `resend_failed` would queue again."""
    return SendStatus(send.status) in STARTED and failed > 0


def _status(conn: Connection, send_id: int, *, lock: bool = True) -> SendStatus:
    query = select(SEND.c.status).where(SEND.c.id == send_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    status = conn.execute(query).scalar()
    if status is None:
        raise _no_send(send_id)
    return SendStatus(status)


def _move(conn: Connection, send_id: int, old: SendStatus, new: SendStatus,
          **values: object) -> None:
    """Move the send from `old` to `new` along an edge of the state machine."""
    try:
        check_send(old, new)
    except TransitionError:
        raise SendError(_("配信 {send_id} は「{old}」のため、"
                          "「{new}」にできません").format(
                            send_id=send_id, old=SEND_LABELS[old], new=SEND_LABELS[new]),
                        kind=ErrorKind.CONFLICT) from None
    res = conn.execute(
        update(SEND).where(SEND.c.id == send_id, SEND.c.status == old.value)
        .values(status=new.value, updated_at=utcnow(), **values)
    )
    if res.rowcount != 1:
        raise SendError(_("配信 {send_id} は変更中でした。もう一度お試しください").format(
                            send_id=send_id),
                        kind=ErrorKind.CONFLICT)


def approve_send(*, engine: Engine, actor: Actor, send_id: int) -> None:
    """Approve a waiting send. Its creator cannot, through any door (four-eyes
    rule, compared by person). Raises SendError: NOT_FOUND, FORBIDDEN, CONFLICT."""
    with engine.begin() as conn:
        row = conn.execute(
            select(SEND.c.status, SEND.c.created_by, SEND.c.created_by_user_id)
            .where(SEND.c.id == send_id)
        ).one_or_none()
        if row is None:
            raise _no_send(send_id)
        status = SendStatus(row.status)
        if is_creator(actor, row):
            raise SendError(_("配信 {send_id} はあなたが予約したものです。"
                              "承認はほかの人が行ってください").format(
                                send_id=send_id), kind=ErrorKind.FORBIDDEN)
        if status not in WAITING:
            raise SendError(_("配信 {send_id} は「{status}」です。"
                              "承認できるのは開始前か一時停止中の配信だけです").format(
                                send_id=send_id, status=SEND_LABELS[status]),
                            kind=ErrorKind.CONFLICT)
        conn.execute(
            update(SEND).where(SEND.c.id == send_id)
            .values(approved_by=actor.name, approved_by_user_id=actor.user_id,
                    approved_at=utcnow(), updated_at=utcnow())
        )
        record_audit(conn, actor=actor.name, action="send.approve", target_type="send",
                     target_id=send_id)


def pause_send(*, engine: Engine, actor: Actor, send_id: int) -> SendStatus:
    """Pause a scheduled or running send; batches in flight stop at their next check."""
    with engine.begin() as conn:
        old = _status(conn, send_id)
        if old is not SendStatus.PAUSED:
            _move(conn, send_id, old, SendStatus.PAUSED, note=f"{actor.name} が一時停止")
        record_audit(conn, actor=actor.name, action="send.pause", target_type="send",
                     target_id=send_id, detail=_("{old} → {new}").format(
                         old=SEND_LABELS[old], new=SEND_LABELS[SendStatus.PAUSED]))
    return SendStatus.PAUSED


def resume_send(*, engine: Engine, actor: Actor, send_id: int) -> SendStatus:
    """Resume a paused send: running again if it had started, else scheduled."""
    with engine.begin() as conn:
        old = _status(conn, send_id)
        started = conn.execute(select(SEND.c.started_at).where(SEND.c.id == send_id)).scalar()
        new = SendStatus.RUNNING if started else SendStatus.SCHEDULED
        if old is not new:
            if old is not SendStatus.PAUSED:
                raise SendError(_("配信 {send_id} は「{old}」です。"
                                  "再開できるのは一時停止中の配信だけです").format(
                                    send_id=send_id, old=SEND_LABELS[old]), kind=ErrorKind.CONFLICT)
            _move(conn, send_id, old, new, note="")
        record_audit(conn, actor=actor.name, action="send.resume", target_type="send",
                     target_id=send_id, detail=_("{old} → {new}").format(
                         old=SEND_LABELS[old], new=SEND_LABELS[new]))
    return new


def cancel_send(*, engine: Engine, actor: Actor, send_id: int) -> SendStatus:
    """Cancel a send; its deliveries not yet sent become cancelled."""
    with engine.begin() as conn:
        old = _status(conn, send_id)
        if old is not SendStatus.CANCELLED:
            _move(conn, send_id, old, SendStatus.CANCELLED, note=f"{actor.name} が取り消し")
            ledger.cancel_left_rows(conn, send_id, now=utcnow())
        record_audit(conn, actor=actor.name, action="send.cancel", target_type="send",
                     target_id=send_id, detail=_("{old} → {new}").format(
                         old=SEND_LABELS[old], new=SEND_LABELS[SendStatus.CANCELLED]))
    return SendStatus.CANCELLED


def resend_failed(*, engine: Engine, actor: Actor, send_id: int) -> int:
    """Return the failed deliveries to pending (reopening a finished send); return
    how many. Raises SendError: NOT_FOUND, or CONFLICT for a send that never started."""
    with engine.begin() as conn:
        status = _status(conn, send_id)
        if status not in STARTED:
            raise SendError(_("配信 {send_id} は「{status}」です。"
                              "再送できるのは開始した配信の失敗分だけです").format(
                                send_id=send_id, status=SEND_LABELS[status]),
                            kind=ErrorKind.CONFLICT)
        part_id, overlap = conn.execute(
            select(SEND.c.part_id, SEND.c.overlap).where(SEND.c.id == send_id)).one()
        where = [D.c.send_id == send_id]
        if overlap != SendOverlap.AGAIN.value:
            # A failed reader may have had the part since, through another send
            # (a failed row does not hold the part): they are not mailed again.
            where.append(~ledger.held_through_another_send(part_id, send_id))
        n = int(conn.execute(
            RESEND.update(D, *where, next_attempt_at=None, updated_at=utcnow())
        ).rowcount or 0)
        if n and status is SendStatus.DONE:
            _move(conn, send_id, status, SendStatus.RUNNING, finished_at=None,
                  note=f"失敗した {n} 件を再送中")
        record_audit(conn, actor=actor.name, action="send.resend-failed", target_type="send",
                     target_id=send_id, detail=_("失敗した {count} 件を再送に回しました").format(
                         count=n))
    return n


#: the steering use cases by the name the CLI, the admin and the API give them
CONTROLS = {
    "pause": pause_send, "resume": resume_send, "cancel": cancel_send,
    "resend-failed": resend_failed,
}
