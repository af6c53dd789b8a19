"""Send reports: one table of who got it (or why not), by municipality in
local-government code order, sortable and filterable; the Excel-safe CSV in
the same order; and stored markup that never runs."""

from __future__ import annotations

import csv
import io
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

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

from mailer import municipalities
from mailer.db import session_scope
from mailer.delivery import ledger
from mailer.delivery.ledger import Outcome
from mailer.models import DeliveryStatus, Subscriber, SubscriberEvent
from mailer.services.municipality_report import ReportSort, send_report
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
    # sent, but an old row still holding why an earlier try was handed back
    set_outcome(site.engine, send, "alice@city-a.example.jp", DeliveryStatus.SENT,
                "send stopped")
    set_outcome(site.engine, send, "bob@city-b.example.jp", DeliveryStatus.FAILED,
                "550 5.1.1 <bob@city-b.example.jp>: user unknown")
    set_outcome(site.engine, send, "carol@city-c.example.jp", DeliveryStatus.SENT,
                "time budget")
    set_outcome(site.engine, send, "mallory@city-m.example.jp", DeliveryStatus.FAILED,
                "<script>alert('error')</script>")
    set_outcome(site.engine, send, "formula@city-f.example.jp", DeliveryStatus.SENT)
    finish(site.engine, send)
    return send


def report_tables(html: str) -> list[Any]:
    """The tables of the report's "by municipality" section."""
    doc = html5lib.parse(html, namespaceHTMLElements=False)
    section = next(el for el in doc.iter("section") if el.get("id") == "by-municipality")
    return list(section.iter("table"))


def table_rows(html: str) -> list[list[str]]:
    """The report table's body rows as cell texts."""
    [table] = report_tables(html)
    return [["".join(td.itertext()).strip() for td in tr.iter("td")]
            for tr in table.find("tbody").iter("tr")]


def test_report_is_one_table_in_code_order_with_who_got_it_and_why_not(site: Site) -> None:
    send = _sent_report(site)
    html = site.client("viewer").get(f"/admin/sends/{send}").text
    assert "自治体別の結果" in html
    assert len(report_tables(html)) == 1
    rows = table_rows(html)
    # 武蔵野市 132039, 三鷹市 132047, 府中市 132063; names not on the list last, by name
    assert [r[0] for r in rows] == ["武蔵野市", "三鷹市", "府中市",
                                    *sorted([IMG_ORG, FORMULA_ORG])]
    by_email = {r[3]: r for r in rows}
    assert by_email["bob@city-b.example.jp"][4] == "失敗"
    assert "user unknown" in by_email["bob@city-b.example.jp"][6]
    assert by_email["alice@city-a.example.jp"][4] == "送信済み"
    # a sent delivery carries no error, even an old row that stored one
    for email in ("alice@city-a.example.jp", "carol@city-c.example.jp"):
        assert by_email[email][6] == "", by_email[email]
    assert "send stopped" not in html and "time budget" not in html
    assert by_email["alice@city-a.example.jp"][1] == "市"  # the listed kind
    # progress block: counts per state
    assert "<progress" in html and "件処理済み" in html
    assert f'href="/admin/sends/{send}/report.csv"' in html


def test_report_filters_and_sorts(site: Site) -> None:
    send = _sent_report(site)
    viewer = site.client("viewer")
    one = table_rows(viewer.get(f"/admin/sends/{send}", params={"municipality": "三鷹市"}).text)
    assert [(r[0], r[3]) for r in one] == [("三鷹市", "bob@city-b.example.jp")]
    failures = table_rows(viewer.get(f"/admin/sends/{send}", params={"sort": "failures"}).text)
    assert [r[4] for r in failures] == ["失敗", "失敗", "送信済み", "送信済み", "送信済み"]
    # failures first, each group in code order (三鷹市 before the unknown name)
    assert [r[0] for r in failures[:2]] == ["三鷹市", IMG_ORG]
    failed = table_rows(viewer.get(f"/admin/sends/{send}", params={"status": "failed"}).text)
    assert {r[3] for r in failed} == {"bob@city-b.example.jp", "mallory@city-m.example.jp"}
    html = viewer.get(f"/admin/sends/{send}", params={"sort": "failures",
                                                      "municipality": "三鷹市"}).text
    assert f'href="/admin/sends/{send}/report.csv?sort=failures&amp;municipality=' in html
    # an unknown sort (an old bookmark) is the default order
    assert table_rows(viewer.get(f"/admin/sends/{send}", params={"sort": "nope"}).text)[0][0] \
        == "武蔵野市"


def _csv(site: Site, send: int, **params: str) -> list[list[str]]:
    r = site.client("viewer").get(f"/admin/sends/{send}/report.csv", params=params)
    assert r.status_code == 200
    return list(csv.reader(io.StringIO(r.content[3:].decode("utf-8"), newline="")))


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
    assert rows[0][-1] == "団体コード"
    by_email = {row[3]: row for row in rows[1:]}
    assert len(by_email) == 5
    assert by_email["bob@city-b.example.jp"][4] == "失敗"
    assert "user unknown" in by_email["bob@city-b.example.jp"][6]
    assert by_email["bob@city-b.example.jp"][8] == "132047"
    formula = by_email["formula@city-f.example.jp"]
    assert formula[0] == "'" + FORMULA_ORG and formula[2] == "'+SUM(1,2)"
    assert by_email["alice@city-a.example.jp"][7]  # sent time
    assert by_email["alice@city-a.example.jp"][6] == ""  # sent: no error


