"""Admin pages that change subscribers: create, edit, import a CSV (dry run,
then confirm) and export the list as CSV. Registered before the read-only
pages so that `/admin/subscribers/new` is not taken for a subscriber id."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from mailer.models import SubscriberStatus
from mailer.services import listings
from mailer.services.errors import ServiceError
from mailer.services.exporter import export_subscribers
from mailer.services.importer import FORMAT_LABELS, KINDS, MAX_FILE_BYTES, SubscriberFileError
from mailer.services.subscribers import ImportReport
from mailer.web.admin.common import ADMIN_HEADERS, TOKYO, admin_message, admin_page
from mailer.web.admin.subscriber_edit import (
    EDIT_SUBSCRIBERS,
    SubscriberInput,
    create_subscriber,
    editable,
    list_names,
    update_subscriber,
)
from mailer.web.admin.subscriber_import import apply_staged, run_import, stage
from mailer.web.auth import Principal, record_audit, require, verify_csrf
from mailer.web.routes import READ
from mailer.web.service_errors import status_of
from mailer.web.state import Web, WebState

router = APIRouter(prefix="/admin/subscribers", include_in_schema=False)

Editor = Annotated[Principal, Depends(require(*EDIT_SUBSCRIBERS))]
Text = Annotated[str, Form(max_length=1000)]
CSRF = [Depends(verify_csrf)]
EXPORT_SPOOL = 8 * 1024 * 1024  # bytes kept in memory before the export spills to disk

FIELD_LABELS = {
    "email": "メールアドレス", "name": "氏名", "honorific": "敬称", "organisation": "団体名",
    "organisation_kind": "団体区分", "job_title": "役職", "roles": "役割",
    "format": "形式", "charset": "文字コード", "status": "状態", "lists": "リスト",
    "list": "リスト", "file": "ファイル", "token": "確認",
}


def _form(request: Request, principal: Principal, web: WebState, *, values: dict[str, object],
          subscriber_id: int | None, error: ServiceError | None = None) -> HTMLResponse:
    return admin_page(
        request, principal, "subscriber_form", status_code=status_of(error) if error else 200,
        title="購読者の編集" if subscriber_id else "購読者の登録", v=values,
        subscriber_id=subscriber_id, error=error.message if error else "",
        error_field=error.field or "" if error else "", labels=FIELD_LABELS, kinds=KINDS,
        formats=FORMAT_LABELS, charsets={"utf-8": "UTF-8", "iso-2022-jp": "ISO-2022-JP"},
        statuses=list(SubscriberStatus), all_lists=list_names(web))


def _input(email: str, name: str, honorific: str, organisation: str, organisation_kind: str,
           job_title: str, roles: str, fmt: str, charset: str, status: str | None,
           lists: list[str] | None) -> SubscriberInput:
    return SubscriberInput(email=email, name=name, honorific=honorific,
                           organisation=organisation, organisation_kind=organisation_kind,
                           job_title=job_title, roles=roles, format=fmt, charset=charset,
                           status=status, lists=lists or [])


EMPTY: dict[str, object] = {
    "email": "", "name": "", "honorific": "様", "organisation": "", "organisation_kind": "",
    "job_title": "", "roles": "", "format": "html", "charset": "utf-8", "status": "active",
    "lists": [],
}


@router.api_route("/new", methods=READ)
def new_page(request: Request, web: Web, principal: Editor) -> HTMLResponse:
    return _form(request, principal, web, values=dict(EMPTY), subscriber_id=None)


@router.post("/new", dependencies=CSRF)
def create_page(
    request: Request, web: Web, principal: Editor, email: Text = "", name: Text = "",
    honorific: Text = "様", organisation: Text = "", organisation_kind: Text = "",
    job_title: Text = "", roles: Text = "", format: Text = "html", charset: Text = "utf-8",
    lists: Annotated[list[str] | None, Form()] = None,
) -> Response:
    data = _input(email, name, honorific, organisation, organisation_kind, job_title, roles,
                  format, charset, None, lists)
    try:
        sid = create_subscriber(web=web, principal=principal, data=data)
    except ServiceError as exc:
        return _form(request, principal, web, values={**vars(data), "status": "active",
                                                      "lists": list(data.lists or [])},
                     subscriber_id=None, error=exc)
    return RedirectResponse(f"/admin/subscribers/{sid}", status_code=303)


@router.api_route("/{subscriber_id}/edit", methods=READ)
def edit_page(subscriber_id: int, request: Request, web: Web, principal: Editor) -> HTMLResponse:
    current = editable(web, subscriber_id)
    if current is None:
        return admin_message(request, principal, status_code=404, title="購読者が見つかりません",
                             lines=[f"購読者 {subscriber_id} はいません。"],
                             back="/admin/subscribers")
    return _form(request, principal, web, values=vars(current), subscriber_id=subscriber_id)


@router.post("/{subscriber_id}/edit", dependencies=CSRF)
def update_page(
    subscriber_id: int, request: Request, web: Web, principal: Editor, email: Text = "",
    name: Text = "", honorific: Text = "様", organisation: Text = "",
    organisation_kind: Text = "", job_title: Text = "", roles: Text = "",
    format: Text = "html", charset: Text = "utf-8", status: Text = "",
    lists: Annotated[list[str] | None, Form()] = None,
) -> Response:
    data = _input(email, name, honorific, organisation, organisation_kind, job_title, roles,
                  format, charset, status or None, lists)
    try:
        update_subscriber(web=web, principal=principal, subscriber_id=subscriber_id, data=data)
    except ServiceError as exc:
        if status_of(exc) == 404:
            return admin_message(request, principal, status_code=404,
                                 title="購読者が見つかりません", lines=[exc.message],
                                 back="/admin/subscribers")
        return _form(request, principal, web, values={**vars(data),
                                                      "lists": list(data.lists or [])},
                     subscriber_id=subscriber_id, error=exc)
    return RedirectResponse(f"/admin/subscribers/{subscriber_id}", status_code=303)


# -- import --------------------------------------------------------------------------


def _import_page(request: Request, principal: Principal, web: WebState, *,
                 report: ImportReport | None = None, token: str = "", error: str = "",
                 status_code: int = 200, applied: bool = False) -> HTMLResponse:
    return admin_page(request, principal, "subscriber_import", status_code=status_code,
                      title="購読者の取り込み", report=report, token=token, error=error,
                      applied=applied, all_lists=list_names(web),
                      max_mb=MAX_FILE_BYTES // 1024 // 1024)


@router.api_route("/import", methods=READ)
def import_page(request: Request, web: Web, principal: Editor) -> HTMLResponse:
    return _import_page(request, principal, web)


@router.post("/import", dependencies=CSRF)
async def import_preview(
    request: Request, web: Web, principal: Editor, file: Annotated[UploadFile, File()],
    list: Annotated[str, Form(max_length=100)] = "",
    resubscribe: Annotated[str, Form(max_length=10)] = "",
) -> HTMLResponse:
    """Dry run of the uploaded file: counts and every rejected row; nothing is
    written. The bytes are staged for the confirmation."""
    data = await file.read(MAX_FILE_BYTES + 1)
    filename = file.filename or "upload.csv"
    list_name = list or None
    try:
        report = await run_in_threadpool(
            run_import, web=web, principal=principal, data=data, filename=filename,
            list_name=list_name, resubscribe=bool(resubscribe), dry_run=True)
    except SubscriberFileError as exc:
        return _import_page(request, principal, web, error=str(exc), status_code=400)
    except ServiceError as exc:
        return _import_page(request, principal, web, error=exc.message, status_code=status_of(exc))
    token = ""
    if report.counts.created or report.counts.updated:
        token = await run_in_threadpool(stage, web=web, principal=principal, data=data,
                                        filename=filename, list_name=list_name,
                                        resubscribe=bool(resubscribe))
    return _import_page(request, principal, web, report=report, token=token)


@router.post("/import/confirm", dependencies=CSRF)
def import_confirm(request: Request, web: Web, principal: Editor,
                   token: Annotated[str, Form(max_length=100)] = "") -> HTMLResponse:
    """Apply the staged file in one transaction."""
    try:
        report = apply_staged(web=web, principal=principal, token=token)
    except SubscriberFileError as exc:
        return _import_page(request, principal, web, error=str(exc), status_code=400)
    except ServiceError as exc:
        return _import_page(request, principal, web, error=exc.message, status_code=status_of(exc))
    return _import_page(request, principal, web, report=report, applied=True)


# -- export --------------------------------------------------------------------------


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        spool.seek(0)
        while chunk := spool.read(1 << 16):
            yield chunk
    finally:
        spool.close()


@router.api_route("/export.csv", methods=READ)
def export_csv(request: Request, web: Web, principal: Editor,
               list: Annotated[str, Query(max_length=100)] = "") -> Response:
    """Every subscriber (or one list's, by id or name) as Excel-ready CSV:
    UTF-8 with BOM, CRLF, formula cells neutralised. The export is audited."""
    list_name = _list_name(web, list)
    if list and list_name is None:
        return admin_message(request, principal, status_code=404, title="リストがありません",
                             lines=[f"リスト {list} はありません。"], back="/admin/subscribers")
    spool = tempfile.SpooledTemporaryFile(max_size=EXPORT_SPOOL)  # noqa: SIM115 (closed by _chunks)
    with web.engine.connect() as conn:
        count = export_subscribers(conn, spool, list_name=list_name)
    record_audit(web.engine, actor=principal.actor, action="subscriber.export",
                 target_type="list", target_id=list_name or "-", detail=f"{count} rows")
    stem = f"subscribers-{list_name}" if list_name else "subscribers"
    name = f"{stem}-{datetime.now(TOKYO):%Y%m%d-%H%M}.csv"
    disposition = f"attachment; filename=\"subscribers.csv\"; filename*=UTF-8''{quote(name)}"
    return StreamingResponse(_chunks(spool), media_type="text/csv; charset=utf-8",
                             headers={**ADMIN_HEADERS, "Content-Disposition": disposition})


def _list_name(web: WebState, value: str) -> str | None:
    """Return the name of the list given by id or name, None if there is none."""
    value = value.strip()
    if not value:
        return None
    for row in listings.lists(web.engine):
        if row.name == value or str(row.id) == value:
            return row.name
    return None
