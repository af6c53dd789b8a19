"""The changes staff make, shared by the admin pages and the REST API.

Each function checks what the services do not (preflight before scheduling,
the four-eyes rule on approval), calls one service, and writes an audit
record. Roles are checked by the routes (`require`); these functions trust
the principal they are given. Each raises ActionError saying why not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlmodel import Session

from mailer.compose.load import LoadResult
from mailer.db import session_scope
from mailer.models import MailingList, Part, User
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.parts import PartNotFound, preflight
from mailer.services.sends import (
    SendError,
    approve_send,
    cancel_send,
    create_send,
    pause_send,
    resend_failed,
    resume_send,
)
from mailer.services.test_send import TestSendError, test_send_part
from mailer.web.admin.uploads import load_uploaded_issue
from mailer.web.auth import Principal, record_audit
from mailer.web.state import WebState

Control = Literal["pause", "resume", "cancel", "resend-failed"]
CONTROLS: tuple[Control, ...] = ("pause", "resume", "cancel", "resend-failed")


def _audit(web: WebState, principal: Principal, action: str, target_type: str,
           target_id: object, detail: str = "") -> None:
    with web.engine.begin() as conn:
        record_audit(conn, actor=principal.actor, action=action, target_type=target_type,
                     target_id=str(target_id), detail=detail)


def _not_found(message: str) -> ServiceError:
    return ServiceError(message, kind=ErrorKind.NOT_FOUND)


def _send_error(exc: SendError) -> ServiceError:
    text = str(exc)
    return ServiceError(text, kind=ErrorKind.NOT_FOUND if "no such send" in text else ErrorKind.CONFLICT)


def schedule_part(
    *, web: WebState, principal: Principal, part_id: int, list_names: Sequence[str],
    at: datetime | None,
) -> int:
    """Schedule the part to the lists at `at` (now if None); return the send id.

    Refused when the part's preflight has errors for these lists.
    """
    names = [n for n in dict.fromkeys(list_names) if n]
    if not names:
        raise ServiceError("配信先のリストを1つ以上選んでください", kind=ErrorKind.INVALID, field="lists")
    with Session(web.engine) as session:
        if session.get(Part, part_id) is None:
            raise _not_found(f"part {part_id}: no such part")
        rows = session.execute(
            select(MailingList.id, MailingList.name).where(  # type: ignore[call-overload]
                MailingList.name.in_(names)  # type: ignore[attr-defined]
            )
        ).all()
    found = {r.name: r.id for r in rows}
    missing = [n for n in names if n not in found]
    if missing:
        raise ServiceError(f"リスト {', '.join(missing)} はありません", kind=ErrorKind.INVALID, field="lists")
    try:
        report = preflight(engine=web.engine, part_id=part_id, config=web.render_config,
                           list_ids=list(found.values()))
    except PartNotFound as exc:
        raise _not_found(str(exc)) from None
    if report.errors:
        lines = "; ".join(f"{f.where}: {f.message}" if f.where else f.message
                          for f in report.errors)
        raise ServiceError(f"事前チェックのエラーを直してから予約してください: {lines}")
    try:
        with session_scope(web.engine) as session:
            send = create_send(session=session, part_id=part_id, list_names=names, at=at,
                               created_by=principal.actor)
            assert send.id is not None
            record_audit(session, actor=principal.actor, action="send.schedule",
                         target_type="send", target_id=str(send.id),
                         detail=f"part {part_id} to {', '.join(names)} at "
                                f"{send.scheduled_at.isoformat()}")
            return send.id
    except SendError as exc:
        raise _send_error(exc) from None


def approve(*, web: WebState, principal: Principal, send_id: int) -> None:
    """Approve a waiting send; its creator cannot (four-eyes rule, always on here)."""
    try:
        approve_send(engine=web.engine, send_id=send_id, approver=principal.actor,
                     require_other=True)
    except SendError as exc:
        raise _send_error(exc) from None
    _audit(web, principal, "send.approve", "send", send_id)


def control(*, web: WebState, principal: Principal, send_id: int, action: Control) -> str:
    """Pause, resume, cancel or resend the failed; return the outcome in words."""
    try:
        if action == "resend-failed":
            n = resend_failed(engine=web.engine, send_id=send_id)
            outcome = f"{n} failed deliveries queued again"
        else:
            fn = {"pause": pause_send, "resume": resume_send, "cancel": cancel_send}[action]
            outcome = str(fn(engine=web.engine, send_id=send_id))
    except SendError as exc:
        raise _send_error(exc) from None
    _audit(web, principal, f"send.{action}", "send", send_id, outcome)
    return outcome


def principal_email(web: WebState, principal: Principal) -> str:
    """Return the principal's own address (test sends go there only)."""
    if principal.user_id is None:
        raise ServiceError("このアカウントにはメールアドレスがありません", kind=ErrorKind.CONFLICT)
    with Session(web.engine) as session:
        user = session.get(User, principal.user_id)
    if user is None or not user.email:
        raise ServiceError("このアカウントにはメールアドレスがありません", kind=ErrorKind.CONFLICT)
    return user.email


def test_send_to_self(
    *, web: WebState, principal: Principal, part_id: int
) -> list[tuple[str, str]]:
    """Send the part, marked as a test, to the principal's own address; return
    (address, "sent" or the error). Refused when MAILER_SMTP_URL is unset."""
    if not web.settings.relays():
        raise ServiceError(
            "MAILER_SMTP_URL が設定されていないため、テスト送信はできません"
            "（送信サーバーを設定してください）", kind=ErrorKind.CONFLICT)
    address = principal_email(web, principal)
    with Session(web.engine) as session:
        if session.get(Part, part_id) is None:
            raise _not_found(f"part {part_id}: no such part")
    try:
        results = test_send_part(settings=web.settings, part_id=part_id, addresses=[address])
    except TestSendError as exc:
        raise ServiceError(str(exc), kind=ErrorKind.CONFLICT) from None
    _audit(web, principal, "part.test_send", "part", part_id,
           "; ".join(f"{a}: {r}" for a, r in results))
    return results


test_send_to_self.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def upload_issue(*, web: WebState, principal: Principal, data: bytes, filename: str) -> LoadResult:
    """Store an uploaded issue zip; raises UploadError or IssueFolderError."""
    result = load_uploaded_issue(engine=web.engine, data=data, filename=filename)
    parts = ", ".join(f"{label}: {status}" for label, status in result.parts.items())
    _audit(web, principal, "issue.upload", "issue", result.issue_id,
           f"{filename}: {result.status} ({parts})")
    return result
