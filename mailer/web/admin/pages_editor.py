"""Admin pages of the issue editor: write an issue in the browser, preview it
while typing, save revisions, compare and restore them, publish a draft.

The form is the whole draft. Every button (add, move, remove a block; save)
posts it: the page works without JavaScript and with the keyboard alone, and
the one script (`/admin/static/editor.js`) only fetches the previews. Every
rule is in `mailer.services.issue_drafts`; this module turns the form into a
`DraftIssue` and back.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from mailer.compose.draft import BLOCK_LABELS, DraftBlock, DraftIssue, DraftPart, DraftPerson
from mailer.compose.images import MAX_IMAGE_BYTES
from mailer.i18n import N_, _
from mailer.labels import tokyo
from mailer.services import issue_drafts as drafts
from mailer.services.docx_import import MAX_DOCX_BYTES
from mailer.services.errors import ErrorKind, ServiceError
from mailer.tokens import draft_preview_token, read_draft_preview_token
from mailer.web.admin.common import COMPOSE, READ_SENDS, admin_message, admin_page
from mailer.web.auth import Principal, require, verify_csrf
from mailer.web.routes import READ
from mailer.web.service_errors import status_of
from mailer.web.state import Web

router = APIRouter(prefix="/admin/issues", include_in_schema=False)

Reader = Annotated[Principal, Depends(require(*READ_SENDS))]
Composer = Annotated[Principal, Depends(require(*COMPOSE))]

#: the order blocks are offered in (the magazine's order, docs/authoring.md 3.2)
BLOCK_KINDS = ["lead", "note", "event_date", "participants", "heading", "prompt", "turn",
               "paragraph", "figure", "next_part", "credits"]
_MAX_FIELDS = 20_000
DRAFT_PREVIEW = "/admin/issues/draft-preview"
#: the note an autosaved revision is stored with (data; shown through the catalogue)
AUTOSAVE_NOTE = N_("自動保存")


def _f(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _count(form: FormData, name: str) -> int:
    value = _f(form, name)
    return min(int(value), 500) if value.isdigit() else 0


def draft_from_form(form: FormData) -> DraftIssue:
    """Return the draft the editor form holds (missing fields are empty)."""
    backs = []
    for line in _f(form, "back_numbers").splitlines():
        cells = [c.strip() for c in line.split("|")]
        if any(cells):
            backs.append({"number": cells[0], "title": cells[1] if len(cells) > 1 else "",
                          "url": cells[2] if len(cells) > 2 else ""})
    parts = []
    for i in range(_count(form, "part_count")):
        p = f"p{i}-"
        blocks = []
        for j in range(_count(form, f"{p}count")):
            b = f"{p}b{j}-"
            people = [DraftPerson(**{k: _f(form, f"{b}n{n}-{k}")
                                     for k in ("name", "short", "organisation", "titles")})
                      for n in range(_count(form, f"{b}people"))]
            level = 3 if _f(form, f"{b}level") == "3" else 2
            blocks.append(DraftBlock(
                kind=_f(form, f"{b}kind") if _f(form, f"{b}kind") in BLOCK_LABELS else "paragraph",
                text=_f(form, f"{b}text"), level=level,
                date_label=_f(form, f"{b}date_label") or "開催日",
                speaker=_f(form, f"{b}speaker"), people=people, src=_f(form, f"{b}src"),
                heading=_f(form, f"{b}heading").strip(),
                alt=_f(form, f"{b}alt"), caption=_f(form, f"{b}caption")))
        parts.append(DraftPart(label=_f(form, f"{p}label"), title=_f(form, f"{p}title"),
                               subject=_f(form, f"{p}subject"),
                               preheader=_f(form, f"{p}preheader"),
                               scheduled_at=_f(form, f"{p}scheduled_at").replace("T", " "),
                               blocks=blocks))
    fields = ("slug", "number", "title", "series", "publisher_name", "publisher_address",
              "contact_email", "contact_phone", "publisher_url")
    return DraftIssue(**{k: _f(form, k).strip() for k in fields},
                      back_numbers=backs, parts=parts)


def apply_op(draft: DraftIssue, op: str, form: FormData) -> tuple[str, str]:
    """Apply an editing button to the draft in place; return the id of the
    control to focus afterwards and a short status message."""
    name, _sep, rest = op.partition(":")
    args = [int(a) for a in rest.split(":") if a.isdigit()]
    if name == "add-part":
        n = len(draft.parts) + 1
        draft.parts.append(DraftPart(label=f"part{n}"))
        return f"p{n - 1}-label", _("第{n}部を追加しました。").format(n=n)
    if not args or args[0] >= len(draft.parts):
        return "", ""
    part = draft.parts[args[0]]
    i = args[0]
    if name == "remove-part":
        del draft.parts[i]
        return "add-part", _("第{n}部を削除しました。").format(n=i + 1)
    if name == "add":
        kind = _f(form, f"p{i}-newkind")
        kind = kind if kind in BLOCK_LABELS else "paragraph"
        block = DraftBlock(kind=kind)
        if kind == "participants":
            block.people = [DraftPerson()]
        part.blocks.append(block)
        j = len(part.blocks) - 1
        first = f"p{i}-b{j}-n0-name" if kind == "participants" else f"p{i}-b{j}-first"
        return first, _("{kind}を追加しました。").format(kind=_(BLOCK_LABELS[kind]))
    if len(args) < 2 or args[1] >= len(part.blocks):
        return "", ""
    j = args[1]
    label = _(BLOCK_LABELS.get(part.blocks[j].kind, ""))
    if name == "up" and j > 0:
        part.blocks[j - 1], part.blocks[j] = part.blocks[j], part.blocks[j - 1]
        # the same button again, unless it is now disabled (first block)
        return (f"p{i}-b{j - 1}-" + ("up" if j > 1 else "down"),
                _("{kind}を上へ移動しました。").format(kind=label))
    if name == "down" and j + 1 < len(part.blocks):
        part.blocks[j + 1], part.blocks[j] = part.blocks[j], part.blocks[j + 1]
        last = j + 2 == len(part.blocks)
        return (f"p{i}-b{j + 1}-" + ("up" if last else "down"),
                _("{kind}を下へ移動しました。").format(kind=label))
    if name == "remove":
        del part.blocks[j]
        return f"p{i}-newkind", _("{kind}を削除しました。").format(kind=label)
    if name == "add-person":
        part.blocks[j].people.append(DraftPerson())
        return f"p{i}-b{j}-n{len(part.blocks[j].people) - 1}-name", _("参加者の欄を追加しました。")
    if name == "remove-person" and len(args) > 2 and args[2] < len(part.blocks[j].people):
        del part.blocks[j].people[args[2]]
        return f"p{i}-b{j}-add-person", _("参加者を削除しました。")
    return "", ""


def speakers(part: DraftPart) -> list[tuple[str, str]]:
    """Return (略称, what the list shows) of the part's participants, in order."""
    out: dict[str, str] = {}
    for block in part.blocks:
        for person in block.people if block.kind == "participants" else []:
            name = person.name.strip()
            if name:
                short = person.short.strip() or name.split()[0]
                out.setdefault(short, _("{short}({name}・{organisation})").format(
                    short=short, name=name, organisation=person.organisation))
    return list(out.items())


