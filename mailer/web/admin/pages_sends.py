"""Admin pages about sends: the dashboard, a send's report (live progress,
per municipality, CSV), and the control buttons (approve, pause, resume,
cancel, resend-failed)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.concurrency import run_in_threadpool

from mailer.embedded.outbox import message_text, stored_messages
from mailer.i18n import N_, _
from mailer.models import DeliveryStatus, SendStatus
from mailer.services import listings
from mailer.services.errors import ServiceError
from mailer.services.importer import UTF8_BOM
from mailer.services.municipality_report import (
    SORT_LABELS,
    ReportQuery,
    ReportSort,
    report_csv_rows,
    send_report,
)
from mailer.services.send_progress import send_progress
from mailer.services.sends import CONTROLS, approve_send
from mailer.web.admin.common import (
    ADMIN_HEADERS,
    APPROVE,
    CONTROL,
    READ_SENDS,
    admin_message,
    admin_page,
    admin_refusal,
)
from mailer.web.auth import Principal, require, verify_csrf
from mailer.web.routes import READ
from mailer.web.state import Web, WebState

router = APIRouter(prefix="/admin", include_in_schema=False)

Reader = Annotated[Principal, Depends(require(*READ_SENDS))]

NOTICES = {
    "approve": N_("配信を承認しました。"),
    "pause": N_("配信を一時停止しました。"),
    "resume": N_("配信を再開しました。"),
    "cancel": N_("配信を取り消しました。"),
    "resend-failed": N_("失敗した宛先を再送の待ち行列に戻しました。"),
    "scheduled": N_("配信を予約しました。"),
    "scheduled-skipped": N_("配信を予約しました。この配信回をすでに受け取った人と、"
                            "ほかの配信で受け取る予定の人は除きます。"),
    "started": N_("送信を始めました。"),
    "started-skipped": N_("送信を始めました。この配信回をすでに受け取った人と、"
                          "ほかの配信で受け取る予定の人は除きます。"),
    "now-approval": N_("配信を登録しました。承認されると、すぐに送信を始めます。"),
    "now-approval-skipped": N_("配信を登録しました。承認されると、すぐに送信を始めます。"
                               "この配信回をすでに受け取った人と、"
                               "ほかの配信で受け取る予定の人は除きます。"),
}
FINISHED = (SendStatus.DONE, SendStatus.CANCELLED)


def notice_text(code: str | None) -> str:
    """Return the fixed message for a notice code (never echo the query string)."""
    text = NOTICES.get(code or "", "")
    return _(text) if text else ""


def safe_back(back: str, default: str) -> str:
    """Return `back` if it is a path of the admin pages, else `default` (no open redirect)."""
    if back.startswith("/admin") and "//" not in back and "\\" not in back:
        return back
    return default


@router.api_route("", methods=READ)
def dashboard(request: Request, web: Web, principal: Reader,
              notice: str | None = None) -> HTMLResponse:
    """Upcoming sends, running sends with live progress, finished sends."""
    waiting = listings.sends(web.engine, statuses=[SendStatus.SCHEDULED, SendStatus.PAUSED],
                            limit=200)
    upcoming = [s for s in waiting if s.started_at is None]
    finished = listings.sends(web.engine, statuses=FINISHED, newest_first=True, limit=30)
    outbox = stored_messages(web.demo_outbox) if web.demo_outbox else None
    return admin_page(request, principal, "dashboard", title=_("ダッシュボード"),
                      notice=notice_text(notice), upcoming=upcoming, finished=finished,
                      outbox=outbox,
                      require_approval=web.settings.require_approval,
                      **_running(web))


def _running(web: WebState) -> dict[str, Any]:
    active = listings.sends(web.engine, statuses=[SendStatus.RUNNING, SendStatus.PAUSED],
                           limit=200)
    running = []
    for s in active:
        if s.status is SendStatus.RUNNING or s.started_at is not None:
            try:
                running.append((s, send_progress(engine=web.engine, send_id=s.id)))
            except ServiceError:  # deleted meanwhile
                continue
    return {"running": running, "now": datetime.now(UTC)}


@router.api_route("/demo-outbox/{name}", methods=READ)
def demo_outbox_message(name: str, web: Web, principal: Reader) -> Response:
    """One message the demo's SMTP sink stored, as text (`mailer demo --serve` only)."""
    text = message_text(web.demo_outbox, name) if web.demo_outbox else None
    if text is None:
        raise HTTPException(status_code=404)
    return PlainTextResponse(text)


@router.api_route("/fragments/running", methods=READ)
def running_fragment(request: Request, web: Web, principal: Reader) -> HTMLResponse:
    """The dashboard's "running" section alone (polled every few seconds)."""
    return admin_page(request, principal, "_running", **_running(web))


def report_query(sort: str, municipality: str, status: str) -> ReportQuery:
    """The report's query from `?sort=&municipality=&status=`; a value it does
    not know (an old bookmark) means the default."""
    sorts = {s.value: s for s in ReportSort}
    statuses = {s.value: s for s in DeliveryStatus}
    return ReportQuery(sort=sorts.get(sort, ReportSort.CODE), municipality=municipality[:200],
                       status=statuses.get(status))


def _report_url(base: str, q: ReportQuery, **change: str) -> str:
    """The URL of the report with `q`, some of its parameters changed."""
    params = {"sort": q.sort.value, "municipality": q.municipality,
              "status": q.status.value if q.status else "", **change}
    params = {k: v for k, v in params.items() if v and not (k == "sort" and v == "code")}
    return f"{base}?{urlencode(params)}" if params else base


