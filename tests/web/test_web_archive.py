"""The archive and the web version of each part."""

from __future__ import annotations

import html
import re

import httpx
from web_support import Seeded


def test_archive_lists_the_sample_issue(client: httpx.Client, published: Seeded) -> None:
    r = client.get("/archive")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<html lang="ja">' in r.text
    assert "第4回 武蔵野市×都CIO座談会" in r.text
    for label, title in zip(published.labels, published.titles, strict=True):
        assert f'<a href="/archive/{published.slug}/{label}">{html.escape(title)}</a>' in r.text


def test_home_redirects_to_the_archive(client: httpx.Client) -> None:
    r = client.get("/")
    assert r.status_code == 307 and r.headers["location"] == "/archive"


def test_issue_page_lists_its_parts(client: httpx.Client, published: Seeded) -> None:
    r = client.get(f"/archive/{published.slug}")
    assert r.status_code == 200
    assert all(f"/archive/{published.slug}/{label}" in r.text for label in published.labels)


def test_part_page_is_the_web_version(client: httpx.Client, published: Seeded) -> None:
    for label, title in zip(published.labels, published.titles, strict=True):
        r = client.get(f"/archive/{published.slug}/{label}")
        assert r.status_code == 200
        assert '<html lang="ja">' in r.text
        found = re.search(r"<title>(.*?)</title>", r.text)
        assert found and found.group(1).startswith(html.escape(title))
        assert f"<h1>{html.escape(title)}</h1>" in r.text
        # images point at the configured public URL
        assert f"https://mailer.example.com/assets/{published.slug}/images/" in r.text


def test_unknown_pages_are_404_in_japanese(client: httpx.Client, published: Seeded) -> None:
    for path in (f"/archive/{published.slug}/no-such-part", "/archive/vol99", "/archive/vol99/p1",
                 "/no/such/page"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert '<html lang="ja">' in r.text
        assert "ページが見つかりません" in r.text


def test_pages_are_escaped(client: httpx.Client) -> None:
    r = client.get("/archive/<script>alert(1)</script>")
    assert r.status_code == 404
    assert "<script>" not in r.text
