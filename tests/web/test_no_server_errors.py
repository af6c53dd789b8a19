"""Bad input that used to answer 500 gets a 4xx with a Japanese message
(security #15.6): ids beyond any id in admin paths, `?after=` and API bodies,
a zip whose names clash (file and folder), and Markdown nested 50,000 deep."""

from __future__ import annotations

import io
import zipfile

import pytest
from admin_support import hidden
from test_admin_helpers import Site, sample_zip, site

from mailer.samples import SAMPLE_ISSUE_DIR

__all__ = ["site"]

HUGE = "9" * 30  # 10**30 - 1: beyond any 32- or 64-bit id


@pytest.mark.parametrize("path", [f"/admin/parts/{HUGE}", f"/admin/sends/{HUGE}",
                                  f"/admin/subscribers/{HUGE}",
                                  f"/admin/subscribers/{HUGE}/edit", "/admin/parts/2147483648"])
def test_an_id_beyond_any_id_in_an_admin_path_is_404(site: Site, path: str) -> None:
    response = site.client("admin").get(path)
    assert response.status_code == 404
    assert "ページが見つかりません" in response.text


def test_an_after_beyond_any_id_is_400(site: Site) -> None:
    admin = site.client("admin")
    for path in (f"/admin/subscribers?after={HUGE}", f"/admin/suppressions?after={HUGE}"):
        response = admin.get(path)
        assert response.status_code == 400, path
        assert "リクエスト" in response.text or "大きすぎます" in response.text
    # a search text of digits is not an id
    assert admin.get(f"/admin/subscribers?q={HUGE}").status_code == 200


def test_api_ids_beyond_any_id_are_4xx(site: Site) -> None:
    api = site.api("admin")
    assert api.get(f"/api/v1/parts/{HUGE}").json()["field"] == "part_id"  # a 422, see below
    assert api.get(f"/api/v1/subscribers?after={HUGE}").status_code == 422
    response = api.post("/api/v1/sends", json={"part_id": 10**30, "lists": ["main"]})
    assert response.status_code == 422
    assert response.json()["detail"] == "part_id: 2147483647 以下にしてください"
    response = api.get(f"/api/v1/subscribers?after={HUGE}")
    assert response.json()["detail"] == "after: 2147483647 以下にしてください"


def _upload(site: Site, data: bytes, *, status: int = 400) -> str:
    """Upload; an archive that cannot be unpacked is a 400, a folder with problems a 422."""
    editor = site.client("editor")
    token = hidden(editor.get("/admin/issues").text)
    response = editor.post("/admin/issues", data={"csrf_token": token},
                           files={"file": ("vol09.zip", data, "application/zip")})
    assert response.status_code == status, response.text[:300]
    return response.text


def test_a_zip_with_a_file_and_a_folder_of_one_name_is_refused(site: Site) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("vol09/images", b"a file")
        zf.writestr("vol09/images/header.png", b"a file under a folder of the same name")
    assert "同じ名前のファイルとフォルダがあります" in _upload(site, buf.getvalue())


def test_markdown_nested_fifty_thousand_deep_is_refused(site: Site) -> None:
    part1 = (SAMPLE_ISSUE_DIR / "part1.md").read_text(encoding="utf-8")
    nested = part1 + "\n" + "*" * 50_000 + "深い" + "*" * 50_000 + "\n"
    text = _upload(site, sample_zip(prefix="vol09/", replace={"part1.md": nested}), status=422)
    assert "入れ子" in text
    assert "part1.md" in text
