"""Subscribers, lists and the suppression list (read only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from mailer.i18n import _
from mailer.models import SubscriberStatus
from mailer.services import listings
from mailer.web.api.common import (
    AUTH_ERRORS,
    MAX_ID,
    After,
    Id,
    Limit,
    People,
    Search,
    errors,
)
from mailer.web.api.schemas import (
    EventOut,
    ListOut,
    SubscriberDetailOut,
    SubscriberOut,
    SubscriberPage,
    SuppressionOut,
    SuppressionPage,
)
from mailer.web.state import Web

router = APIRouter(tags=["subscribers"], responses=AUTH_ERRORS)


def _sub(r: listings.SubscriberListing) -> BaseModel:
    return SubscriberOut(**r.as_dict())


@router.get("/subscribers", response_model=SubscriberPage)
def list_subscribers(
    web: Web, _p: People, q: Search = "", after: After = None, limit: Limit = 50,
    status: Annotated[SubscriberStatus | None, Query()] = None,
    kind: Annotated[str, Query(max_length=50, pattern=r"^[^\x00]*$")] = "",
    list_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> SubscriberPage:
    """Subscribers by id, searched (name, reading, email, organisation; 山崎
    finds 山﨑, たかはし finds タカハシ) and filtered; `total` counts every match.
    Keyset pages: pass `next_after` as `after`."""
    filt = listings.SubscriberFilter(q=q, status=status, kind=kind, list_id=list_id)
    rows, next_after = listings.subscribers(web.engine, filt, after=after, limit=limit)
    return SubscriberPage(items=[_sub(r) for r in rows], next_after=next_after,
                          total=listings.count_subscribers(web.engine, filt))


@router.get("/subscribers/{subscriber_id}", response_model=SubscriberDetailOut,
            responses=errors(404))
def get_subscriber(subscriber_id: Id, web: Web, _p: People) -> BaseModel:
    """One subscriber with lists, suppression and events (newest first)."""
    d = listings.subscriber_detail(web.engine, subscriber_id)
    if d is None:
        raise HTTPException(404, _("購読者 {id} はいません。").format(id=subscriber_id))
    return SubscriberDetailOut(**d.subscriber.as_dict(), lists=d.lists, suppressed=d.suppressed,
                               events=[EventOut(**vars(e)) for e in d.events])


@router.get("/lists", response_model=list[ListOut])
def list_lists(web: Web, _p: People) -> list[ListOut]:
    return [ListOut(**vars(row)) for row in listings.lists(web.engine)]


@router.get("/suppressions", response_model=SuppressionPage)
def list_suppressions(web: Web, _p: People, q: Search = "", after: After = None,
                      limit: Limit = 100) -> SuppressionPage:
    """The suppression list by id (keyset)."""
    rows, next_after = listings.suppressions(web.engine, q=q, after=after, limit=limit)
    return SuppressionPage(items=[SuppressionOut(**vars(r)) for r in rows],
                           next_after=next_after)
