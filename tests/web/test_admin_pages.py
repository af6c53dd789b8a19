"""Admin pages: each renders for every role that may read it, in Japanese,
with headings in order; anonymous visitors are sent to the login page."""

from __future__ import annotations

import itertools
import re

import pytest
from test_admin_helpers import PERSONAS, Site, part_ids, schedule, set_outcome, site, start
from web_support import LIST

from mailer.db import session_scope
from mailer.models import DeliveryStatus

__all__ = ["site"]  # the fixture


def _pages(site: Site) -> list[str]:
    part = part_ids(site.engine)[0]
    send = schedule(site.engine, part_id=part, lists=[LIST])
    start(site.engine, send)
    set_outcome(site.engine, send, "alice@city-a.example.jp", DeliveryStatus.SENT)
    return [
        "/admin", "/admin/issues", f"/admin/parts/{part}", f"/admin/parts/{part}?tab=text",
        f"/admin/parts/{part}?tab=sanitized", f"/admin/parts/{part}?tab=iso",
        f"/admin/sends/{send}", "/admin/subscribers", "/admin/subscribers?q=city",
        f"/admin/subscribers/{site.seeded.alice}", "/admin/suppressions",
        "/admin/fragments/running", f"/admin/sends/{send}/progress",
    ]


def _headings_in_order(html: str) -> None:
    levels = [int(m) for m in re.findall(r"<h([1-6])[\s>]", html)]
    assert levels.count(1) == 1 and levels[0] == 1, levels
    for a, b in itertools.pairwise(levels):
        assert b <= a + 1, f"heading jumps from h{a} to h{b}"


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_page_renders_for_every_role(site: Site, persona: str) -> None:
    client = site.client(persona)
    for path in _pages(site):
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        if "fragments" in path or path.endswith("/progress"):
            assert "<html" not in r.text
            continue
        assert '<html lang="ja">' in r.text
        assert "本文へスキップ" in r.text
        _headings_in_order(r.text)
        assert r.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in r.headers["content-security-policy"]


def test_anonymous_visitors_go_to_the_login_page(site: Site) -> None:
    client = site.client()
    for path in _pages(site):
        r = client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/admin/login?next="), path


def test_every_form_control_has_a_label(site: Site) -> None:
    client = site.client("admin")
    for path in _pages(site):
        html = client.get(path).text
        for m in re.finditer(r'<(input|select)\b([^>]*)>', html):
            attrs = m.group(2)
            if 'type="hidden"' in attrs or 'type="submit"' in attrs:
                continue
            ident = re.search(r'id="([^"]+)"', attrs)
            assert ident, (path, m.group(0))
            assert f'for="{ident.group(1)}"' in html, (path, m.group(0))
        for b in re.findall(r"<button\b[^>]*>(.*?)</button>", html, re.S):
            assert b.strip(), path  # every button has visible text


def test_part_page_shows_preflight_and_previews(site: Site) -> None:
    part = part_ids(site.engine)[0]
    client = site.client("editor")
    html = client.get(f"/admin/parts/{part}").text
    assert "事前チェック" in html
    assert "髙" in html  # the ISO-2022-JP warnings name the character
    assert '<iframe class="preview" title="HTML メールのプレビュー" sandbox=""' in html
    assert "srcdoc=\"&lt;!DOCTYPE html&gt;" in html or "srcdoc=\"&lt;!doctype" in html.lower()
    text = client.get(f"/admin/parts/{part}?tab=text").text
    assert "<pre class=\"preview\"" in text and "https://" in text
    iso = client.get(f"/admin/parts/{part}?tab=iso").text
    assert "ISO-2022-JP で表せない文字" in iso and "U+9AD9" in iso
    eml = client.get(f"/admin/parts/{part}/preview.eml")
    assert eml.status_code == 200 and eml.headers["content-type"] == "message/rfc822"
    assert b"Subject:" in eml.content


def test_preflight_error_links_to_the_iso2022jp_readers_to_fix(site: Site) -> None:
    from mailer.services.subscribers import upsert_subscribers

    with session_scope(site.engine) as session:
        upsert_subscribers(session=session, list_name=None, rows=[
            {"email": "yamazaki@city.example.jp", "name": "山﨑 直子", "charset": "iso-2022-jp"}])
    part = part_ids(site.engine)[0]
    html = site.client("editor").get(f"/admin/parts/{part}").text
    assert "山﨑 直子 &lt;yamazaki@city.example.jp&gt;（﨑）" in html
    assert '<a href="/admin/subscribers?problem=iso2022jp&amp;status=active">' in html


def test_unknown_ids_get_a_japanese_404(site: Site) -> None:
    client = site.client("viewer")
    for path in ("/admin/parts/999999", "/admin/sends/999999", "/admin/subscribers/999999"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "見つかりません" in r.text
