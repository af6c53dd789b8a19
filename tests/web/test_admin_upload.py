"""Uploading an issue folder as a zip: stored like `mailer issue load`, every
problem shown as `file:line: message`, unsafe archives refused."""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import httpx
from admin_support import hidden
from sqlalchemy import select
from test_admin_helpers import Site, sample_zip, site, zip_folder
from web_support import BASE_URL

from mailer.models import Issue, Part
from mailer.samples import SAMPLE_ISSUE_DIR

__all__ = ["site"]


def _upload(client: httpx.Client, data: bytes, name: str = "vol04.zip") -> httpx.Response:
    token = hidden(client.get("/admin/issues").text)
    return client.post(
        "/admin/issues", data={"csrf_token": token}, files={"file": (name, data, "application/zip")}
    )


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
    broken = part1.replace(
        "![武蔵野市×都CIO座談会 前編のヘッダー画像](images/header-part1.png)",
        "![](images/missing.png)",
        1,
    )
    issue = (SAMPLE_ISSUE_DIR / "issue.yaml").read_text(encoding="utf-8")
    r = _upload(
        site.client("editor"),
        sample_zip(
            replace={
                "part1.md": broken,
                "issue.yaml": issue.replace("number:", "number: x\nbad:", 1),
            }
        ),
    )
    assert r.status_code == 422  # read, but not valid (an unreadable zip is a 400)
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


#: a 1×1 GIF
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def test_an_uploaded_issues_images_are_served(site: Site, tmp_path: Path) -> None:
    # vol05 is no sample folder: its images can only come from the database
    folder = tmp_path / "vol05"
    shutil.copytree(SAMPLE_ISSUE_DIR, folder)
    (folder / "images" / "photo01.png").unlink()
    (folder / "images" / "kenshu.gif").write_bytes(GIF)
    part1 = (folder / "part1.md").read_text(encoding="utf-8")
    (folder / "part1.md").write_text(
        part1.replace("(images/photo01.png)", "(images/kenshu.gif)"), encoding="utf-8"
    )
    editor = site.client("editor")
    r = _upload(editor, zip_folder(folder, prefix="vol05/"), name="vol05.zip")
    assert "号「vol05」を読み込みました：新規登録" in r.text

    public = site.client()
    # uploaded is not public: the publish gate (tests/web/test_publish_gate.py)
    assert public.get("/assets/vol05/images/kenshu.gif").status_code == 404
    with site.engine.connect() as conn:
        part1 = conn.execute(
            select(Part.id).join(Issue, Issue.id == Part.issue_id)  # type: ignore[call-overload, arg-type]
            .where(Issue.slug == "vol05", Part.label == "part1")).scalar_one()
    r = editor.post(f"/admin/parts/{part1}/publish",
                    data={"csrf_token": hidden(editor.get(f"/admin/parts/{part1}").text)})
    assert r.status_code == 303
    page = public.get("/archive/vol05/part1")
    assert f'src="{BASE_URL}/assets/vol05/images/kenshu.gif"' in page.text
    gif = public.get("/assets/vol05/images/kenshu.gif")
    assert gif.status_code == 200 and gif.content == GIF
    assert gif.headers["content-type"] == "image/gif"
    etag = f'"{hashlib.sha256(GIF).hexdigest()}"'
    assert gif.headers["etag"] == etag
    assert gif.headers["x-content-type-options"] == "nosniff"
    again = public.get("/assets/vol05/images/kenshu.gif", headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    header = public.get("/assets/vol05/images/header-part1.png")
    assert header.status_code == 200
    assert header.headers["content-type"] == "image/png"
    assert header.content == (folder / "images" / "header-part1.png").read_bytes()
    # not used by vol05 (and vol05 has no sample folder to fall back on)
    assert public.get("/assets/vol05/images/photo01.png").status_code == 404


def test_an_upload_with_a_mislabelled_image_is_refused(site: Site, tmp_path: Path) -> None:
    folder = tmp_path / "vol05"
    shutil.copytree(SAMPLE_ISSUE_DIR, folder)
    (folder / "images" / "slide02.png").write_bytes(GIF)
    line = next(
        i
        for i, text in enumerate(
            (folder / "part1.md").read_text(encoding="utf-8").splitlines(), start=1
        )
        if "(images/slide02.png)" in text
    )
    r = _upload(site.client("editor"), zip_folder(folder, prefix="vol05/"), name="vol05.zip")
    assert r.status_code == 422
    assert (
        f"part1.md:{line}: 画像 images/slide02.png は名前が .png ですが中身は GIF ファイルです："
        "名前を .gif に変えるか、PNG で保存してください"
    ) in r.text
    assert site.client().get("/assets/vol05/images/header-part1.png").status_code == 404