def _editor(request: Request, principal: Principal, draft: DraftIssue, *, base: int,
            new: bool, notice: str = "", errors: list[str] | None = None, focus: str = "",
            status_code: int = 200, from_issue: bool = False,
            docx_errors: list[str] | None = None) -> HTMLResponse:
    backs = "\n".join(f"{b.number} | {b.title} | {b.url}" for b in draft.back_numbers)
    return admin_page(
        request, principal, "issue_editor", status_code=status_code,
        title=_("新しい号を書く") if new else _("号「{slug}」を編集").format(slug=draft.slug),
        draft=draft, base=base, new=new, notice=notice, errors=errors or [], focus=focus,
        block_kinds=[(k, _(BLOCK_LABELS[k])) for k in BLOCK_KINDS],
        block_labels={k: _(label) for k, label in BLOCK_LABELS.items()},
        speakers=speakers, back_text=backs, from_issue=from_issue,
        docx_errors=docx_errors or [])


async def _upload_images(web: Any, principal: Principal, form: FormData,
                         draft: DraftIssue) -> None:
    """Store each image chosen in the form and point its block at it."""
    for i, part in enumerate(draft.parts):
        for j, block in enumerate(part.blocks):
            upload = form.get(f"p{i}-b{j}-image")
            if not isinstance(upload, UploadFile) or not upload.filename:
                continue
            data = await upload.read(MAX_IMAGE_BYTES + 1)
            block.src = await run_in_threadpool(
                drafts.add_image, engine=web.engine, actor=principal.as_actor(),
                slug=draft.slug, filename=upload.filename, data=data)


