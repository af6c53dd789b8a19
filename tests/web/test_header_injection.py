"""Header injection (security issue #15, item 5): a subject with CR/LF is refused
where the front matter is read (422 with file:line), and a part stored before
that check existed answers with a Japanese refusal, never a 500, on every door
that renders it (admin page, preview, schedule, API)."""

from __future__ import annotations

import json

import pytest
from admin_support import hidden
from sqlalchemy import Engine, select, update
from test_admin_helpers import Site, part_ids, post_form, sample_zip, site

from mailer.models import Part
from mailer.samples import SAMPLE_ISSUE_DIR

__all__ = ["site"]

INJECTED = "件名\r\nBcc: victim@example.com"


def _part1_with_subject(subject_yaml: str) -> str:
    text = (SAMPLE_ISSUE_DIR / "part1.md").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith("subject:"))
    lines[index] = f"subject: {subject_yaml}\n"
    return "".join(lines)


def _subject_line() -> int:
    text = (SAMPLE_ISSUE_DIR / "part1.md").read_text(encoding="utf-8")
    return next(i for i, line in enumerate(text.splitlines(), start=1)
                if line.startswith("subject:"))


def test_api_upload_with_a_line_break_in_the_subject_is_422(site: Site) -> None:
    broken = _part1_with_subject('"件名\\r\\nBcc: victim@example.com"')
    data = sample_zip(prefix="vol05/", replace={"part1.md": broken})
    r = site.api("editor").post("/api/v1/issues",
                                files={"file": ("vol05.zip", data, "application/zip")})
    assert r.status_code == 422, r.text
    problems = r.json()["problems"]
    assert problems == [f"part1.md:{_subject_line()}: フロントマター: subject: 制御文字 CR "
                        "(U+000D) は使えません（改行やタブを含まない 1 行で書いてください）"]


def test_admin_upload_with_a_tab_in_the_title_is_422(site: Site) -> None:
    text = (SAMPLE_ISSUE_DIR / "part1.md").read_text(encoding="utf-8")
    broken = text.replace("title: 武蔵野市", 'title: "武蔵野市\\x1b', 1).replace(
        "(前編)\n", '(前編)"\n', 1)
    editor = site.client("editor")
    r = editor.get("/admin/issues")
    r = editor.post("/admin/issues", data={"csrf_token": hidden(r.text)},
                    files={"file": ("vol05.zip", sample_zip(prefix="vol05/",
                                                            replace={"part1.md": broken}),
                                    "application/zip")})
    assert r.status_code == 422
    assert "part1.md:3: フロントマター: title: 制御文字 U+001B は使えません" in r.text


@pytest.fixture
def stored_injection(site: Site, engine: Engine) -> int:
    """Part 1 of the seeded issue with a subject stored before the front matter
    was checked (written straight to the row, as an old database has it)."""
    part_id = part_ids(engine)[0]
    with engine.begin() as conn:
        doc = json.loads(conn.execute(select(Part.document).where(  # type: ignore[call-overload]
            Part.id == part_id)).scalar_one())
        doc["subject"] = INJECTED
        conn.execute(update(Part).where(Part.id == part_id).values(  # type: ignore[arg-type]
            subject=INJECTED, document=json.dumps(doc, ensure_ascii=False)))
    return part_id


def test_a_stored_injected_subject_never_answers_500(site: Site, stored_injection: int) -> None:
    part = stored_injection
    editor = site.client("editor")
    page = editor.get(f"/admin/parts/{part}")
    assert page.status_code == 200, page.text[-1000:]
    assert "制御文字" in page.text  # a blocking preflight finding
    for fmt in ("html", "text"):
        r = editor.get(f"/admin/parts/{part}?tab={fmt}")
        assert r.status_code == 200
    eml = editor.get(f"/admin/parts/{part}/preview.eml")
    assert eml.status_code == 422 and "件名" in eml.text
    r = post_form(editor, f"/admin/parts/{part}", f"/admin/parts/{part}/schedule",
                  {"lists": "cio-forum", "at": "2030-01-01T09:00"})
    assert r.status_code == 409 and "制御文字" in r.text  # the preflight gate
    api = site.api("editor")
    r = api.get(f"/api/v1/parts/{part}/preview?format=eml")
    assert r.status_code == 422 and "件名" in r.json()["detail"]
    r = api.get(f"/api/v1/parts/{part}/preflight")
    assert r.status_code == 200
    assert any(f["severity"] == "error" and f["code"] == "subject_control"
               for f in r.json()["findings"])
    r = api.post("/api/v1/sends", json={"part_id": part, "lists": ["cio-forum"]})
    assert r.status_code == 409, r.text
    assert "制御文字" in r.json()["detail"]
