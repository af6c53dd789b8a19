"""A Word manuscript becomes a browser draft, and an issue loaded from a
folder opens in the editor, over HTTP: the draft's part text, the list of
what Word could not place, a bad file refused on the same page, and a
stored issue published back unchanged."""

from __future__ import annotations

import io
import json

import docx
from admin_support import hidden
from sqlalchemy import select
from test_admin_helpers import Site, site  # noqa: F401  (fixture)

from mailer.compose.draft import part_markdown
from mailer.models import DraftAsset, Issue, Part
from mailer.services.issue_drafts import latest_revision, revisions

PART1 = """\
---
label: part1
title: 府中市×都CIO座談会
subject: 【(誌名)】第0回 府中市×都CIO座談会
---

::: リード
第5回は府中市を訪ねました。
:::

::: 参加者(敬称略)
- 髙橋 健一(髙橋)
  - 所属:府中市
  - 役職:総務部長
:::

## 推進体制

―体制について教えてください。

【髙橋】
令和4年度に推進本部を立ち上げました。

::: クレジット
- 執筆者:小林 真理(戦略課)
:::
"""


def manuscript() -> bytes:
    d = docx.Document()
    d.add_paragraph("府中市×都CIO座談会", style="Title")  # 1
    d.add_paragraph("第5回は府中市を訪ねました。")  # 2
    d.add_paragraph("参加者(敬称略)")  # 3
    for line in ("髙橋 健一(髙橋)", "所属:府中市", "役職:総務部長"):  # 4-6
        d.add_paragraph(line)
    d.add_heading("推進体制", level=1)  # 7
    d.add_paragraph("―体制について教えてください。")  # 8
    d.add_paragraph("髙橋:令和4年度に推進本部を立ち上げました。")  # 9
    table = d.add_table(rows=1, cols=2)  # 10
    table.cell(0, 0).text = "年度"
    table.cell(0, 1).text = "件数"
    d.add_paragraph("執筆者:小林 真理(戦略課)")  # 11
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_word_manuscript_becomes_a_draft_with_its_unplaced_list(site: Site) -> None:  # noqa: F811
    editor = site.client("editor")
    token = hidden(editor.get("/admin/issues/new").text)
    assert site.client("viewer").post(
        "/admin/issues/import-docx", data={"csrf_token": token, "docx_slug": "vol05"},
        files={"docx": ("fuchu.docx", manuscript(), DOCX)}).status_code == 403
    assert editor.post("/admin/issues/import-docx", data={"docx_slug": "vol05"},
                       files={"docx": ("fuchu.docx", manuscript(), DOCX)}
                       ).status_code == 403  # no CSRF token

    made = editor.post("/admin/issues/import-docx",
                       data={"csrf_token": token, "docx_slug": "vol05"},
                       files={"docx": ("fuchu.docx", manuscript(), DOCX)})
    assert made.status_code == 303
    assert made.headers["location"] == "/admin/issues/vol05/edit?imported=1"
    revision = latest_revision(engine=site.engine, slug="vol05")
    assert revision is not None and revision.number == 1 and revision.note == "Word から取り込み"
    assert part_markdown(revision.draft.parts[0])[0] == PART1

    page = editor.get(made.headers["location"])
    assert page.status_code == 200 and "Word の原稿から下書きを作りました（第1版）。" in page.text
    assert "Word の原稿で取り込めなかったもの" in page.text
    assert "段落 10: 表(1行×2列)は雑誌の形にないため取り込んでいません:「年度 件数」" in page.text
    assert ("段落 0: issue.yaml の回数・誌名・発行者は仮の値です"
            "(「写し元の号の識別名」に既存の号を書くと写せます)") in page.text

    # closing the list saves the draft without it
    closed = editor.post("/admin/issues/vol05/edit", data={
        "csrf_token": token, "base": "1", "op": "dismiss-unplaced", "slug": "vol05",
        "part_count": "0"})
    assert closed.status_code == 303
    assert "取り込めなかったもの" not in editor.get(closed.headers["location"]).text
    assert [r.draft.unplaced == [] for r in revisions(engine=site.engine, slug="vol05")] == [
        True, False]

    # the same slug again is refused on the same page, in Japanese
    again = editor.post("/admin/issues/import-docx",
                        data={"csrf_token": token, "docx_slug": "vol05"},
                        files={"docx": ("fuchu.docx", manuscript(), DOCX)})
    assert again.status_code == 409 and "号「vol05」の下書きはすでにあります" in again.text


def test_word_manuscript_with_pictures_and_a_stored_issue_to_copy(site: Site) -> None:  # noqa: F811
    from test_docx_import import manuscript as full_manuscript  # the CLI test's manuscript

    editor = site.client("editor")
    token = hidden(editor.get("/admin/issues/new").text)
    made = editor.post("/admin/issues/import-docx",
                       data={"csrf_token": token, "docx_slug": "vol05", "docx_like": "vol04"},
                       files={"docx": ("musashino.docx", full_manuscript(), DOCX)})
    assert made.status_code == 303
    draft = latest_revision(engine=site.engine, slug="vol05")
    assert draft is not None and draft.draft.number == "5"
    assert draft.draft.series == "都区市町村CIOフォーラム通信"
    figures = [b.src for b in draft.draft.parts[0].blocks if b.kind == "figure"]
    with site.engine.connect() as conn:
        stored = conn.execute(select(DraftAsset.path).where(  # type: ignore[call-overload]
            DraftAsset.slug == "vol05")).scalars().all()
    assert figures and set(figures) <= set(stored)


