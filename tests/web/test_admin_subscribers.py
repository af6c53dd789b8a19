"""Subscribers: search, filters, keyset pages (every row exactly once, in id
order), the detail page, the suppression list, and speed at 100,000 rows."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert, select
from test_admin_helpers import Site, site
from web_support import LIST

from mailer.db import session_scope
from mailer.models import MailingList, Membership, Subscriber, Suppression
from mailer.services.subscribers import upsert_subscribers

__all__ = ["site"]

SUB = Subscriber.__table__  # type: ignore[attr-defined]


def _ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<a href="/admin/subscribers/(\d+)">', html)]


def _walk(site: Site, query: str) -> list[int]:
    client = site.client("list_admin")
    seen: list[int] = []
    url: str | None = f"/admin/subscribers?{query}"
    pages = 0
    while url:
        r = client.get(url)
        assert r.status_code == 200
        seen += _ids(r.text)
        nxt = re.search(r'<a href="([^"]+)" rel="next">', r.text)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
        pages += 1
        assert pages < 50
    return seen


def _expected(engine: Engine, where) -> list[int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return list(conn.execute(select(SUB.c.id).where(where).order_by(SUB.c.id)).scalars())


def test_keyset_pages_list_every_match_once_in_order(site: Site) -> None:
    rows = [{"email": f"user{i:03d}@town-{i % 7}.example.jp", "name": f"利用者{i}",
             "organisation": "八王子市" if i % 3 == 0 else "町田市",
             "organisation_kind": "市"} for i in range(130)]
    with session_scope(site.engine) as session:
        upsert_subscribers(session=session, list_name=LIST, rows=rows[:80])
        upsert_subscribers(session=session, list_name="other", rows=rows[80:])
    everyone = _expected(site.engine, SUB.c.id > 0)
    assert _walk(site, "") == everyone and len(everyone) == 133
    hachioji = _walk(site, "q=%E5%85%AB%E7%8E%8B%E5%AD%90")  # 八王子
    assert hachioji == _expected(site.engine, SUB.c.organisation == "八王子市")
    assert len(hachioji) == 44
    with site.engine.connect() as conn:
        list_id = conn.execute(select(MailingList.id).where(MailingList.name == LIST)).scalar()  # type: ignore[call-overload, arg-type]
        members = set(conn.execute(select(Membership.subscriber_id).where(  # type: ignore[call-overload]
            Membership.list_id == list_id)).scalars())  # type: ignore[arg-type]
    on_list = _walk(site, f"list={list_id}&kind=%E5%B8%82")  # 市
    assert on_list == sorted(i for i in members if i in set(
        _expected(site.engine, SUB.c.organisation_kind == "市")))
    assert _walk(site, "q=town-3&status=active") == _expected(
        site.engine, SUB.c.email.like("%town-3%"))
    assert _walk(site, "status=bounced") == []
    # a LIKE wildcard in the search is taken literally
    assert _walk(site, "q=%25") == []


def test_detail_and_suppressions(site: Site) -> None:
    with session_scope(site.engine) as session:
        session.add(Suppression(email="gone@city-x.example.jp", reason="5.1.1 user unknown"))
    client = site.client("viewer")
    page = client.get(f"/admin/subscribers/{site.seeded.bob}").text
    assert "馬場 太郎" in page and "三鷹市" in page and "cio-forum-seminar" in page
    sup = client.get("/admin/suppressions").text
    assert "gone@city-x.example.jp" in sup and "5.1.1 user unknown" in sup
    assert "gone@" in client.get("/admin/suppressions?q=city-x").text
    assert "gone@" not in client.get("/admin/suppressions?q=nobody").text


@pytest.mark.slow
def test_pages_stay_fast_at_100000_subscribers(site: Site) -> None:
    now = datetime.now(UTC)
    kinds = ["市", "町", "村", "特別区"]
    with site.engine.begin() as conn:
        list_id = conn.execute(select(MailingList.id).where(MailingList.name == LIST)).scalar()  # type: ignore[call-overload, arg-type]
        for start in range(0, 100_000, 10_000):
            conn.execute(insert(SUB), [
                {"email": f"bulk{i:06d}@muni-{i % 62}.example.jp", "name": f"職員{i}",
                 "organisation": f"自治体{i % 62}", "organisation_kind": kinds[i % 4],
                 "status": "active", "created_at": now, "updated_at": now,
                 "honorific": "様", "job_title": "", "roles": "", "format": "html",
                 "charset": "utf-8", "consent_source": "", "consent_by": ""}
                for i in range(start, start + 10_000)])
        top = conn.execute(select(SUB.c.id).order_by(SUB.c.id.desc()).limit(1)).scalar_one()
        conn.execute(insert(Membership.__table__), [  # type: ignore[attr-defined]
            {"list_id": list_id, "subscriber_id": i, "created_at": now}
            for i in range(top - 99_999, top + 1, 2)])
    client = site.client("list_admin")
    for url in ("/admin/subscribers", f"/admin/subscribers?after={top - 60}",
                f"/admin/subscribers?after={top // 2}&kind=%E6%9D%91",
                f"/admin/subscribers?list={list_id}&after={top - 5000}",
                "/admin/subscribers?q=bulk09999", "/admin/subscribers?q=%E8%81%B7%E5%93%A1"):
        client.get(url)  # warm
        began = time.perf_counter()
        r = client.get(url)
        elapsed = time.perf_counter() - began
        assert r.status_code == 200 and _ids(r.text), url
        assert elapsed < 1.0, (url, elapsed)


def test_problem_filter_lists_iso2022jp_readers_whose_name_it_cannot_carry(site: Site) -> None:
    """`?problem=iso2022jp` (linked from the preflight error): every such reader
    once, across pages, with an edit link; nobody else."""
    rows = [{"email": f"iso{i:03d}@city.example.jp",
             "name": ("高橋 " if i % 5 == 0 else "髙橋 ") + f"{i}",
             "charset": "iso-2022-jp" if i % 2 == 0 else "utf-8"} for i in range(130)]
    with session_scope(site.engine) as session:
        upsert_subscribers(session=session, list_name=LIST, rows=rows)
    wanted = _expected(site.engine, SUB.c.name.like("髙橋%") & (SUB.c.charset == "iso-2022-jp"))
    assert len(wanted) == 52  # more than a page of 50
    assert _walk(site, "problem=iso2022jp") == wanted
    page = site.client("list_admin").get("/admin/subscribers?problem=iso2022jp").text
    assert "ISO-2022-JP で送れない字" in page
    assert f'<a href="/admin/subscribers/{wanted[0]}/edit">編集</a>' in page