@router.api_route("/sends/{send_id}", methods=READ)
def send_report_page(send_id: int, request: Request, web: Web, principal: Reader,
                     notice: str | None = None, sort: str = "", municipality: str = "",
                     status: str = "") -> HTMLResponse:
    """Live progress, and one table of who got it (or why not), by
    municipality in code order, sortable and filterable."""
    s = listings.send_row(web.engine, send_id)
    if s is None:
        return admin_message(request, principal, status_code=404, title=_("配信が見つかりません"),
                             lines=[_("配信 {id} はありません。").format(id=send_id)])
    q = report_query(sort, municipality, status)
    base = f"/admin/sends/{send_id}"
    return admin_page(
        request, principal, "send", title=_("配信 {id} のレポート").format(id=send_id), s=s,
        notice=notice_text(notice), report=send_report(web.engine, send_id, q),
        sort_labels=SORT_LABELS, ReportSort=ReportSort,
        report_url=lambda **change: _report_url(base, q, **change),
        csv_url=_report_url(f"{base}/report.csv", q),
        p=send_progress(engine=web.engine, send_id=send_id), now=datetime.now(UTC),
        require_approval=web.settings.require_approval,
    )


@router.api_route("/sends/{send_id}/progress", methods=READ)
def send_progress_fragment(send_id: int, request: Request, web: Web,
                           principal: Reader) -> HTMLResponse:
    """The progress block of a send's report alone (polled)."""
    try:
        p = send_progress(engine=web.engine, send_id=send_id)
    except ServiceError:
        return admin_message(request, principal, status_code=404, title=_("配信が見つかりません"),
                             lines=[_("配信 {id} はありません。").format(id=send_id)])
    return admin_page(request, principal, "_send_progress", p=p, now=datetime.now(UTC))


def _csv_bytes(rows: Iterator[list[str]]) -> Iterator[bytes]:
    yield UTF8_BOM
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow(row)
        if buffer.tell() > 1 << 16:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


@router.api_route("/sends/{send_id}/report.csv", methods=READ)
def send_report_csv(send_id: int, request: Request, web: Web, principal: Reader,
                    sort: str = "", municipality: str = "", status: str = "") -> Response:
    """The send's deliveries as an Excel-ready CSV (UTF-8 BOM, CRLF, formulas
    neutralised), in the page's order and filter."""
    if listings.send_row(web.engine, send_id) is None:
        return admin_message(request, principal, status_code=404, title=_("配信が見つかりません"),
                             lines=[_("配信 {id} はありません。").format(id=send_id)])
    q = report_query(sort, municipality, status)
    return StreamingResponse(
        _csv_bytes(report_csv_rows(web.engine, send_id, q)),
        media_type="text/csv; charset=utf-8",
        headers={**ADMIN_HEADERS,
                 "Content-Disposition": f'attachment; filename="send-{send_id}-report.csv"'},
    )


async def _act(request: Request, web: Web, principal: Principal, send_id: int, action: str,
               back: str) -> Response:
    try:
        use_case = approve_send if action == "approve" else CONTROLS[action]
        await run_in_threadpool(use_case, engine=web.engine, actor=principal.as_actor(),
                                send_id=send_id)
    except ServiceError as exc:
        return admin_refusal(request, principal, exc, title=_("この操作はできませんでした"),
                             back=safe_back(back, f"/admin/sends/{send_id}"))
    target = safe_back(back, f"/admin/sends/{send_id}")
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}notice={action}", status_code=303)


@router.post("/sends/{send_id}/approve", dependencies=[Depends(verify_csrf)])
async def approve_page(
    send_id: int, request: Request, web: Web,
    principal: Annotated[Principal, Depends(require(*APPROVE))],
    back: Annotated[str, Form()] = "",
) -> Response:
    return await _act(request, web, principal, send_id, "approve", back)


#: actions that cannot be taken back ask first: their button leads to a
#: confirmation page whose own button posts `confirm=yes`
CONFIRM = {"cancel": (N_("取り消す"),
                      N_("取り消した配信は再開できません。まだ送っていない宛先には送られません。"))}


def _confirm_page(request: Request, principal: Principal, send_id: int, action: str,
                  back: str) -> HTMLResponse:
    label, warning = (_(text) for text in CONFIRM[action])
    s = listings.send_row(request.app.state.web.engine, send_id)
    if s is None:
        return admin_message(request, principal, status_code=404, title=_("配信が見つかりません"),
                             lines=[_("配信 {id} はありません。").format(id=send_id)])
    return admin_page(request, principal, "action_confirm",
                      title=_("配信 {id} を{label}").format(id=send_id, label=label),
                      s=s, action=action, label=label, warning=warning,
                      back=safe_back(back, f"/admin/sends/{send_id}"))


def _control_route(action: str) -> None:
    async def handler(
        send_id: int, request: Request, web: Web,
        principal: Annotated[Principal, Depends(require(*CONTROL))],
        back: Annotated[str, Form()] = "", confirm: Annotated[str, Form()] = "",
    ) -> Response:
        if action in CONFIRM and confirm != "yes":
            return _confirm_page(request, principal, send_id, action, back)
        return await _act(request, web, principal, send_id, action, back)

    handler.__name__ = f"{action.replace('-', '_')}_page"
    router.post(f"/sends/{{send_id}}/{action}", dependencies=[Depends(verify_csrf)])(handler)


for _action in CONTROLS:
    _control_route(_action)