async def _post(request: Request, web: Any, principal: Principal, *, new: bool) -> Response:
    form = await request.form(max_fields=_MAX_FIELDS, max_files=500)
    draft = draft_from_form(form)
    base = _count(form, "base")
    op = _f(form, "op")
    from_issue = not new and _f(form, "from_issue") == "1"
    try:
        # an image chosen before the slug is refused (check_slug), not dropped
        await _upload_images(web, principal, form, draft)
        if op not in ("save", "dismiss-unplaced"):  # closing the Word list saves
            focus, notice = apply_op(draft, op, form)
            return _editor(request, principal, draft, base=base, new=new, notice=notice,
                           focus=focus, from_issue=from_issue)
        saved = await run_in_threadpool(drafts.save_draft, engine=web.engine,
                                        actor=principal.as_actor(), draft=draft, base=base,
                                        from_issue=from_issue)
    except ServiceError as exc:
        return _editor(request, principal, draft, base=base, new=new,
                       errors=exc.message.splitlines(), status_code=status_of(exc),
                       from_issue=from_issue)
    return RedirectResponse(f"/admin/issues/{saved.slug}/edit?saved={saved.number}",
                            status_code=303)


@router.api_route("/new", methods=READ)
def new_issue(request: Request, principal: Composer) -> HTMLResponse:
    """An empty editor: the issue's fields and a first part."""
    return _editor(request, principal, DraftIssue(parts=[DraftPart(label="part1")]), base=0,
                   new=True)


@router.post("/new", dependencies=[Depends(verify_csrf)])
async def new_issue_post(request: Request, web: Web, principal: Composer) -> Response:
    """Edit the new draft (a button) or save its first revision."""
    return await _post(request, web, principal, new=True)


@router.post("/import-docx", dependencies=[Depends(verify_csrf)])
async def import_docx(request: Request, web: Web, principal: Composer) -> Response:
    """A Word manuscript (.docx) becomes a new draft; the editor opens on it."""
    form = await request.form(max_fields=10, max_files=1)
    upload = form.get("docx")
    slug, like = _f(form, "docx_slug").strip(), _f(form, "docx_like").strip()
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ServiceError(_("Word(.docx)のファイルを選んでください"), field="docx")
        data = await upload.read(MAX_DOCX_BYTES + 1)
        saved = await run_in_threadpool(drafts.import_docx, engine=web.engine,
                                        actor=principal.as_actor(), data=data, slug=slug,
                                        like=like)
    except ServiceError as exc:
        name = upload.filename if isinstance(upload, UploadFile) and upload.filename else ""
        lines = [f"{name}: {line}" if name else line for line in exc.message.splitlines()]
        return _editor(request, principal, DraftIssue(parts=[DraftPart(label="part1")]),
                       base=0, new=True, docx_errors=lines, status_code=status_of(exc))
    return RedirectResponse(f"/admin/issues/{saved.slug}/edit?imported=1", status_code=303)


