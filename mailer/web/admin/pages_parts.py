"""Admin pages about content: issues (list, zip upload), a part (preflight,
previews, test send, the schedule form, publish and unpublish; the schedule
POSTs are in pages_schedule)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mailer.compose.errors import IssueFolderError
from mailer.i18n import N_, _
from mailer.render.preview import PreviewFormat
from mailer.render.types import RenderConfig
from mailer.services import listings
from mailer.services.errors import ServiceError
from mailer.services.issue_drafts import draft_slugs
from mailer.services.issue_upload import MAX_ZIP_BYTES, UploadError
from mailer.services.parts import PartNotFound, preflight, preview_part
from mailer.services.publication import preview_render_config, publish_part, unpublish_part
from mailer.services.publishing import actor_email, send_test_to_self, upload_issue
from mailer.web.admin.common import (
    ADMIN_HEADERS,
    COMPOSE,
    READ_SENDS,
    admin_message,
    admin_page,
    admin_refusal,
)
from mailer.web.auth import Principal, require, verify_csrf
from mailer.web.routes import READ
from mailer.web.service_errors import staff_message
from mailer.web.state import Web, WebState

router = APIRouter(prefix="/admin", include_in_schema=False)

Reader = Annotated[Principal, Depends(require(*READ_SENDS))]
Composer = Annotated[Principal, Depends(require(*COMPOSE))]

TABS = [("html", "HTML"), ("text", N_("テキスト")), ("sanitized", N_("無害化後")),
        ("iso", N_("ISO-2022-JP の問題"))]
LOAD_LABELS = {"created": N_("新規登録"), "updated": N_("更新"), "unchanged": N_("変更なし")}


def _issues_page(request: Request, web: WebState, principal: Principal, *, notice: str = "",
                 problems: list[str] | None = None, status_code: int = 200) -> HTMLResponse:
    return admin_page(request, principal, "issues", status_code=status_code, title=_("号と配信回"),
                      notice=notice, problems=problems or [], issues=listings.issues(web.engine),
                      drafts=draft_slugs(engine=web.engine))


def _preview_config(web: WebState, part_id: int) -> RenderConfig:
    # An unpublished part's images (and web-version link) go through a preview
    # link: the sandboxed preview frame and a downloaded .eml send no session.
    return preview_render_config(engine=web.engine, config=web.render_config,
                             secrets=web.settings.secret_keys, part_id=part_id)


@router.api_route("/issues", methods=READ)
def issues_page(request: Request, web: Web, principal: Reader) -> HTMLResponse:
    """Every issue and its parts; the upload form for editors."""
    return _issues_page(request, web, principal)


@router.post("/issues", dependencies=[Depends(verify_csrf)])
async def upload_issue_page(
    request: Request, web: Web, principal: Composer, file: Annotated[UploadFile, File()],
) -> HTMLResponse:
    """Store an uploaded issue zip; on failure list every `file:line: message`."""
    data = await file.read(MAX_ZIP_BYTES + 1)
    try:
        result = await run_in_threadpool(upload_issue, engine=web.engine,
                                         actor=principal.as_actor(), data=data,
                                         filename=file.filename or "upload.zip")
    except UploadError as exc:
        return _issues_page(request, web, principal, problems=[str(exc)], status_code=400)
    except IssueFolderError as exc:  # read, but not valid: every problem, file:line
        return _issues_page(request, web, principal, status_code=422,
                            problems=[str(p) for p in exc.problems])
    parts = _("、").join(
        _("{label}（{status}）").format(label=label, status=_(LOAD_LABELS[s.value]))
        for label, s in result.parts.items())
    notice = _("号「{slug}」を読み込みました：{status}。{parts}").format(
        slug=result.slug, status=_(LOAD_LABELS[result.status.value]), parts=parts)
    return _issues_page(request, web, principal, notice=notice)


@dataclass(frozen=True)
class ScheduleForm:
    """The schedule form as a refused request left it: what was entered, and
    why not (beside `field`: lists, at, or the form's top)."""

    lists: list[str]
    at: str
    error: str
    field: str | None = None


@router.api_route("/parts/{part_id}", methods=READ)
def part_page(part_id: int, request: Request, web: Web, principal: Reader,
              tab: str = "html", notice: str | None = None) -> HTMLResponse:
    """Preflight findings, preview tabs, test send, schedule form, and the part's sends."""
    return render_part(request, web, principal, part_id, tab=tab, notice=notice)


def render_part(request: Request, web: WebState, principal: Principal, part_id: int, *,
                tab: str = "html", notice: str | None = None,
                schedule: ScheduleForm | None = None, status_code: int = 200) -> HTMLResponse:
    """The part page; with `schedule`, its schedule form as the refused request left it."""
    found = listings.part_row(web.engine, part_id)
    if found is None:
        return admin_message(request, principal, status_code=404, title=_("配信回が見つかりません"),
                             lines=[_("配信回 {id} はありません。").format(id=part_id)],
                             back="/admin/issues")
    part, issue = found
    tab = tab if tab in dict(TABS) else "html"
    report = preflight(engine=web.engine, part_id=part_id, config=web.render_config)
    body = ""
    if tab != "iso":
        fmt: PreviewFormat = tab  # type: ignore[assignment]
        try:
            rendered = preview_part(engine=web.engine, part_id=part_id,
                                    config=_preview_config(web, part_id), format=fmt)
        except ServiceError as exc:  # the preflight lists the cause as an error too
            rendered = staff_message(exc)
        body = rendered if isinstance(rendered, str) else rendered.decode("utf-8", "replace")
    try:
        my_email = actor_email(engine=web.engine, actor=principal.as_actor())
    except ServiceError:
        my_email = ""
    notices = {"scheduled": _("配信を予約しました。"), "published": _("公開しました。"),
               "unpublished": _("公開を取り消しました。")}
    return admin_page(
        request, principal, "part",
        title=_("{label}：{title}").format(label=part.label, title=part.title),
        part=part, issue=issue,
        report=report, tab=tab, tabs=[(key, _(label)) for key, label in TABS], body=body,
        iso_findings=[f for f in report.findings if f.code == "iso2022jp_char"],
        notice=notices.get(notice or "", ""), smtp_configured=bool(web.settings.relays()),
        my_email=my_email, lists=listings.lists(web.engine),
        sends=listings.sends(web.engine, part_id=part_id, newest_first=True, limit=100),
        require_approval=web.settings.require_approval, sf=schedule, status_code=status_code,
    )


@router.api_route("/parts/{part_id}/preview.eml", methods=READ)
def part_eml(part_id: int, request: Request, web: Web, principal: Reader) -> Response:
    """The whole message as a preview persona gets it (download)."""
    try:
        data = preview_part(engine=web.engine, part_id=part_id,
                            config=_preview_config(web, part_id), format="eml")
    except PartNotFound:
        return admin_message(request, principal, status_code=404, title=_("配信回が見つかりません"),
                             lines=[_("配信回 {id} はありません。").format(id=part_id)],
                             back="/admin/issues")
    except ServiceError as exc:
        return admin_refusal(request, principal, exc, title=_("メールを作れません"),
                             back=f"/admin/parts/{part_id}")
    return Response(data, media_type="message/rfc822", headers={
        **ADMIN_HEADERS, "Content-Disposition": f'attachment; filename="part-{part_id}.eml"'})


@router.post("/parts/{part_id}/test-send", dependencies=[Depends(verify_csrf)])
async def test_send_page(part_id: int, request: Request, web: Web,
                         principal: Composer) -> HTMLResponse:
    """Send the part, marked as a test, to the logged-in user's own address."""
    try:
        results = await run_in_threadpool(send_test_to_self, engine=web.engine,
                                          settings=web.settings,
                                          actor=principal.as_actor(), part_id=part_id)
    except ServiceError as exc:
        return admin_refusal(request, principal, exc, title=_("テスト送信できませんでした"),
                             back=f"/admin/parts/{part_id}")
    lines = [_("{address}：{result}").format(
        address=addr, result=_("送信しました") if r == "sent" else r) for addr, r in results]
    ok = all(r == "sent" for _, r in results)
    return admin_message(request, principal, status_code=200 if ok else 502,
                         title=_("テスト送信しました") if ok else _("テスト送信できませんでした"),
                         lines=lines, back=f"/admin/parts/{part_id}")


@router.post("/parts/{part_id}/publish", dependencies=[Depends(verify_csrf)])
async def publish_page(part_id: int, request: Request, web: Web, principal: Composer) -> Response:
    """Make the part public now (archive page, feed, images)."""
    try:
        await run_in_threadpool(publish_part, engine=web.engine, actor=principal.as_actor(),
                                part_id=part_id)
    except ServiceError as exc:
        return admin_refusal(request, principal, exc, title=_("公開できませんでした"),
                             back=f"/admin/parts/{part_id}")
    return RedirectResponse(f"/admin/parts/{part_id}?notice=published", status_code=303)


@router.post("/parts/{part_id}/unpublish", dependencies=[Depends(verify_csrf)])
async def unpublish_page(part_id: int, request: Request, web: Web, principal: Composer,
                         confirm: Annotated[str, Form()] = "") -> Response:
    """Take the part back from the public, once the editor has ticked the
    confirmation box (checked here too: the browser's check can be skipped)."""
    if confirm != "yes":
        return admin_message(request, principal, status_code=422,
                             title=_("公開を取り消していません"),
                             lines=[_("「公開を取り消す」の確認欄にチェックを入れてから、"
                                      "もう一度お試しください。")],
                             back=f"/admin/parts/{part_id}")
    try:
        await run_in_threadpool(unpublish_part, engine=web.engine, actor=principal.as_actor(),
                                part_id=part_id)
    except ServiceError as exc:
        return admin_refusal(request, principal, exc, title=_("公開を取り消せませんでした"),
                             back=f"/admin/parts/{part_id}")
    return RedirectResponse(f"/admin/parts/{part_id}?notice=unpublished", status_code=303)