def _noise_png(width: int, height: int) -> bytes:
    """A PNG of random pixels (it does not compress: about width*height*3 bytes)."""
    import os
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b""))


def test_a_manuscript_over_the_default_body_limit_is_taken(site: Site) -> None:  # noqa: F811
    d = docx.Document()
    d.add_paragraph("府中市×都CIO座談会", style="Title")
    shape = d.add_paragraph().add_run().add_picture(io.BytesIO(_noise_png(800, 700)))
    shape._inline.docPr.set("descr", "府中市役所の外観。")
    out = io.BytesIO()
    d.save(out)
    assert len(out.getvalue()) > 1024 * 1024 + 100_000  # over the 1 MB of an ordinary form
    editor = site.client("editor")
    token = hidden(editor.get("/admin/issues/new").text)
    made = editor.post("/admin/issues/import-docx",
                       data={"csrf_token": token, "docx_slug": "vol05"},
                       files={"docx": ("big.docx", out.getvalue(), DOCX)})
    assert made.status_code == 303, made.text[:500]
    anonymous = site.client().post("/admin/issues/import-docx", data={"docx_slug": "vol06"},
                                   files={"docx": ("big.docx", out.getvalue(), DOCX)})
    assert anonymous.status_code in (401, 403)
    assert latest_revision(engine=site.engine, slug="vol06") is None


def test_a_bad_word_file_is_refused_on_the_same_page(site: Site) -> None:  # noqa: F811
    editor = site.client("editor")
    token = hidden(editor.get("/admin/issues/new").text)
    bad = editor.post("/admin/issues/import-docx",
                      data={"csrf_token": token, "docx_slug": "vol05"},
                      files={"docx": ("memo.docx", b"not a zip", DOCX)})
    assert bad.status_code == 400  # UNREADABLE
    assert 'id="docx-errors"' in bad.text
    assert "memo.docx: Word(.docx)のファイルとして読めません" in bad.text
    assert "新しい号を書く" in bad.text
    missing = editor.post("/admin/issues/import-docx",
                          data={"csrf_token": token, "docx_slug": "vol05"})
    assert "Word(.docx)のファイルを選んでください" in missing.text
    badslug = editor.post("/admin/issues/import-docx",
                          data={"csrf_token": token, "docx_slug": "第5回"},
                          files={"docx": ("fuchu.docx", manuscript(), DOCX)})
    assert "号の識別名は英数字と" in badslug.text
    assert latest_revision(engine=site.engine, slug="vol05") is None


def _documents(on: Site) -> tuple[str, list[str]]:
    with on.engine.connect() as conn:
        issue_id, document = conn.execute(select(Issue.id, Issue.document).where(  # type: ignore[call-overload]
            Issue.slug == "vol04")).one()
        parts = conn.execute(select(Part.document).where(  # type: ignore[call-overload]
            Part.issue_id == issue_id).order_by(Part.position)).scalars().all()
    return document, list(parts)


def test_a_stored_issue_opens_in_the_editor_and_publishes_back_unchanged(site: Site) -> None:  # noqa: F811
    before = _documents(site)
    editor = site.client("editor")
    listing = editor.get("/admin/issues").text
    assert '<a href="/admin/issues/vol04/edit">vol04 をブラウザで編集</a>' in listing
    assert "vol04 をブラウザで編集" not in site.client("viewer").get("/admin/issues").text
    page = editor.get("/admin/issues/vol04/edit")
    assert page.status_code == 200 and "登録済みの号を開きました" in page.text
    assert 'name="from_issue" value="1"' in page.text
    assert "号として登録</h2>" not in page.text  # nothing saved yet
    assert revisions(engine=site.engine, slug="vol04") == []

    # the form as the page shows it, saved unchanged
    form = _form_of(page.text)
    saved = editor.post("/admin/issues/vol04/edit", data={**form, "op": "save"})
    assert saved.status_code == 303, saved.text
    published = editor.post("/admin/issues/vol04/publish",
                            data={"csrf_token": form["csrf_token"], "revision": "1"})
    assert published.status_code == 200, published.text
    assert "登録しました：変更なし" in published.text
    after = _documents(site)
    assert json.loads(after[0]) == json.loads(before[0])
    assert [json.loads(p) for p in after[1]] == [json.loads(p) for p in before[1]]

    # a new draft typed from scratch still may not take a stored issue's slug
    token = hidden(editor.get("/admin/issues/new").text)
    taken = editor.post("/admin/issues/new", data={
        "csrf_token": token, "base": "0", "op": "save", "slug": "vol03", "part_count": "0"})
    assert taken.status_code == 303  # vol03 is not stored
    seeded_slug = editor.post("/admin/issues/new", data={
        "csrf_token": token, "base": "0", "op": "save", "slug": "vol04", "part_count": "0"})
    assert seeded_slug.status_code == 409


def _form_of(html: str) -> dict[str, str]:
    """Every named input, textarea and selected option of the editor form."""
    import re
    from html import unescape

    form = html.split('id="editor-form"', 1)[1].split("</form>", 1)[0]
    out: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="file"' not in tag:
            out[unescape(name[1])] = unescape(value[1]) if value else ""
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        out[unescape(name)] = unescape(text)
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option[^>]*value="([^"]*)"[^>]*selected', body)
        first = re.search(r'<option[^>]*value="([^"]*)"', body)
        out[unescape(name)] = unescape((chosen or first)[1]) if (chosen or first) else ""
    return out
