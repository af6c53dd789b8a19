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
from starlette.datastructures import FormData

from mailer.i18n import _
from mailer.services import listings, subscriber_edit
from mailer.services.errors import ServiceError
from mailer.services.importer import MAX_FILE_BYTES, SubscriberFileError
from mailer.services.subscriber_edit import SubscriberInput
from mailer.services.subscriber_fields import FIELDS
from mailer.services.subscriber_files import export_file
from mailer.services.subscribers import ImportReport
from mailer.web.admin.common import (
    ADMIN_HEADERS,
    EDIT_SUBSCRIBERS,
    TOKYO,
    admin_message,
    admin_page,
)
from mailer.web.admin.subscriber_import import apply_staged, run_import, stage
from mailer.web.auth import Principal, require, verify_csrf
from mailer.web.routes import READ
from mailer.web.service_errors import FIELD_LABELS, split_field, staff_message, status_of
from mailer.web.state import Web, WebState

router = APIRouter(prefix="/admin/subscribers", include_in_schema=False)

Editor = Annotated[Principal, Depends(require(*EDIT_SUBSCRIBERS))]
CSRF = [Depends(verify_csrf)]
EXPORT_SPOOL = 8 * 1024 * 1024  # bytes kept in memory before the export spills to disk
MAX_FORM_VALUE = 1000  # characters of one form value read at all (the service checks less)



def _list_names(web: WebState) -> list[tuple[str, str]]:
    return [(r.name, r.title or r.name) for r in listings.lists(web.engine)]


def _form(request: Request, principal: Principal, web: WebState, *, values: dict[str, object],
          subscriber_id: int | None, error: ServiceError | None = None) -> HTMLResponse:
    # The inputs are the declared fields (those given at creation when creating).
    shown = [f for f in FIELDS if f.on_create or subscriber_id]
    field, rest = split_field(error) if error else (None, "")
    return admin_page(
        request, principal, "subscriber_form", status_code=status_of(error) if error else 200,
        title=_("購読者の編集") if subscriber_id else _("購読者の登録"), v=values,
        subscriber_id=subscriber_id,
        labels={name: _(label) for name, label in FIELD_LABELS.items()},
        # the field is named by its label beside the message (service_errors)
        error_field=field or "", error=rest,
        groups=[(_("連絡先"), [f for f in shown if f.group == "contact"]),
                (_("受信の設定"), [f for f in shown if f.group == "delivery"])],
        all_lists=_list_names(web))


def _input(form: FormData, *, editing: bool) -> SubscriberInput:
    """Return the service input of a posted form. A form sends every input, so
    a missing one is blank (its default); a blank status leaves it unchanged."""
    values: dict[str, str | None] = {}
    for f in FIELDS:
        raw = form.get(f.name)
        text = raw[:MAX_FORM_VALUE] if isinstance(raw, str) else ""
        if not f.on_create and not (editing and text.strip()):
            continue
        values[f.name] = text
    lists = [x[:MAX_FORM_VALUE] for x in form.getlist("lists") if isinstance(x, str)]
    return SubscriberInput(values=values, lists=lists)


def _shown(data: SubscriberInput, current: dict[str, object] | None = None) -> dict[str, object]:
    """Return the values a refused form shows again: what was typed."""
    base: dict[str, object] = {f.name: f.default for f in FIELDS}
    return {**base, **(current or {}), **{k: v for k, v in data.values.items() if v is not None},
            "lists": list(data.lists or [])}


@router.api_route("/new", methods=READ)
def new_page(request: Request, web: Web, principal: Editor) -> HTMLResponse:
    empty: dict[str, object] = {f.name: f.default for f in FIELDS}
    return _form(request, principal, web, values={**empty, "lists": []}, subscriber_id=None)


@router.post("/new", dependencies=CSRF)
async def create_page(request: Request, web: Web, principal: Editor) -> Response:
    data = _input(await request.form(), editing=False)
    try:
        sid = await run_in_threadpool(subscriber_edit.create_subscriber, engine=web.engine,
                                      actor=principal.as_actor(), data=data)
    except ServiceError as exc:
        return _form(request, principal, web, values=_shown(data), subscriber_id=None, error=exc)
    return RedirectResponse(f"/admin/subscribers/{sid}?notice=created", status_code=303)


def _missing(request: Request, principal: Principal, subscriber_id: int) -> HTMLResponse:
    return admin_message(request, principal, status_code=404, title=_("購読者が見つかりません"),
                         lines=[_("購読者 {id} はいません。").format(id=subscriber_id)],
                         back="/admin/subscribers")


@router.api_route("/{subscriber_id}/edit", methods=READ)
def edit_page(subscriber_id: int, request: Request, web: Web, principal: Editor) -> HTMLResponse:
    current = subscriber_edit.editable(web.engine, subscriber_id)
    if current is None:
        return _missing(request, principal, subscriber_id)
    return _form(request, principal, web, values=current, subscriber_id=subscriber_id)


@router.post("/{subscriber_id}/edit", dependencies=CSRF)
async def update_page(subscriber_id: int, request: Request, web: Web,
                      principal: Editor) -> Response:
    data = _input(await request.form(), editing=True)
    try:
        await run_in_threadpool(subscriber_edit.update_subscriber, engine=web.engine,
                                actor=principal.as_actor(), subscriber_id=subscriber_id,
                                data=data)
    except ServiceError as exc:
        if status_of(exc) == 404:
            return _missing(request, principal, subscriber_id)
        current = await run_in_threadpool(subscriber_edit.editable, web.engine, subscriber_id)
        return _form(request, principal, web, values=_shown(data, current),
                     subscriber_id=subscriber_id, error=exc)
    return RedirectResponse(f"/admin/subscribers/{subscriber_id}?notice=saved", status_code=303)


# -- import --------------------------------------------------------------------------


def _import_page(request: Request, principal: Principal, web: WebState, *,
                 report: ImportReport | None = None, token: str = "", error: str = "",
                 status_code: int = 200, applied: bool = False) -> HTMLResponse:
    return admin_page(request, principal, "subscriber_import", status_code=status_code,
                      title=_("購読者の取り込み"), report=report, token=token, error=error,
                      applied=applied, all_lists=_list_names(web),
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
        return _import_page(request, principal, web, error=staff_message(exc),
                            status_code=status_of(exc))
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
        return _import_page(request, principal, web, error=staff_message(exc),
                            status_code=status_of(exc))
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
        return admin_message(request, principal, status_code=404, title=_("リストがありません"),
                             lines=[_("リスト {name} はありません。").format(name=list)],
                             back="/admin/subscribers")
    spool = tempfile.SpooledTemporaryFile(max_size=EXPORT_SPOOL)  # noqa: SIM115 (closed by _chunks)
    export_file(engine=web.engine, actor=principal.as_actor(), out=spool, list_name=list_name)
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
