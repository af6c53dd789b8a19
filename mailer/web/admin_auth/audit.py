"""The audit log for admins: `/admin/audit` (a page of rows) and `/admin/audit.csv`.

The CSV opens cleanly in Excel (UTF-8 BOM, CRLF) and every cell that could
start a formula gets a leading apostrophe: actors and details can hold what
a stranger typed into the login form.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy import Select, func, select
from sqlmodel import Session, col

from mailer.i18n import N_, _
from mailer.labels import AUDIT_ACTION_LABELS
from mailer.models import AuditLog, UserRole
from mailer.services.accounts import note_audit_export
from mailer.services.exporter import neutralise
from mailer.web.admin.common import admin_page
from mailer.web.auth import Principal, require
from mailer.web.pages import PRIVATE_HEADERS
from mailer.web.routes import READ
from mailer.web.state import Web

router = APIRouter(tags=["admin-audit"])

TOKYO = ZoneInfo("Asia/Tokyo")
PAGE_SIZE = 100
UTF8_BOM = b"\xef\xbb\xbf"
HEADER = [N_("日時"), N_("実行者"), N_("操作"), N_("対象の種類"), N_("対象"), N_("詳細")]
_FETCH = 1000

Admin = Annotated[Principal, Depends(require(UserRole.ADMIN))]


def _filtered(stmt: Select, actor: str, action: str) -> Select:  # type: ignore[type-arg]
    if actor:
        stmt = stmt.where(col(AuditLog.actor).contains(actor, autoescape=True))
    if action:
        stmt = stmt.where(col(AuditLog.action).startswith(action, autoescape=True))
    return stmt


def _when(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M:%S")


@router.api_route("/admin/audit", methods=READ)
def audit_page(
    request: Request, web: Web, principal: Admin,
    actor: Annotated[str, Query(max_length=320)] = "",
    action: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """Newest first, PAGE_SIZE rows a page; `actor` (contains) and `action` (prefix) filter."""
    with Session(web.engine) as session:
        total = session.execute(
            _filtered(select(func.count()).select_from(AuditLog), actor, action)
        ).scalar_one()
        rows = session.execute(
            _filtered(select(AuditLog), actor, action)
            .order_by(col(AuditLog.id).desc())
            .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
        ).scalars().all()
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return admin_page(request, principal, "auth_audit",
                      title=_("監査ログ"), rows=[(_when(r.at), r) for r in rows], total=total,
                      page=page, pages=pages, actor=actor, action=action,
                      action_labels=AUDIT_ACTION_LABELS)


def _csv_chunks(web: Web, actor: str, action: str) -> Iterator[bytes]:
    yield UTF8_BOM
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_(h) for h in HEADER])
    with Session(web.engine) as session:
        result = session.execute(
            _filtered(select(AuditLog), actor, action).order_by(col(AuditLog.id))
            .execution_options(yield_per=_FETCH)
        ).scalars()
        for row in result:
            writer.writerow([neutralise(c) for c in (
                _when(row.at), row.actor, row.action, row.target_type, row.target_id,
                row.detail)])
            if buffer.tell() > 1 << 16:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


@router.api_route("/admin/audit.csv", methods=READ)
def audit_csv(
    web: Web, principal: Admin,
    actor: Annotated[str, Query(max_length=320)] = "",
    action: Annotated[str, Query(max_length=100)] = "",
) -> StreamingResponse:
    """Every matching row, oldest first, as Excel-ready CSV (the export is itself audited)."""
    note_audit_export(engine=web.engine, actor=principal.actor, actor_filter=actor,
                      action_filter=action)
    name = f"audit-{datetime.now(TOKYO):%Y%m%d-%H%M}.csv"
    return StreamingResponse(
        _csv_chunks(web, actor, action), media_type="text/csv; charset=utf-8",
        headers={**PRIVATE_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
    )

