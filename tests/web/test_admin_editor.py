"""The issue editor's pages over HTTP (no browser): who may open them, a
save that someone else's save overtook is refused with the Japanese message
(409) and writes nothing, and the form's buttons edit without saving."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from admin_support import hidden
from sqlalchemy import select
from test_admin_helpers import Site, site  # noqa: F401  (fixture)

from mailer.models import Issue
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.services.issue_drafts import revisions

SLIDE = SAMPLE_ISSUE_DIR / "images" / "slide01.png"

FORM = {"slug": "vol09", "number": "9", "title": "題", "part_count": "1", "p0-label": "part1",
        "p0-title": "前編", "p0-subject": "件名", "p0-count": "1", "p0-b0-kind": "turn",
        "p0-b0-speaker": "", "p0-b0-text": "発言"}


def test_viewer_may_read_history_but_not_edit(site: Site) -> None:  # noqa: F811
    viewer = site.client("viewer")
    assert viewer.get("/admin/issues/new").status_code == 403
    editor = site.client("editor")
    page = editor.get("/admin/issues/new")
    assert page.status_code == 200 and "新しい号を書く" in page.text
    token = hidden(page.text)
    saved = editor.post("/admin/issues/new", data={**FORM, "csrf_token": token, "base": "0",
                                                   "op": "save"})
    assert saved.status_code == 303 and saved.headers["location"].endswith("/edit?saved=1")
    assert viewer.get("/admin/issues/vol09/history").status_code == 200
    assert viewer.post("/admin/issues/vol09/edit", data={**FORM, "csrf_token": token}
                       ).status_code == 403


def test_overtaken_save_is_refused_and_buttons_do_not_save(site: Site) -> None:  # noqa: F811
    editor, admin = site.client("editor"), site.client("admin")
    token = hidden(editor.get("/admin/issues/new").text)
    editor.post("/admin/issues/new", data={**FORM, "csrf_token": token, "base": "0",
                                           "op": "save"})
    other = hidden(admin.get("/admin/issues/vol09/edit").text)
    assert admin.post("/admin/issues/vol09/edit", data={
        **FORM, "p0-title": "管理者の題", "csrf_token": other, "base": "1", "op": "save",
    }).status_code == 303

    mine = editor.post("/admin/issues/vol09/edit", data={
        **FORM, "p0-title": "編集者の題", "csrf_token": token, "base": "1", "op": "save"})
    assert mine.status_code == 409
    assert "adminさんが" in mine.text and "第1部(part1)" in mine.text
    assert "再読み込みして" in mine.text
    assert 'value="編集者の題"' in mine.text  # what was typed is still on the page
    assert [r.number for r in revisions(engine=site.engine, slug="vol09")] == [2, 1]

    moved = editor.post("/admin/issues/vol09/edit", data={
        **FORM, "csrf_token": token, "base": "2", "op": "add:0", "p0-newkind": "heading"})
    assert moved.status_code == 200 and "見出しを追加しました。" in moved.text
    assert 'id="p0-b1-first" autofocus' in moved.text
    assert len(revisions(engine=site.engine, slug="vol09")) == 2
    assert editor.post("/admin/issues/vol09/edit", data={**FORM, "op": "save"}
                       ).status_code == 403  # no CSRF token


def test_autosave_saves_only_a_change_and_answers_a_clash_in_json(site: Site) -> None:  # noqa: F811
    editor, admin = site.client("editor"), site.client("admin")
    token = hidden(editor.get("/admin/issues/new").text)
    editor.post("/admin/issues/new", data={**FORM, "csrf_token": token, "base": "0",
                                           "op": "save"})
    same = editor.post("/admin/issues/vol09/autosave", data={**FORM, "csrf_token": token,
                                                             "base": "1"})
    assert same.status_code == 200 and same.json()["revision"] == 1  # nothing new
    changed = editor.post("/admin/issues/vol09/autosave", data={
        **FORM, "p0-title": "直した題", "csrf_token": token, "base": "1"})
    assert changed.json()["revision"] == 2
    other = hidden(admin.get("/admin/issues/vol09/edit").text)
    clash = admin.post("/admin/issues/vol09/autosave", data={
        **FORM, "p0-title": "別の題", "csrf_token": other, "base": "1"})
    assert clash.status_code == 409 and clash.json()["detail"].startswith("editorさんが")
    assert [r.note for r in revisions(engine=site.engine, slug="vol09")] == ["自動保存", ""]


def test_preview_shows_draft_images_through_a_token_only(site: Site) -> None:  # noqa: F811
    editor = site.client("editor")
    token = hidden(editor.get("/admin/issues/new").text)
    form = {**FORM, "p0-count": "2", "p0-b0-kind": "participants", "p0-b0-people": "1",
            "p0-b0-n0-name": "髙橋 健一", "p0-b0-n0-organisation": "府中市",
            "p0-b0-n0-titles": "部長", "p0-b1-kind": "figure", "p0-b1-alt": "体制図",
            "series": "通信", "publisher_name": "戦略部", "publisher_address": "新宿区",
            "contact_email": "cio@metro.example.jp", "csrf_token": token, "base": "0"}
    png = SLIDE.read_bytes()
    saved = editor.post("/admin/issues/new", data={**form, "op": "save"},
                        files={"p0-b1-image": ("slide01.png", png, "image/png")})
    assert saved.status_code == 303
    shown = editor.post("/admin/issues/editor/preview",
                        data={**form, "p0-b1-src": "images/slide01.png", "preview_part": "0"},
                        files={"unused": ("", b"", "application/octet-stream")}).json()
    assert shown["problems"] == []
    src = re.search(r'<img[^>]+src="([^"]+/images/slide01\.png)"', shown["html"])
    assert src is not None and "/admin/issues/draft-preview/" in src[1]
    path = urlsplit(src[1]).path
    anonymous = site.client()
    image = anonymous.get(path)
    assert image.status_code == 200 and image.content == png
    assert image.headers["content-type"] == "image/png"
    forged = path.replace("/assets/vol09/", "/assets/vol04/")
    assert anonymous.get(forged).status_code == 404
    assert anonymous.get(re.sub(r"draft-preview/[^/]+", "draft-preview/x.y.z", path)
                         ).status_code == 404


def test_restore_and_a_refused_publish_over_http(site: Site) -> None:  # noqa: F811
    editor = site.client("editor")
    token = hidden(editor.get("/admin/issues/new").text)
    editor.post("/admin/issues/new", data={**FORM, "csrf_token": token, "base": "0",
                                           "op": "save"})
    editor.post("/admin/issues/vol09/edit", data={**FORM, "p0-title": "二版", "csrf_token": token,
                                                 "base": "1", "op": "save"})
    restored = editor.post("/admin/issues/vol09/revisions/1/restore",
                           data={"csrf_token": token})
    assert restored.status_code == 303
    history = editor.get(restored.headers["location"])
    assert "復元しました" in history.text and "第1版を復元" in history.text
    assert [r.draft.parts[0].title for r in revisions(engine=site.engine, slug="vol09")] == [
        "前編", "二版", "前編"]

    # the draft has no speaker picked: nothing is stored, every problem is named
    refused = editor.post("/admin/issues/vol09/publish", data={"csrf_token": token,
                                                               "revision": "3"})
    assert refused.status_code == 422
    assert "第1部(part1) 1番目のブロック(発言): 話す人を参加者から選んでください。" in refused.text
    assert "号の情報: series" in refused.text
    with site.engine.connect() as conn:
        assert conn.execute(select(Issue.id).where(Issue.slug == "vol09")).first() is None  # type: ignore[call-overload, arg-type]