@router.api_route("/{slug}/edit", methods=READ)
def edit_issue(slug: str, request: Request, web: Web, principal: Composer,
               saved: int | None = None, imported: int = 0) -> HTMLResponse:
    """The editor on the newest revision of the draft `slug`; for an issue
    loaded from a folder that has no draft, on the stored issue (the first
    save makes it a draft)."""
    latest = drafts.latest_revision(engine=web.engine, slug=slug)
    if latest is None:
        try:
            stored = drafts.stored_issue_draft(engine=web.engine, slug=slug)
        except ServiceError as exc:
            lines = ([_("号「{slug}」の下書きはありません。").format(slug=slug)]
                     if exc.kind == ErrorKind.NOT_FOUND else exc.message.splitlines())
            title = (_("下書きがありません") if exc.kind == ErrorKind.NOT_FOUND
                     else _("ブラウザで開けません"))
            return admin_message(request, principal, status_code=status_of(exc),
                                 title=title, lines=lines, back="/admin/issues")
        return _editor(request, principal, stored, base=0, new=False, from_issue=True,
                       notice=_("登録済みの号を開きました。保存すると下書きになり、"
                                "「号として登録」でこの号を置き換えます。"))
    notice = _("第{n}版として保存しました。").format(n=saved) if saved else ""
    if imported:
        notice = _("Word の原稿から下書きを作りました（第{number}版）。").format(
            number=latest.number)
    return _editor(request, principal, latest.draft, base=latest.number, new=False,
                   notice=notice)


@router.post("/{slug}/edit", dependencies=[Depends(verify_csrf)])
async def edit_issue_post(slug: str, request: Request, web: Web,
                          principal: Composer) -> Response:
    """Edit the draft (a button) or save it as a new revision."""
    return await _post(request, web, principal, new=False)


@router.post("/{slug}/autosave", dependencies=[Depends(verify_csrf)])
async def autosave(slug: str, request: Request, web: Web, principal: Composer) -> JSONResponse:
    """Save the form's draft as a revision (editor.js, while the editor types);
    JSON: the revision number, or the refusal in Japanese."""
    form = await request.form(max_fields=_MAX_FIELDS, max_files=500)
    draft = draft_from_form(form)
    try:
        if draft.slug != slug:
            raise ServiceError(_("号の識別名が違います。再読み込みしてください。"))
        saved = await run_in_threadpool(drafts.save_draft, engine=web.engine,
                                        actor=principal.as_actor(), draft=draft,
                                        base=_count(form, "base"), note=AUTOSAVE_NOTE,
                                        from_issue=_f(form, "from_issue") == "1")
    except ServiceError as exc:
        return JSONResponse({"detail": exc.message}, status_code=status_of(exc),
                            headers={"Cache-Control": "no-store"})
    return JSONResponse({"revision": saved.number, "at": tokyo(saved.created_at)[-5:]},
                        headers={"Cache-Control": "no-store"})


@router.post("/editor/preview", dependencies=[Depends(verify_csrf)])
async def preview(request: Request, web: Web, principal: Composer) -> JSONResponse:
    """The previews of one part of the form's draft (JSON for editor.js)."""
    form = await request.form(max_fields=_MAX_FIELDS, max_files=500)
    draft = draft_from_form(form)
    # the preview frame sends no session: the draft's images open with a token
    token = draft_preview_token(web.settings.secret_keys, slug=draft.slug or "draft")
    config = replace(web.render_config,
                     base_url=f"{web.render_config.base_url}{DRAFT_PREVIEW}/{token}")
    shown = await run_in_threadpool(drafts.preview_draft, engine=web.engine, draft=draft,
                                    part_index=_count(form, "preview_part"), config=config)
    findings = [{"severity": _("エラー") if f.severity == "error" else _("警告"),
                 "message": f.message, "where": f.where} for f in shown.findings]
    return JSONResponse({"problems": shown.problems, "html": shown.html, "text": shown.text,
                         "sanitized": shown.sanitized, "findings": findings},
                        headers={"Cache-Control": "no-store"})


