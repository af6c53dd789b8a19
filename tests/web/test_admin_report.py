"""Send reports: counts and a table per municipality (who got it, who failed
and why), the Excel-safe CSV, and stored markup that never runs."""

from __future__ import annotations

import csv
import io
import re

import html5lib
from sqlalchemy import Engine
from test_admin_helpers import (
    Site,
    finish,
    part_ids,
    sample_zip,
    schedule,
    set_outcome,
    site,
    start,
)
from web_support import LIST

from mailer.db import session_scope
from mailer.models import DeliveryStatus, Subscriber, SubscriberEvent
from mailer.services.subscribers import upsert_subscribers

__all__ = ["site"]

SCRIPT_NAME = '<script>alert("name")</script>'
IMG_ORG = "<img src=x onerror=alert(1)>市"
FORMULA_ORG = "=HYPERLINK(\"https://evil.example\",\"x\")"


def _add_hostile_subscribers(engine: Engine) -> None:
    with session_scope(engine) as session:
        upsert_subscribers(session=session, list_name=LIST, rows=[
            {"email": "mallory@city-m.example.jp", "name": SCRIPT_NAME,
             "organisation": IMG_ORG},
            {"email": "formula@city-f.example.jp", "name": "+SUM(1,2)",
             "organisation": FORMULA_ORG},
        ])
        sub_id = session.execute(
            Subscriber.__table__.select().where(  # type: ignore[attr-defined]
                Subscriber.__table__.c.email == "mallory@city-m.example.jp")  # type: ignore[attr-defined]
        ).one().id
        session.add(SubscriberEvent(subscriber_id=sub_id, kind="preferences",
                                    detail="<script>alert('event')</script>", source="web"))


def _sent_report(site: Site) -> int:
    _add_hostile_subscribers(site.engine)
    send = schedule(site.engine, part_id=part_ids(site.engine)[0], lists=[LIST])
    start(site.engine, send)
    set_outcome(site.engine, send, "alice@city-a.example.jp", DeliveryStatus.SENT)
    set_outcome(site.engine, send, "bob@city-b.example.jp", DeliveryStatus.FAILED,
                "550 5.1.1 <bob@city-b.example.jp>: user unknown")
    set_outcome(site.engine, send, "carol@city-c.example.jp", DeliveryStatus.SENT)
    set_outcome(site.engine, send, "mallory@city-m.example.jp", DeliveryStatus.FAILED,
                "<script>alert('error')</script>")
    set_outcome(site.engine, send, "formula@city-f.example.jp", DeliveryStatus.SENT)
    finish(site.engine, send)
    return send


def test_report_lists_each_municipality_with_who_got_it_and_why_not(site: Site) -> None:
    send = _sent_report(site)
    html = site.client("viewer").get(f"/admin/sends/{send}").text
    assert "自治体別の結果" in html
    for org in ("武蔵野市", "三鷹市", "府中市"):
        assert f">{org}</h3>" in html or f">{org}<span" in html, org
    mitaka = html.split(">三鷹市</h3>")[1].split("</table>")[0]
    assert "馬場 太郎" in mitaka and "失敗" in mitaka and "user unknown" in mitaka
    musashino = html.split(">武蔵野市</h3>")[1].split("</table>")[0]
    assert "青木 花子" in musashino and "送信済み" in musashino
    # progress block: counts per state
    assert "<progress" in html and "件処理済み" in html
    assert f'href="/admin/sends/{send}/report.csv"' in html


def test_report_csv_is_excel_safe(site: Site) -> None:
    send = _sent_report(site)
    r = site.client("viewer").get(f"/admin/sends/{send}/report.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in r.content
    rows = list(csv.reader(io.StringIO(r.content[3:].decode("utf-8"), newline="")))
    assert rows[0][:4] == ["自治体", "区分", "氏名", "メールアドレス"]
    by_email = {row[3]: row for row in rows[1:]}
    assert len(by_email) == 5
    assert by_email["bob@city-b.example.jp"][4] == "失敗"
    assert "user unknown" in by_email["bob@city-b.example.jp"][6]
    formula = by_email["formula@city-f.example.jp"]
    assert formula[0] == "'" + FORMULA_ORG and formula[2] == "'+SUM(1,2)"
    assert by_email["alice@city-a.example.jp"][7]  # sent time


def _pages(site: Site, send: int, part: int, subscriber: int) -> list[str]:
    return ["/admin", f"/admin/sends/{send}", "/admin/subscribers",
            "/admin/subscribers?q=mallory", f"/admin/subscribers/{subscriber}",
            f"/admin/parts/{part}", f"/admin/parts/{part}?tab=text",
            f"/admin/parts/{part}?tab=sanitized", f"/admin/parts/{part}?tab=iso",
            "/admin/issues", f"/admin/sends/{send}/progress", "/admin/fragments/running"]


def _no_live_markup(html: str, where: str) -> None:
    """Parse like a browser; no element may be a foreign script or carry an on* handler.
    (The sandboxed srcdoc preview is an attribute value: parsed again, it is checked too.)"""
    doc = html5lib.parse(html, namespaceHTMLElements=False)
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag == "script":
            assert el.get("src") == "/admin/static/poll.js" and not (el.text or "").strip(), where
        assert not [a for a in el.attrib if a.lower().startswith("on")], (where, el.tag)
        assert not (el.tag == "img" and el.get("src") == "x"), where
        if el.tag == "iframe":
            assert el.get("sandbox") == "", where
            _no_live_markup(el.get("srcdoc") or "", f"{where} (srcdoc)")


def test_stored_markup_is_escaped_on_every_page(site: Site) -> None:
    send = _sent_report(site)
    # author content: the same issue with markup in the first part's text
    from mailer.samples import SAMPLE_ISSUE_DIR

    part1 = (SAMPLE_ISSUE_DIR / "part1.md").read_text(encoding="utf-8")
    hostile = part1.replace(
        "開催日:", "<script>alert('author')</script> <img src=x onerror=alert(2)>\n\n開催日:", 1)
    editor = site.client("editor")
    token = re.search(r'name="csrf_token" value="([^"]*)"', editor.get("/admin/issues").text)
    assert token
    r = editor.post("/admin/issues", data={"csrf_token": token.group(1)},
                    files={"file": ("vol04.zip", sample_zip(replace={"part1.md": hostile}),
                                    "application/zip")})
    assert r.status_code == 200, r.text[:1000]
    subscriber = next(iter(_mallory(site.engine)))
    part = part_ids(site.engine)[0]
    viewer = site.client("admin")
    for path in _pages(site, send, part, subscriber):
        html = viewer.get(path).text
        _no_live_markup(html, path)
    text = viewer.get(f"/admin/parts/{part}?tab=text").text
    assert "&lt;script&gt;alert(&#39;author&#39;)&lt;/script&gt;" in text
    detail = viewer.get(f"/admin/subscribers/{subscriber}").text
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in detail
    assert "&lt;script&gt;alert(&#39;event&#39;)&lt;/script&gt;" in detail
    # the HTML preview sits in a sandboxed srcdoc: even its own markup is an attribute value
    html_tab = viewer.get(f"/admin/parts/{part}").text
    assert 'sandbox=""' in html_tab


def _mallory(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        t = Subscriber.__table__  # type: ignore[attr-defined]
        return [r.id for r in conn.execute(t.select().where(t.c.email.like("mallory%")))]
