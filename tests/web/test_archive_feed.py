"""The Atom feed of the archive (`/archive/feed.atom`): a valid RFC 4287
document, one entry per part, newest first, linked from the archive pages."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine, update
from web_support import BASE_URL, Seeded

from mailer.compose.document import Lead, Paragraph, PartDocument, Span
from mailer.models import Part
from mailer.web.routes.archive import SUMMARY_CHARS, part_summary

NS = {"a": "http://www.w3.org/2005/Atom"}
A = "{http://www.w3.org/2005/Atom}"
PART = Part.__table__  # type: ignore[attr-defined]


def _feed(client: httpx.Client) -> ET.Element:
    r = client.get("/archive/feed.atom")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert r.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    r.content.decode("utf-8")  # strictly UTF-8
    return ET.fromstring(r.content)


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert value.tzinfo is not None, text  # RFC 3339 needs an offset
    return value


def test_feed_is_valid_atom_with_one_entry_per_part(client: httpx.Client,
                                                    published: Seeded) -> None:
    root = _feed(client)
    assert root.tag == f"{A}feed"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "ja"
    # required feed elements (RFC 4287 4.1.1), and an author since entries have none
    for tag in ("id", "title", "updated", "author/a:name"):
        found = root.find(f"a:{tag}", NS)
        assert found is not None and (found.text or "").strip(), tag
    _parse_time(root.findtext("a:updated", namespaces=NS) or "")
    self_links = [link for link in root.findall("a:link", NS) if link.get("rel") == "self"]
    assert [link.get("href") for link in self_links] == [f"{BASE_URL}/archive/feed.atom"]

    entries = root.findall("a:entry", NS)
    assert len(entries) == len(published.labels)
    ids = [e.findtext("a:id", namespaces=NS) for e in entries]
    assert len(set(ids)) == len(ids) and root.findtext("a:id", namespaces=NS) not in ids
    newest_first = list(reversed(published.labels))
    expected_urls = [f"{BASE_URL}/archive/{published.slug}/{label}" for label in newest_first]
    assert ids == expected_urls
    titles = dict(zip(published.labels, published.titles, strict=True))
    for entry, label, url in zip(entries, newest_first, expected_urls, strict=True):
        assert entry.findtext("a:title", namespaces=NS) == titles[label]
        link = entry.find("a:link", NS)
        assert link is not None and link.get("href") == url and link.get("rel") == "alternate"
        updated = _parse_time(entry.findtext("a:updated", namespaces=NS) or "")
        assert updated <= datetime.now(UTC)
        assert (entry.findtext("a:summary", namespaces=NS) or "").strip()
    # the first part's summary is its preheader
    first = entries[-1].findtext("a:summary", namespaces=NS)
    assert first == "庁内DXを「総務」から動かす ― 武蔵野市の推進体制と人材育成"


def test_entry_links_resolve_to_the_web_versions(client: httpx.Client, published: Seeded) -> None:
    for entry in _feed(client).findall("a:entry", NS):
        url = entry.findtext("a:id", namespaces=NS) or ""
        assert client.get(url.removeprefix(BASE_URL)).status_code == 200


def test_archive_pages_link_the_feed(client: httpx.Client, published: Seeded) -> None:
    for path in ("/archive", f"/archive/{published.slug}"):
        r = client.get(path)
        assert ('<a href="/archive/feed.atom" rel="alternate" type="application/atom+xml">'
                in r.text), path
        assert r.headers["link"] == (
            '</archive/feed.atom>; rel="alternate"; type="application/atom+xml"')
    assert client.head("/archive/feed.atom").status_code == 200


def test_hostile_titles_stay_well_formed(client: httpx.Client, engine: Engine,
                                         published: Seeded) -> None:
    with engine.begin() as conn:
        conn.execute(update(PART).where(PART.c.label == published.labels[0]).values(
            title="<script>alert('x')</script> & \x0b]]>"))
    root = _feed(client)
    titles = [e.findtext("a:title", namespaces=NS) for e in root.findall("a:entry", NS)]
    assert "<script>alert('x')</script> & ]]>" in titles
    assert b"<script>" not in client.get("/archive/feed.atom").content


def test_summary_falls_back_to_the_lead_and_is_cut() -> None:
    lead = Lead(paragraphs=[[Span(text="リードの"), Span(text="最初の段落。", strong=True)],
                            [Span(text="二段落目")]])
    part = PartDocument(label="p1", title="t", subject="s", blocks=[
        Paragraph(spans=[Span(text="本文")]), lead])
    assert part_summary(part) == "リードの最初の段落。"
    long = PartDocument(label="p1", title="t", subject="s", blocks=[
        Lead(paragraphs=[[Span(text="あ" * 500)]])])
    assert len(part_summary(long)) == SUMMARY_CHARS and part_summary(long).endswith("…")
    assert part_summary(PartDocument(label="p", title="t", subject="s", blocks=[])) == ""