@router.api_route("/draft-preview/{token}/assets/{slug}/{path:path}", methods=READ)
def draft_image(token: str, slug: str, path: str, web: Web) -> Response:
    """An image uploaded for a draft, for the holder of its preview token."""
    found = (drafts.draft_image(engine=web.engine, slug=slug, path=path)
             if read_draft_preview_token(web.settings.secret_keys, token) == slug else None)
    if found is None:
        return Response(_("見つかりません"), status_code=404,
                        media_type="text/plain; charset=utf-8")
    return Response(found[1], media_type=found[0],
                    headers={"Cache-Control": "private, no-store",
                             "X-Content-Type-Options": "nosniff"})


@router.api_route("/{slug}/history", methods=READ)
def history(slug: str, request: Request, web: Web, principal: Reader, old: int = 0,
            new: int = 0, part: int = 0, notice: str = "") -> HTMLResponse:
    """The revisions of a draft (who, when), a diff of one part, restore."""
    revs = drafts.revisions(engine=web.engine, slug=slug)
    if not revs:
        return admin_message(request, principal, status_code=404, title=_("下書きがありません"),
                             lines=[_("号「{slug}」の下書きはありません。").format(slug=slug)],
                             back="/admin/issues")
    diff = None
    if old and new:
        try:
            diff = drafts.diff_part(engine=web.engine, slug=slug, old=old, new=new,
                                    part_index=part)
        except ServiceError as exc:
            return admin_message(request, principal, status_code=status_of(exc),
                                 title=_("比べられません"), lines=[exc.message],
                                 back=f"/admin/issues/{slug}/history")
    parts = max(len(r.draft.parts) for r in revs)
    notices = {"restored": _("復元しました（新しい版として保存しました）。")}
    return admin_page(request, principal, "issue_history",
                      title=_("号「{slug}」の履歴").format(slug=slug),
                      slug=slug, revisions=revs, diff=diff, old=old or (revs[-1].number),
                      new=new or revs[0].number, part=part, part_count=parts,
                      notice=notices.get(notice, ""),
                      note_labels={AUTOSAVE_NOTE: _(AUTOSAVE_NOTE)})


@router.post("/{slug}/revisions/{number}/restore", dependencies=[Depends(verify_csrf)])
def restore(slug: str, number: int, request: Request, web: Web,
            principal: Composer) -> Response:
    """Save revision `number`'s content as the newest revision."""
    try:
        drafts.restore_revision(engine=web.engine, actor=principal.as_actor(), slug=slug,
                                number=number)
    except ServiceError as exc:
        return admin_message(request, principal, status_code=status_of(exc),
                             title=_("復元できませんでした"), lines=[exc.message],
                             back=f"/admin/issues/{slug}/history")
    return RedirectResponse(f"/admin/issues/{slug}/history?notice=restored", status_code=303)


@router.post("/{slug}/publish", dependencies=[Depends(verify_csrf)])
async def publish(slug: str, request: Request, web: Web, principal: Composer) -> Response:
    """Store the newest revision as the issue (as `mailer issue load` does)."""
    form = await request.form()
    number = _count(form, "revision")
    try:
        result = await run_in_threadpool(drafts.publish_draft, engine=web.engine,
                                         actor=principal.as_actor(), slug=slug, number=number)
    except ServiceError as exc:
        return admin_message(request, principal, status_code=status_of(exc),
                             title=_("号として登録できませんでした"),
                             lines=exc.message.splitlines(),
                             back=f"/admin/issues/{slug}/edit")
    labels = {"created": _("新規登録"), "updated": _("更新"), "unchanged": _("変更なし")}
    parts = _("、").join(_("{part}（{status}）").format(part=label, status=labels[s.value])
                      for label, s in result.parts.items())
    return admin_message(request, principal, title=_("号として登録しました"),
                         lines=[_("号「{slug}」第{n}版を登録しました：{status}。").format(
                             slug=slug, n=number, status=labels[result.status.value]),
                                parts], back="/admin/issues")
