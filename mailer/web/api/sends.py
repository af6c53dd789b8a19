"""Sends: list, schedule, progress, control, deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import StringConstraints, field_validator
from starlette.concurrency import run_in_threadpool

from mailer.i18n import _
from mailer.labels import SEND_LABELS
from mailer.models import DeliveryStatus, SendStatus
from mailer.services import listings
from mailer.services.errors import ServiceError
from mailer.services.send_progress import send_progress
from mailer.services.sends import CONTROLS, approve_send, schedule_send
from mailer.web.admin.common import to_utc
from mailer.web.api.common import (
    AUTH_ERRORS,
    NO_NUL,
    After,
    Approver,
    Composer,
    Controller,
    Id,
    Limit,
    Reader,
    errors,
)
from mailer.web.api.schemas import (
    ActionOut,
    DeliveryOut,
    DeliveryPage,
    ProgressOut,
    ScheduledOut,
    SendCreate,
    SendOut,
    SendPage,
)
from mailer.web.state import Web, WebState

router = APIRouter(tags=["sends"], responses={**AUTH_ERRORS, **errors(404)})

ListName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_NUL)]


class SendRequest(SendCreate):
    lists: list[ListName]  # type: ignore[assignment]

    @field_validator("at")
    @classmethod
    def _at(cls, v: datetime | None) -> datetime | None:
        return None if v is None else to_utc(v)


def _out(s: listings.SendRow) -> SendOut:
    return SendOut(id=s.id, part_id=s.part_id, part_label=s.part_label, part_title=s.part_title,
                   issue_number=s.issue_number, status=s.status, lists=s.lists,
                   scheduled_at=s.scheduled_at, started_at=s.started_at,
                   finished_at=s.finished_at, recipients=s.recipients, created_by=s.created_by,
                   approved_by=s.approved_by, note=s.note, overlap=s.overlap)


def _progress(web: WebState, send_id: int) -> ProgressOut:
    s = listings.send_row(web.engine, send_id)
    if s is None:
        raise HTTPException(404, _("配信 {id} はありません。").format(id=send_id))
    try:
        p = send_progress(engine=web.engine, send_id=send_id)
    except ServiceError as exc:  # deleted meanwhile
        raise HTTPException(404, exc.message) from None
    return ProgressOut(**_out(s).model_dump(), counts=p.counts, unknown=p.unknown,
                       rate_per_second=p.rate_per_second, eta_seconds=p.eta_seconds,
                       later_joiners=p.later_joiners, accounted=p.accounted)


@router.get("/sends", response_model=SendPage)
def list_sends(
    web: Web, _p: Reader, after: After = None, limit: Limit = 50,
    status: Annotated[SendStatus | None, Query()] = None,
    part_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> SendPage:
    """Sends by id (keyset: pass `next_after` as `after` for the next page)."""
    rows = listings.sends(web.engine, statuses=[status] if status else None, part_id=part_id,
                         after=after or 0, limit=limit + 1)
    items = [_out(s) for s in rows[:limit]]
    return SendPage(items=items, next_after=items[-1].id if len(rows) > limit else None)


@router.post("/sends", response_model=ScheduledOut, status_code=201, responses=errors(409))
def post_send(body: SendRequest, web: Web, principal: Composer) -> ScheduledOut:
    """Schedule a part to lists at `at` (Asia/Tokyo when it has no offset; now if null).

    `overlap` says what happens to subscribers who already got the part or
    are getting it: `skip` (default) leaves them out, `again` sends it again;
    the answer says how many overlapped and how many are skipped. 409 when
    the part's preflight has errors for these lists, or when with `skip`
    every recipient already has the part.
    """
    done = schedule_send(engine=web.engine, actor=principal.as_actor(), part_id=body.part_id,
                         list_names=body.lists, at=body.at, config=web.render_config,
                         overlap=body.overlap)
    return ScheduledOut(**_progress(web, done.send_id).model_dump(),
                        overlapping=done.overlapping, skipped=done.skipped)


@router.get("/sends/{send_id}", response_model=ProgressOut)
def get_send(send_id: Id, web: Web, _p: Reader) -> ProgressOut:
    """The send with its progress: counts per state, rate, ETA."""
    return _progress(web, send_id)


@router.post("/sends/{send_id}/approve", response_model=ActionOut, responses=errors(409))
async def post_approve(send_id: Id, web: Web, principal: Approver) -> ActionOut:
    """Approve a waiting send; whoever created it cannot."""
    await run_in_threadpool(approve_send, engine=web.engine, actor=principal.as_actor(),
                            send_id=send_id)
    p = send_progress(engine=web.engine, send_id=send_id)
    return ActionOut(send_id=send_id, action="approve", outcome=_("{actor} が承認しました").format(
                         actor=principal.actor),
                     status=p.status)


def _control_route(action: str) -> None:
    use_case = CONTROLS[action]

    async def handler(send_id: Id, web: Web, principal: Controller) -> ActionOut:
        result = await run_in_threadpool(use_case, engine=web.engine,
                                         actor=principal.as_actor(), send_id=send_id)
        outcome = (_("失敗した {count} 件を再送に回しました").format(count=result)
                   if action == "resend-failed" else SEND_LABELS[SendStatus(str(result))])
        p = send_progress(engine=web.engine, send_id=send_id)
        return ActionOut(send_id=send_id, action=action, outcome=outcome, status=p.status)

    handler.__name__ = f"post_{action.replace('-', '_')}"
    handler.__doc__ = f"{action.capitalize()} the send (409 if its state does not allow it)."
    router.post(f"/sends/{{send_id}}/{action}", response_model=ActionOut,
                responses=errors(409))(handler)


for _action in CONTROLS:
    _control_route(_action)


@router.get("/sends/{send_id}/deliveries", response_model=DeliveryPage)
def list_deliveries(
    send_id: Id, web: Web, _p: Reader, after: After = None, limit: Limit = 100,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> DeliveryPage:
    """A send's deliveries by id (keyset: pass `next_after` as `after`)."""
    if listings.send_row(web.engine, send_id) is None:
        raise HTTPException(404, _("配信 {id} はありません。").format(id=send_id))
    rows = listings.deliveries(web.engine, send_id, after=after, limit=limit + 1, status=status)
    items = [DeliveryOut(id=d.id, subscriber_id=d.subscriber_id, email=d.email, name=d.name,
                         organisation=d.organisation, status=d.status, attempts=d.attempts,
                         last_error=d.last_error, sent_at=d.sent_at) for d in rows[:limit]]
    return DeliveryPage(items=items, next_after=items[-1].id if len(rows) > limit else None)