def test_report_csv_has_the_pages_order_and_filter(site: Site) -> None:
    send = _sent_report(site)
    rows = _csv(site, send)[1:]
    assert [r[0] for r in rows][:3] == ["武蔵野市", "三鷹市", "府中市"]
    assert [r[4] for r in _csv(site, send, sort="failures")[1:3]] == ["失敗", "失敗"]
    assert [r[3] for r in _csv(site, send, municipality="府中市")[1:]] == [
        "carol@city-c.example.jp"]
    assert len(_csv(site, send, status="sent")) == 1 + 3


def test_deferred_then_sent_shows_no_error(site: Site) -> None:
    """Through the ledger's own transitions: deferred (451), handed back
    ("send stopped"), then sent: the report and the CSV show no error."""
    send = schedule(site.engine, part_id=part_ids(site.engine)[0], lists=[LIST])
    start(site.engine, send)
    now = datetime.now(UTC)
    lease = timedelta(minutes=5)

    def claim() -> list[int]:
        with site.engine.begin() as conn:
            return [r.delivery_id for r in ledger.claim_batch(
                conn, send_id=send, limit=10, now=now, lease=lease)]

    def record(outcomes: list[Outcome]) -> None:
        with site.engine.begin() as conn:
            ledger.record_outcomes(conn, outcomes, now=now)

    ids = claim()
    assert len(ids) == 3
    record([Outcome(ids[0], DeliveryStatus.DEFERRED, "451 4.7.1 greylisted",
                    next_attempt_at=now),
            Outcome(ids[1], DeliveryStatus.PENDING, "send stopped", refund_attempt=True),
            Outcome(ids[2], DeliveryStatus.FAILED, "550 5.1.1 user unknown")])
    again = claim()
    assert sorted(again) == sorted(ids[:2])
    record([Outcome(i, DeliveryStatus.SENT, relay="a:25") for i in again])
    html = site.client("viewer").get(f"/admin/sends/{send}").text
    rows = table_rows(html)
    assert sorted(r[4] for r in rows) == ["失敗", "送信済み", "送信済み"]
    assert [r[6] for r in rows if r[4] == "送信済み"] == ["", ""]
    assert "greylisted" not in html and "send stopped" not in html
    csv_rows = _csv(site, send)[1:]
    assert [r[6] for r in csv_rows if r[4] == "送信済み"] == ["", ""]
    assert [r[6] for r in csv_rows if r[4] == "失敗"] == ["550 5.1.1 user unknown"]
    items = site.api("viewer").get(f"/api/v1/sends/{send}/deliveries").json()["items"]
    assert sorted((i["status"], i["last_error"]) for i in items) == [
        ("failed", "550 5.1.1 user unknown"), ("sent", ""), ("sent", "")]


def test_every_tokyo_municipality_in_code_order(site: Site) -> None:
    """都, the 23 special wards, 26 cities, 5 towns, 8 villages by code; a
    name written "東京都三鷹市" is 三鷹市; unknown names last, by name."""
    places = list(municipalities.tokyo())
    assert len(places) == 63
    shuffled = random.Random(14).sample(places, len(places))
    rows = [{"email": f"cio{m.code}@example.jp", "name": f"職員 {m.code}",
             "organisation": m.name} for m in shuffled]
    rows += [{"email": "alias@example.jp", "name": "別名 太郎", "organisation": "東京都 三鷹市"},
             {"email": "z@example.jp", "name": "協議会 一", "organisation": "多摩地域協議会"},
             {"email": "a@example.jp", "name": "団体 二", "organisation": "ＡＢＣ財団"}]
    with session_scope(site.engine) as session:
        upsert_subscribers(session=session, list_name="tokyo", rows=rows)
    send = schedule(site.engine, part_id=part_ids(site.engine)[0], lists=["tokyo"])
    start(site.engine, send)
    report = send_report(site.engine, send)
    assert report.complete and report.matching == 66
    assert not send_report(site.engine, send, limit=10).complete
    names = [r.municipality for r in report.rows]
    expected = [m.name for m in places]
    expected.insert(expected.index("三鷹市") + 1, "三鷹市")  # the alias
    assert names == [*expected, *sorted(["多摩地域協議会", "ＡＢＣ財団"])]
    kinds = [r.kind for r in report.rows[:64]]  # 63 and the alias
    assert kinds == ["都"] + ["特別区"] * 23 + ["市"] * 27 + [m.kind for m in places[50:]]
    assert [g.name for g in report.groups][:4] == ["東京都", "千代田区", "中央区", "港区"]
    assert len(report.groups) == 63 + 2
    csv_names = [r[0] for r in _csv(site, send)[1:]]
    assert csv_names == names
    # the CSV pages by key: a small page size gives the same rows
    assert [r[0] for r in report_csv_rows_paged(site, send)] == names


def report_csv_rows_paged(site: Site, send: int) -> list[list[str]]:
    from mailer.services import municipality_report

    old = municipality_report.CSV_PAGE
    municipality_report.CSV_PAGE = 7
    try:
        return list(municipality_report.report_csv_rows(
            site.engine, send, municipality_report.ReportQuery(sort=ReportSort.CODE)))[1:]
    finally:
        municipality_report.CSV_PAGE = old


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
