"""Changing subscribers through the API: create, update, import (dry run or
not). The same checks, events and audit records as the admin pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from mailer.services import listings
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.importer import MAX_FILE_BYTES, SubscriberFileError
from mailer.web.admin.subscriber_edit import (
    EDIT_SUBSCRIBERS,
    SubscriberInput,
    create_subscriber,
    update_subscriber,
)
from mailer.web.admin.subscriber_import import run_import
from mailer.web.api.common import AUTH_ERRORS, NO_NUL, Id, errors
from mailer.web.api.schemas import EventOut, SubscriberDetailOut
from mailer.web.auth import Principal, require
from mailer.web.state import Web, WebState

router = APIRouter(tags=["subscribers"], responses=AUTH_ERRORS)
ListAdmin = Annotated[Principal, Depends(require(*EDIT_SUBSCRIBERS))]
Short = Annotated[str | None, Field(default=None, max_length=200, pattern=NO_NUL)]


class SubscriberWrite(BaseModel):
    """Fields to set; an absent field keeps its value (on update)."""

    model_config = ConfigDict(extra="forbid")
    email: Annotated[str | None, Field(default=None, max_length=320, pattern=NO_NUL)] = None
    name: Short = None
    honorific: Short = None
    organisation: Short = None
    organisation_kind: Short = None
    job_title: Short = None
    roles: Short = None
    format: Short = None
    charset: Short = None
    lists: list[Annotated[str, Field(max_length=100, pattern=NO_NUL)]] | None = Field(
        default=None, max_length=100, description="list names (all of them: replaces)")


class SubscriberCreate(SubscriberWrite):
    email: Annotated[str, Field(max_length=320, pattern=NO_NUL)]  # type: ignore[assignment]


class SubscriberUpdate(SubscriberWrite):
    status: Annotated[str | None, Field(default=None, max_length=20)] = None


class ImportCountsOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    rejected: int
    skipped_suppressed: int
    added_to_list: int
    resubscribed: int


class RejectedOut(BaseModel):
    line: int
    reason: str


class SkippedOut(BaseModel):
    line: int
    email: str
    reason: str


class ImportOut(BaseModel):
    file: str
    encoding: str
    list_name: str | None
    dry_run: bool
    counts: ImportCountsOut
    rejected: list[RejectedOut]
    skipped: list[SkippedOut]
    warnings: list[str]


def _detail(web: WebState, subscriber_id: int) -> SubscriberDetailOut:
    d = listings.subscriber_detail(web.engine, subscriber_id)
    if d is None:
        raise HTTPException(404, f"subscriber {subscriber_id}: no such subscriber")
    return SubscriberDetailOut(**vars(d.subscriber), lists=d.lists, suppressed=d.suppressed,
                               events=[EventOut(**vars(e)) for e in d.events])


@router.post("/subscribers", response_model=SubscriberDetailOut, status_code=201)
def create(body: SubscriberCreate, web: Web, p: ListAdmin) -> SubscriberDetailOut:
    """Create an active subscriber (consent: this token's owner, now)."""
    sid = create_subscriber(web=web, principal=p,
                            data=SubscriberInput(**body.model_dump()))
    return _detail(web, sid)


@router.patch("/subscribers/{subscriber_id}", response_model=SubscriberDetailOut,
              responses=errors(404))
def patch(subscriber_id: Id, body: SubscriberUpdate, web: Web,
          p: ListAdmin) -> SubscriberDetailOut:
    """Change fields, status and lists (`lists` replaces the memberships)."""
    update_subscriber(web=web, principal=p, subscriber_id=subscriber_id,
                      data=SubscriberInput(**body.model_dump(exclude_unset=True)))
    return _detail(web, subscriber_id)


@router.post("/subscribers/import", response_model=ImportOut, responses=errors(400, 413))
async def import_file(
    web: Web, p: ListAdmin, file: Annotated[UploadFile, File()],
    list: Annotated[str | None, Form(max_length=100, pattern=NO_NUL)] = None,
    dry_run: Annotated[bool, Form()] = False,
    resubscribe: Annotated[bool, Form()] = False,
) -> ImportOut:
    """Import a CSV (as `mailer subscribers import`): one transaction; with
    `dry_run` nothing is written and the counts are what a real run would give."""
    data = await file.read(MAX_FILE_BYTES + 1)
    try:
        report = await run_in_threadpool(
            run_import, web=web, principal=p, data=data, filename=file.filename or "upload.csv",
            list_name=list or None, resubscribe=resubscribe, dry_run=dry_run)
    except SubscriberFileError as exc:
        raise ServiceError(str(exc), kind=ErrorKind.UNREADABLE, field="file") from None
    return ImportOut(
        file=report.file, encoding=report.encoding, list_name=report.list_name,
        dry_run=report.dry_run, counts=ImportCountsOut(**vars(report.counts)),
        rejected=[RejectedOut(line=r.line, reason=r.reason) for r in report.rejected],
        skipped=[SkippedOut(line=s.line, email=s.email, reason=s.reason) for s in report.skipped],
        warnings=report.warnings)
