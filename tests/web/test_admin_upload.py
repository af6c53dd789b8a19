"""Uploading an issue folder as a zip: stored like `mailer issue load`, every
problem shown as `file:line: message`, unsafe archives refused."""

from __future__ import annotations

import io
import zipfile

import httpx
from admin_support import hidden
from test_admin_helpers import Site, sample_zip, site

from mailer.samples import SAMPLE_ISSUE_DIR

__all__ = ["site"]


def _upload(client: httpx.Client, data: bytes, name: str = "vol04.zip") -> httpx.Response:
    token = hidden(client.get("/admin/issues").text)
    return client.post("/admin/issues", data={"csrf_token": token},
                       files={"file": (name, data, "application/zip")})


def test_upload_creates_then_reports_unchanged(site: Site) -> None:
    editor = site.client("editor")
    r = _upload(editor, sample_zip(prefix="vol05/"))
    assert r.status_code == 200, r.text[:500]
    assert "号「vol05」を読み込みました：新規登録" in r.text
    assert "第4号「" in r.text
    again = _upload(editor, sample_zip(prefix="vol05/"))
    assert "変更なし" in again.text
    # files at the zip's root: the zip's name is the folder's
    r = _upload(editor, sample_zip(), name="vol04.zip")
    assert "号「vol04」を読み込みました：変更なし" in r.text


def test_every_problem_is_listed_with_file_and_line(site: Site) -> None:
    part1 = (SAMPLE_ISSUE_DIR / "part1.md").read_text(encoding="utf-8")
    broken = part1.replace("![武蔵野市×都CIO座談会 前編のヘッダー画像](images/header-part1.png)",
                           "![](images/missing.png)", 1)
    issue = (SAMPLE_ISSUE_DIR / "issue.yaml").read_text(encoding="utf-8")
    r = _upload(site.client("editor"), sample_zip(replace={
        "part1.md": broken, "issue.yaml": issue.replace("number:", "number: x\nbad:", 1)}))
    assert r.status_code == 400
    assert "号のフォルダを読み込めませんでした" in r.text
    problems = [p for p in r.text.split("<li><code>")[1:]]
    assert len(problems) >= 2, r.text[-2000:]
    assert any(p.startswith("part1.md:") for p in problems)
    assert any(p.startswith("issue.yaml:") for p in problems)


def test_unsafe_or_broken_archives_are_refused(site: Site) -> None:
    editor = site.client("editor")
    assert "zip ファイルとして読めません" in _upload(editor, b"not a zip").text
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../evil/issue.yaml", "x")
    r = _upload(editor, buf.getvalue())
    assert r.status_code == 400 and "フォルダの外を指すパス" in r.text
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "x")
    assert "issue.yaml が見つかりません" in _upload(editor, buf.getvalue()).text
    assert "ファイル名を号の識別名" in _upload(editor, sample_zip(), name="第4号.zip").text
