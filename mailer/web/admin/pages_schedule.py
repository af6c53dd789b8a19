"""Admin pages that start a send of a part: schedule at a time, or send now.

Both go through a confirmation step when it matters: sending now always
shows who it reaches (count, lists, first names) and sends only on the
confirming POST; scheduling asks first only when some recipients already got
the part or are getting it, and then needs the choice (skip them, the
default, or send again). The rules and numbers come from
`services/send_preview.py` and `services/sends.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mailer.i18n import _
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.send_preview import SendPreview
from mailer.services.sends import preview_send, refuse_past, schedule_send
from mailer.web.admin.common import (
    COMPOSE,
    admin_page,
    admin_refusal,
    parse_tokyo,
)
from mailer.web.admin.pages_parts import ScheduleForm, render_part
from mailer.web.auth import Principal, require, verify_csrf
from mailer.web.service_errors import split_field, status_of
from mailer.web.state import Web

router = APIRouter(prefix="/admin", include_in_schema=False)

Composer = Annotated[Principal, Depends(require(*COMPOSE))]
Lists = Annotated[list[str] | None, Form()]
Mode = Literal["schedule", "now"]



def _confirm_page(request: Request, principal: Principal, *, part_id: int, mode: Mode,
                  seen: SendPreview, at: str = "", when: datetime | None = None) -> HTMLResponse:
    return admin_page(request, principal, "send_confirm",
                      title=_("今すぐ送る前の確認") if mode == "now" else _("予約の前の確認"),
                      part_id=part_id, mode=mode, seen=seen, at=at, when=when)


async def _refused(request: Request, web: Web, principal: Principal, part_id: int,
                   title: str, exc: ServiceError, *, lists: list[str],
                   at: str) -> Response:
    """The part page again, its schedule form holding what was entered and
    the reason beside the field at fault; an unknown part: a refusal page."""
    if status_of(exc) == 404:
        return admin_refusal(request, principal, exc, title=title, back="/admin/issues")
    field, rest = split_field(exc)
    form = ScheduleForm(lists=lists, at=at, error=rest, field=field)
    return await run_in_threadpool(render_part, request, web, principal, part_id,
                                   schedule=form, status_code=status_of(exc))


def _notice(*, now: bool, require_approval: bool, skipped: int) -> str:
    """The notice code the send's page shows after it was made: scheduled for
    later, started now, or (now, but four eyes first) waiting for approval."""
    base = ("now-approval" if require_approval else "started") if now else "scheduled"
    return f"{base}-skipped" if skipped else base


async def _schedule(request: Request, web: Web, principal: Principal, *, part_id: int,
                    lists: list[str], at: str, when: datetime | None, overlap: str,
                    title: str) -> Response:
    try:
        done = await run_in_threadpool(schedule_send, engine=web.engine,
                                       actor=principal.as_actor(), part_id=part_id,
                                       list_names=lists, at=when, config=web.render_config,
                                       overlap=overlap)
    except ServiceError as exc:
        return await _refused(request, web, principal, part_id, title, exc, lists=lists, at=at)
    notice = _notice(now=when is None, require_approval=web.settings.require_approval,
                     skipped=done.skipped)
    return RedirectResponse(f"/admin/sends/{done.send_id}?notice={notice}", status_code=303)


async def _preview(web: Web, part_id: int, lists: list[str]) -> SendPreview:
    return await run_in_threadpool(preview_send, engine=web.engine, part_id=part_id,
                                   list_names=lists)


@router.post("/parts/{part_id}/schedule", dependencies=[Depends(verify_csrf)])
async def schedule_page(
    part_id: int, request: Request, web: Web, principal: Composer,
    lists: Lists = None, at: Annotated[str, Form()] = "",
    overlap: Annotated[str, Form()] = "",
) -> Response:
    """Schedule the part to the chosen lists at a Tokyo time. When some
    recipients already have the part and no choice was made, ask first."""
    title = _("予約できませんでした")
    chosen = lists or []
    try:
        if not at.strip():
            raise ServiceError(_("日時を入力してください。"
                                 "今すぐ送るときは「今すぐ送る」を使います。"),
                               kind=ErrorKind.INVALID, field="at")
        try:
            when = parse_tokyo(at)
        except ValueError:
            raise ServiceError(_("「{value}」は日時として読めません（例：2026-12-01T09:00）。")
                               .format(value=at), kind=ErrorKind.INVALID, field="at") from None
        if not overlap:
            refuse_past(when)  # a past time is refused first, not after the overlap question
            seen = await _preview(web, part_id, chosen)
            if seen.overlap:
                return _confirm_page(request, principal, part_id=part_id, mode="schedule",
                                     seen=seen, at=at, when=when)
    except ServiceError as exc:
        return await _refused(request, web, principal, part_id, title, exc, lists=chosen, at=at)
    return await _schedule(request, web, principal, part_id=part_id, lists=chosen, at=at,
                           when=when, overlap=overlap or "skip", title=title)


@router.post("/parts/{part_id}/send-now", dependencies=[Depends(verify_csrf)])
async def send_now_page(
    part_id: int, request: Request, web: Web, principal: Composer,
    lists: Lists = None, confirm: Annotated[str, Form()] = "",
    overlap: Annotated[str, Form()] = "skip", at: Annotated[str, Form()] = "",
) -> Response:
    """Without `confirm`: show who a send now would reach, and ask. With it: send now."""
    title = _("送信を始められませんでした")
    chosen = lists or []
    if confirm != "yes":
        try:
            seen = await _preview(web, part_id, chosen)
        except ServiceError as exc:
            return await _refused(request, web, principal, part_id, title, exc, lists=chosen,
                                  at=at)
        return _confirm_page(request, principal, part_id=part_id, mode="now", seen=seen)
    return await _schedule(request, web, principal, part_id=part_id, lists=chosen, at=at,
                           when=None, overlap=overlap, title=title)


@router.get("/parts/{part_id}/schedule")
@router.get("/parts/{part_id}/send-now")
def schedule_get(part_id: int) -> RedirectResponse:
    """A reload or a bookmark of a refused form's address: back to the part's
    form (not 405)."""
    return RedirectResponse(f"/admin/parts/{part_id}#schedule", status_code=303)
