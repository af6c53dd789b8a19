"""Changing subscribers through the API: create, update, import (dry run or
not). The same checks, events and audit records as the admin pages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.concurrency import run_in_threadpool

from mailer.i18n import _
from mailer.services import listings, subscriber_edit
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.importer import MAX_FILE_BYTES, SubscriberFileError
from mailer.services.subscriber_edit import SubscriberInput
from mailer.services.subscriber_fields import FIELDS
from mailer.web.admin.common import EDIT_SUBSCRIBERS
from mailer.web.admin.subscriber_import import run_import
from mailer.web.api.common import AUTH_ERRORS, NO_NUL, Id, errors
from mailer.web.api.schemas import EventOut, SubscriberDetailOut
from mailer.web.auth import Principal, require
from mailer.web.state import Web, WebState

router = APIRouter(tags=["subscribers"], responses=AUTH_ERRORS)
ListAdmin = Annotated[Principal, Depends(require(*EDIT_SUBSCRIBERS))]
Lists = list[Annotated[str, Field(max_length=100, pattern=NO_NUL)]] | None


class SubscriberWrite(BaseModel):
    """Fields to set; an absent field keeps its value (on update)."""

    model_config = ConfigDict(extra="forbid")


def _write_model(name: str, *, creating: bool) -> type[SubscriberWrite]:
    """Return the request model of create or update, one property per declared
    field (the address required on create; the status on update only), then `lists`."""
    props: dict[str, Any] = {}
    for f in FIELDS:
        if creating and not f.on_create:
            continue
        bounds = Field(max_length=f.max_length, pattern=NO_NUL)
        if creating and f.required:
            props[f.name] = (Annotated[str, bounds], ...)
        else:
            props[f.name] = (Annotated[str | None, bounds], None)
    props["lists"] = (Lists, Field(default=None, max_length=100,
                                   description="list names (all of them: replaces)"))
    return create_model(name, __base__=SubscriberWrite, **props)


SubscriberCreate = _write_model("SubscriberCreate", creating=True)
SubscriberUpdate = _write_model("SubscriberUpdate", creating=False)


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


def _detail(web: WebState, subscriber_id: int) -> BaseModel:
    d = listings.subscriber_detail(web.engine, subscriber_id)
    if d is None:
        raise HTTPException(404, _("購読者 {id} はいません。").format(id=subscriber_id))
    return SubscriberDetailOut(**d.subscriber.as_dict(), lists=d.lists, suppressed=d.suppressed,
                               events=[EventOut(**vars(e)) for e in d.events])


@router.post("/subscribers", response_model=SubscriberDetailOut, status_code=201)
def create(body: SubscriberCreate, web: Web, p: ListAdmin) -> BaseModel:  # type: ignore[valid-type]
    """Create an active subscriber (consent: this token's owner, now)."""
    sid = subscriber_edit.create_subscriber(
        engine=web.engine, actor=p.as_actor(),
        data=SubscriberInput.of(body.model_dump()))  # type: ignore[attr-defined]
    return _detail(web, sid)


@router.patch("/subscribers/{subscriber_id}", response_model=SubscriberDetailOut,
              responses=errors(404))
def patch(subscriber_id: Id, body: SubscriberUpdate, web: Web,  # type: ignore[valid-type]
          p: ListAdmin) -> BaseModel:
    """Change fields, status and lists (`lists` replaces the memberships)."""
    subscriber_edit.update_subscriber(
        engine=web.engine, actor=p.as_actor(), subscriber_id=subscriber_id,
        data=SubscriberInput.of(body.model_dump(exclude_unset=True)))  # type: ignore[attr-defined]
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
