"""Parts: details, preflight, previews, a test send to yourself, publish and
unpublish (the publish gate)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from mailer.i18n import _
from mailer.services import listings
from mailer.services.parts import preflight, preview_part
from mailer.services.publication import preview_render_config, publish_part, unpublish_part
from mailer.services.publishing import send_test_to_self
from mailer.web.admin.common import admin_csp
from mailer.web.api.common import AUTH_ERRORS, Composer, Id, Reader, errors
from mailer.web.api.schemas import (
    FindingOut,
    PartOut,
    PreflightOut,
    PublicationOut,
    TestSendOut,
    TestSendResult,
)
from mailer.web.state import Web

router = APIRouter(tags=["parts"], responses={**AUTH_ERRORS, **errors(404)})

MEDIA = {"html": "text/html; charset=utf-8", "text": "text/plain; charset=utf-8",
         "sanitized": "text/plain; charset=utf-8", "eml": "message/rfc822"}


def _part(web: Web, part_id: int) -> PartOut:
    found = listings.part_row(web.engine, part_id)
    if found is None:
        raise HTTPException(404, _("配信回 {id} はありません。").format(id=part_id))
    part, issue = found
    return PartOut(**vars(part), issue_slug=issue.slug, issue_number=issue.number,
                   issue_title=issue.title)


@router.get("/parts/{part_id}", response_model=PartOut)
def get_part(part_id: Id, web: Web, _p: Reader) -> PartOut:
    return _part(web, part_id)


@router.get("/parts/{part_id}/preflight", response_model=PreflightOut)
def get_preflight(part_id: Id, web: Web, _p: Reader) -> PreflightOut:
    """Errors block a send; warnings are for the editor to judge."""
    _part(web, part_id)
    report = preflight(engine=web.engine, part_id=part_id, config=web.render_config)
    return PreflightOut(
        part_id=part_id, errors=len(report.errors), warnings=len(report.warnings),
        findings=[FindingOut(severity=f.severity, code=f.code, message=f.message, where=f.where)
                  for f in report.findings],
        iso2022jp_recipients=len(report.iso2022jp_recipients),
    )


@router.get("/parts/{part_id}/preview", response_class=Response, responses={
    200: {"content": {m.split(";")[0]: {} for m in MEDIA.values()},
          "description": "the part as a preview persona gets it"}})
def get_preview(
    part_id: Id, request: Request, web: Web, _p: Reader,
    format: Annotated[Literal["html", "text", "eml", "sanitized"], Query()] = "html",
) -> Response:
    """The HTML body, the text part, the whole message, or what a sanitizing
    gateway leaves of the HTML. HTML is served in a CSP sandbox (no script)."""
    _part(web, part_id)
    # An unpublished part's images and web-version link go through a preview link.
    config = preview_render_config(engine=web.engine, config=web.render_config,
                                   secrets=web.settings.secret_keys, part_id=part_id)
    body = preview_part(engine=web.engine, part_id=part_id, config=config,
                        format=format)  # ServiceError (422) when it cannot become a message
    headers = {"Cache-Control": "no-store"}
    if format == "html":
        headers["Content-Security-Policy"] = "sandbox; " + admin_csp(request).replace(
            "script-src 'self'; ", "")
    return Response(body, media_type=MEDIA[format], headers=headers)


@router.post("/parts/{part_id}/test-send", response_model=TestSendOut,
             responses=errors(404, 409, 503))
async def post_test_send(part_id: Id, web: Web, principal: Composer) -> TestSendOut:
    """Send the part, marked as a test, to the token owner's own address, as
    readers get it (relay failover, DKIM, VERP sender). 404 for an unknown
    part, 409 when MAILER_SMTP_URL is unset, 503 for an unusable DKIM key."""
    results = await run_in_threadpool(send_test_to_self, engine=web.engine, settings=web.settings,
                                      actor=principal.as_actor(), part_id=part_id)
    return TestSendOut(results=[TestSendResult(address=a, outcome=o) for a, o in results])


@router.post("/parts/{part_id}/publish", response_model=PublicationOut, responses=errors(409))
async def post_publish(part_id: Id, web: Web, principal: Composer) -> PublicationOut:
    """Make the part public now: its archive page, feed entry and images
    (409 when it is public already)."""
    at = await run_in_threadpool(publish_part, engine=web.engine, actor=principal.as_actor(),
                                 part_id=part_id)
    return PublicationOut(part_id=part_id, action="publish", published_at=at)


@router.post("/parts/{part_id}/unpublish", response_model=PublicationOut, responses=errors(409))
async def post_unpublish(part_id: Id, web: Web, principal: Composer) -> PublicationOut:
    """Take the part back from the public: its archive page, feed entry and
    images answer 404 again (409 when it is not public)."""
    await run_in_threadpool(unpublish_part, engine=web.engine, actor=principal.as_actor(),
                            part_id=part_id)
    return PublicationOut(part_id=part_id, action="unpublish", published_at=None)
