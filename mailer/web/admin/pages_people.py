"""Admin pages about people: subscribers (search, filters, keyset pages), one
subscriber with their history, and the suppression list."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from mailer.i18n import N_, _
from mailer.models import SubscriberStatus
from mailer.services import listings
from mailer.services.iso2022jp_readers import PROBLEM
from mailer.web.admin.common import READ_SUBSCRIBERS, admin_message, admin_page
from mailer.web.auth import Principal, require
from mailer.web.routes import READ
from mailer.web.state import Web

router = APIRouter(prefix="/admin", include_in_schema=False)

People = Annotated[Principal, Depends(require(*READ_SUBSCRIBERS))]
PAGE_SIZE = 50


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def subscriber_filter(q: str, status: str, kind: str, list_id: str | None,
                      problem: str = "") -> listings.SubscriberFilter:
    """Return the filter of the query string (unknown values are ignored)."""
    known = {s.value: s for s in SubscriberStatus}
    return listings.SubscriberFilter(q=q[:200], status=known.get(status), kind=kind[:50],
                                    list_id=_int(list_id),
                                    problem=problem if problem == PROBLEM else "")


@router.api_route("/subscribers", methods=READ)
def subscribers_page(
    request: Request, web: Web, principal: People, q: str = "", status: str = "",
    kind: str = "", list: str | None = None, after: str | None = None, problem: str = "",
) -> HTMLResponse:
    filt = subscriber_filter(q, status, kind, list, problem)
    after_id = _int(after)
    rows, next_after = listings.subscribers(web.engine, filt, after=after_id, limit=PAGE_SIZE)
    total = listings.count_subscribers(web.engine, filt)
    params = {k: v for k, v in (("q", filt.q), ("status", status if filt.status else ""),
                                ("kind", filt.kind), ("list", filt.list_id or ""),
                                ("problem", filt.problem)) if v}
    base = "/admin/subscribers"
    next_url = f"{base}?{urlencode({**params, 'after': next_after})}" if next_after else ""
    first_url = f"{base}?{urlencode(params)}" if params else base
    return admin_page(request, principal, "subscribers", title=_("購読者"), filt=filt, rows=rows,
                      total=total, after=after_id, next_url=next_url, first_url=first_url,
                      page_size=PAGE_SIZE, kinds=listings.organisation_kinds(web.engine),
                      lists=listings.lists(web.engine))


#: the short notice after a form was saved (?notice=…)
SUBSCRIBER_NOTICES = {"created": N_("購読者を登録しました。"),
                      "saved": N_("登録内容を保存しました。")}


@router.api_route("/subscribers/{subscriber_id}", methods=READ)
def subscriber_page(subscriber_id: int, request: Request, web: Web,
                    principal: People, notice: str = "") -> HTMLResponse:
    d = listings.subscriber_detail(web.engine, subscriber_id)
    if d is None:
        return admin_message(request, principal, status_code=404, title=_("購読者が見つかりません"),
                             lines=[_("購読者 {id} はいません。").format(id=subscriber_id)],
                             back="/admin/subscribers")
    return admin_page(request, principal, "subscriber", title=d.subscriber.name or _("購読者"),
                      d=d, notice=_(SUBSCRIBER_NOTICES[notice]) if notice in SUBSCRIBER_NOTICES
                      else "")


@router.api_route("/suppressions", methods=READ)
def suppressions_page(request: Request, web: Web, principal: People, q: str = "",
                      after: str | None = None) -> HTMLResponse:
    after_id = _int(after)
    rows, next_after = listings.suppressions(web.engine, q=q[:200], after=after_id)
    params = {"q": q} if q else {}
    base = "/admin/suppressions"
    next_url = f"{base}?{urlencode({**params, 'after': next_after})}" if next_after else ""
    return admin_page(request, principal, "suppressions", title=_("配信抑止リスト"), rows=rows,
                      q=q, after=after_id, next_url=next_url,
                      first_url=f"{base}?{urlencode(params)}" if params else base)
