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

from mailer.services.errors import ServiceError
from mailer.services.send_preview import SendPreview
from mailer.services.sends import preview_send, schedule_send
from mailer.web.admin.common import (
    COMPOSE,
    admin_message,
    admin_page,
    admin_refusal,
    parse_tokyo,
)
from mailer.web.auth import Principal, require, verify_csrf
from mailer.web.state import Web

router = APIRouter(prefix="/admin", include_in_schema=False)

Composer = Annotated[Principal, Depends(require(*COMPOSE))]
Lists = Annotated[list[str] | None, Form()]
Mode = Literal["schedule", "now"]



def _confirm_page(request: Request, principal: Principal, *, part_id: int, mode: Mode,
                  seen: SendPreview, at: str = "", when: datetime | None = None) -> HTMLResponse:
    return admin_page(request, principal, "send_confirm",
                      title="今すぐ送る前の確認" if mode == "now" else "予約の前の確認",
                      part_id=part_id, mode=mode, seen=seen, at=at, when=when)


def _refused(request: Request, principal: Principal, part_id: int, title: str,
             exc: ServiceError) -> HTMLResponse:
    return admin_refusal(request, principal, exc, title=title, back=f"/admin/parts/{part_id}")


async def _schedule(request: Request, web: Web, principal: Principal, *, part_id: int,
                    lists: list[str], when: datetime | None, overlap: str,
                    title: str) -> Response:
    try:
        done = await run_in_threadpool(schedule_send, engine=web.engine,
                                       actor=principal.as_actor(), part_id=part_id,
                                       list_names=lists, at=when, config=web.render_config,
                                       overlap=overlap)
    except ServiceError as exc:
        return _refused(request, principal, part_id, title, exc)
    notice = "scheduled-skipped" if done.skipped else "scheduled"
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
    title = "予約できませんでした"
    if not at.strip():
        return admin_message(request, principal, status_code=422, title=title,
                             lines=["日時を入力してください。今すぐ送るときは「今すぐ送る」を使います。"],
                             back=f"/admin/parts/{part_id}")
    try:
        when = parse_tokyo(at)
    except ValueError:
        return admin_message(request, principal, status_code=422, title="日時が正しくありません",
                             lines=[f"「{at}」は日時として読めません（例：2026-12-01T09:00）。"],
                             back=f"/admin/parts/{part_id}")
    if not overlap:
        try:
            seen = await _preview(web, part_id, lists or [])
        except ServiceError as exc:
            return _refused(request, principal, part_id, title, exc)
        if seen.overlap:
            return _confirm_page(request, principal, part_id=part_id, mode="schedule",
                                 seen=seen, at=at, when=when)
    return await _schedule(request, web, principal, part_id=part_id, lists=lists or [],
                           when=when, overlap=overlap or "skip", title=title)


@router.post("/parts/{part_id}/send-now", dependencies=[Depends(verify_csrf)])
async def send_now_page(
    part_id: int, request: Request, web: Web, principal: Composer,
    lists: Lists = None, confirm: Annotated[str, Form()] = "",
    overlap: Annotated[str, Form()] = "skip",
) -> Response:
    """Without `confirm`: show who a send now would reach, and ask. With it: send now."""
    title = "送信を始められませんでした"
    if confirm != "yes":
        try:
            seen = await _preview(web, part_id, lists or [])
        except ServiceError as exc:
            return _refused(request, principal, part_id, title, exc)
        return _confirm_page(request, principal, part_id=part_id, mode="now", seen=seen)
    return await _schedule(request, web, principal, part_id=part_id, lists=lists or [],
                           when=None, overlap=overlap, title=title)
