"""Every text of the web pages and of the email goes through the message
catalogue (#14).

With `MAILER_LANGUAGE=qps` every catalogued text shows as ⟦…⟧. The data here
(issue, subscribers, lists, staff, site name) is ASCII only, so a Japanese
character outside ⟦ ⟧ in a page is a text that bypassed the catalogue. The
pages are parsed with html5lib; the visible text is every text node outside
<script>/<style> and the attributes a person reads or hears (title, alt,
aria-label, placeholder, a button's value).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import html5lib
import httpx
import pytest
from admin_support import hidden, login, make_user
from sqlalchemy import Engine, select
from test_admin_helpers import schedule, set_outcome, start
from web_support import make_settings, serve

from mailer.compose.load import load_issue
from mailer.compose.parse import parse_issue_folder
from mailer.db import session_scope
from mailer.models import DeliveryStatus, Part, Subscriber, Suppression, UserRole
from mailer.render.html import render_email_html
from mailer.render.types import RenderConfig
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.services.actors import Actor
from mailer.services.publication import publish_part
from mailer.services.subscribers import ensure_list, upsert_subscribers
from mailer.settings import Settings
from mailer.testing.webserver import serve_app
from mailer.tokens import unsubscribe_token
from mailer.web.app import create_app

#: Japanese letters and the full-width punctuation that goes with them
#: (whitespace such as the ideographic space is not a text)
JAPANESE = re.compile(
    "[\u3001-\u303f\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\uff01-\uffef]+"
)
READ_ATTRIBUTES = ("title", "alt", "aria-label", "placeholder")
LIST = "forum"
ADMIN = "admin@example.org"

ISSUE_YAML = """\
number: 7
title: Test Issue
series: Forum Letter
publisher:
  name: Test Publisher
  address: 1 Test Street
  contact_email: forum@example.org
  contact_phone: 00-0000-0000
  url: https://mailer.example.com/
back_numbers:
  - number: No 6
    title: Older Issue
    url: https://mailer.example.com/archive/vol06/
"""
PART_MD = """\
---
label: part1
title: Part One
subject: Forum Letter part one
preheader: A short preheader
scheduled_at: "2026-12-01 09:00"
---

![Header alt](images/header.png)

First paragraph with a [link](https://example.org/) and **bold** text.

## A section

Another paragraph.

![Photo alt](images/photo.png)
"""


def ascii_issue(folder: Path) -> Path:
    """A one-part issue folder whose every text is ASCII."""
    (folder / "images").mkdir(parents=True)
    shutil.copy(SAMPLE_ISSUE_DIR / "images" / "header-part1.png", folder / "images" / "header.png")
    shutil.copy(SAMPLE_ISSUE_DIR / "images" / "photo01.png", folder / "images" / "photo.png")
    (folder / "issue.yaml").write_text(ISSUE_YAML, encoding="utf-8")
    (folder / "part1.md").write_text(PART_MD, encoding="utf-8")
    return folder


def _outside(text: str) -> list[str]:
    """The runs of Japanese characters of `text` outside ⟦ ⟧ (nesting allowed)."""
    depth, outside = 0, []
    for ch in text:
        if ch == "⟦":
            depth += 1
        elif ch == "⟧":
            depth = max(0, depth - 1)
        outside.append(ch if depth == 0 and ch != "⟧" else " ")
    return JAPANESE.findall("".join(outside))


def uncatalogued(html: str, skip: tuple[str, ...] = ()) -> list[str]:
    """Each run of Japanese characters in the visible text that is not inside ⟦ ⟧.

    The text nodes are read as one stream in document order, since a
    catalogued sentence may hold markup (⟦…<a href="…">…</a>…⟧); each read
    attribute is a text of its own. Elements whose class is in `skip` are
    left out (`skip`: "tag.class").
    """
    found: list[str] = []
    stream: list[str] = []

    def attribute(text: str) -> None:
        found.extend(f"{run!r} in attribute {text.strip()[:100]!r}" for run in _outside(text))

    def walk(element: object) -> None:
        tag = str(getattr(element, "tag", "")).rsplit("}", 1)[-1]
        attributes = getattr(element, "attrib", {})
        if tag in ("script", "style") or any(f"{tag}.{c}" in skip
                                            for c in attributes.get("class", "").split()):
            return
        for name in READ_ATTRIBUTES:
            if name in attributes:
                attribute(attributes[name])
        if tag in ("button", "input") and "value" in attributes \
                and attributes.get("type", "") in ("submit", "button", "reset"):
            attribute(attributes["value"])
        stream.append(getattr(element, "text", None) or "")
        for child in element:  # type: ignore[attr-defined]
            walk(child)
            stream.append(child.tail or "")

    walk(html5lib.parse(html))
    text = "\n".join(stream)
    runs = _outside(text)
    for run in runs:
        at = text.find(run)
        context = " ".join(text[max(0, at - 40):at + len(run) + 40].split())
        found.append(f"{run!r} in {context!r}")
    return found


def test_the_checker_finds_text_outside_the_brackets() -> None:
    page = ('<html><head><title>⟦配信管理⟧</title><style>p{}</style></head><body>'
            '<p>⟦配信 7⟧ 号</p><img alt="画像"><button value="送る" type="submit">x</button>'
            '<script>var a = "日本語";</script><p>Forum　Letter ⟦⟦二重⟧⟧</p></body></html>')
    assert sorted(f.split(" in ")[0] for f in uncatalogued(page)) == ["'号'", "'画像'", "'送る'"]


@dataclass
class AsciiSite:
    url: str
    engine: Engine
    settings: Settings
    part_id: int
    send_id: int
    subscriber_id: int
    list_id: int


@pytest.fixture
def ascii_site(engine: Engine, database_url: str, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[AsciiSite]:
    with session_scope(engine) as session:
        load_issue(session=session, path=ascii_issue(tmp_path / "vol07"))
    with session_scope(engine) as session:
        ensure_list(session=session, name=LIST, title="Forum")
        upsert_subscribers(session=session, list_name=LIST, rows=[
            {"email": "ann@city-a.example.org", "name": "Ann Lee", "organisation": "City A",
             "reading": "ann lee"},
            {"email": "ben@city-b.example.org", "name": "Ben Ray", "organisation": "City B"},
        ])
        part_id = session.execute(select(Part.id)).scalars().one()  # type: ignore[call-overload]
        list_id = ensure_list(session=session, name=LIST).id
    with session_scope(engine) as session:
        ann = session.execute(
            select(Subscriber.id).where(Subscriber.email == "ann@city-a.example.org")  # type: ignore[call-overload]
        ).scalar_one()
    publish_part(engine=engine, actor=Actor(name="editor@example.org", user_id=None, door="cli"),
                 part_id=part_id)
    send_id = schedule(engine, part_id=part_id, lists=[LIST], by="editor@example.org")
    start(engine, send_id)
    set_outcome(engine, send_id, "ann@city-a.example.org", DeliveryStatus.SENT)
    set_outcome(engine, send_id, "ben@city-b.example.org", DeliveryStatus.FAILED,
                "550 5.1.1 unknown user")
    with session_scope(engine) as session:
        session.add(Suppression(email="gone@example.org", reason="hard bounce"))
    make_user(engine, email=ADMIN, roles=[UserRole.ADMIN], name="Admin")
    settings = make_settings(database_url, list_name="Forum Letter",
                             from_="Forum Letter <forum@example.org>")
    # after the settings: they accept only the languages a person may choose
    monkeypatch.setenv("MAILER_LANGUAGE", "qps")
    with serve(settings) as url:
        yield AsciiSite(url=url, engine=engine, settings=settings, part_id=part_id,
                        send_id=send_id, subscriber_id=ann, list_id=list_id or 0)


#: the part page's previews of the email's text part (rendered by mailer/render,
#: whose messages are domain.po's; the HTML email is checked below)
PREVIEWS = ("pre.preview",)
#: an audit row's detail is written through the catalogue when it is recorded,
#: in the language of that moment (this site's set-up ran in Japanese): data by
#: now, like a subscriber's name (tests/web/test_auth_audit.py checks one on the page)
RECORDED = ("td.detail",)


def _problems(pages: dict[str, str]) -> list[str]:
    return [f"{page}: {text}" for page, html in pages.items()
            for text in uncatalogued(html, skip=PREVIEWS + RECORDED)]


def _admin_pages(site: AsciiSite, client: httpx.Client) -> dict[str, str]:
    part, send, sub = site.part_id, site.send_id, site.subscriber_id
    pages: dict[str, str] = {}
    for path in [
        "/admin", "/admin/issues", f"/admin/parts/{part}", f"/admin/parts/{part}?tab=text",
        f"/admin/parts/{part}?tab=sanitized", f"/admin/parts/{part}?tab=iso",
        f"/admin/sends/{send}", f"/admin/sends/{send}?status=failed", "/admin/fragments/running",
        f"/admin/sends/{send}/progress", "/admin/subscribers", "/admin/subscribers?q=nobody",
        "/admin/subscribers?problem=iso2022jp", f"/admin/subscribers/{sub}",
        f"/admin/subscribers/{sub}/edit", "/admin/subscribers/new", "/admin/subscribers/import",
        "/admin/suppressions", "/admin/audit", f"/admin/subscribers/{sub}?notice=created",
        f"/admin/subscribers/{sub}?notice=saved",
    ]:
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        pages[path] = r.text
    for path, status in [("/admin/sends/999999", 404), ("/admin/parts/999999", 404),
                         (f"/admin/subscribers/{sub + 1000}", 404), ("/admin/no-such-page", 404)]:
        r = client.get(path)
        assert r.status_code == status, (path, r.status_code)
        pages[path] = r.text
    r = client.put("/admin/issues")  # a method the address does not take: the admin's 405
    assert r.status_code == 405, r.status_code
    pages["PUT /admin/issues"] = r.text
    csrf = hidden(pages[f"/admin/parts/{part}"])
    forms = [
        (f"/admin/parts/{part}/send-now", {"csrf_token": csrf, "lists": LIST}),
        (f"/admin/parts/{part}/schedule", {"csrf_token": csrf, "lists": LIST, "at": "soon"}),
        (f"/admin/sends/{send}/cancel", {"csrf_token": csrf, "back": "/admin"}),
        ("/admin/subscribers/new", {"csrf_token": csrf, "email": "not-an-address"}),
    ]
    for path, data in forms:
        r = client.post(path, data=data)
        assert r.status_code in (200, 422), (path, r.status_code, r.text[:300])
        # a refusal the service words (its messages are domain.po's) is data to the page
        pages[f"POST {path}"] = re.sub(r"(email: | — )[^<]*", "", r.text)
    r = client.post("/admin/subscribers/import", data={"csrf_token": csrf, "list": LIST},
                    files={"file": ("people.csv", b"email,name\ncid@example.org,Cid Moe\nbad,X\n",
                                    "text/csv")})
    assert r.status_code == 200, r.text[:300]
    pages["POST /admin/subscribers/import"] = r.text
    pages.update(_editor_pages(client, csrf))
    return pages


#: a draft with a block of every kind, every text ASCII (the editor's form fields)
DRAFT_BLOCKS = ["lead", "note", "event_date", "participants", "heading", "prompt", "turn",
                "paragraph", "figure", "next_part", "credits"]
DRAFT_FORM = {
    "slug": "vol08", "number": "8", "title": "Draft Issue", "series": "Forum Letter",
    "publisher_name": "Test Publisher", "back_numbers": "6 | Older Issue | https://example.org/",
    "part_count": "2", "p0-label": "part1", "p0-title": "Part One", "p0-subject": "Subject",
    "p0-count": str(len(DRAFT_BLOCKS)), "p1-label": "part2", "p1-count": "0",
    **{f"p0-b{j}-kind": kind for j, kind in enumerate(DRAFT_BLOCKS)},
    **{f"p0-b{j}-text": "Some text" for j in range(len(DRAFT_BLOCKS))},
    "p0-b3-people": "1", "p0-b3-n0-name": "Ann Lee", "p0-b3-n0-organisation": "City A",
    "p0-b6-speaker": "Nobody", "p0-b8-src": "images/x.png", "p0-b8-alt": "A photo",
}


def _editor_pages(client: httpx.Client, csrf: str) -> dict[str, str]:
    """The issue editor: new, a button, two saves and an autosave, the history and
    its diffs, a refusal, the pages of a draft that does not exist."""
    pages: dict[str, str] = {"/admin/issues/new": client.get("/admin/issues/new").text}
    r = client.post("/admin/issues/new", data={**DRAFT_FORM, "csrf_token": csrf, "base": "0",
                                              "op": "add:0", "p0-newkind": "heading"})
    assert r.status_code == 200, r.text[:300]
    pages["POST /admin/issues/new (add a block)"] = r.text
    for base, title in [("0", "Part One"), ("1", "Part 1")]:
        r = client.post("/admin/issues/new" if base == "0" else "/admin/issues/vol08/edit",
                        data={**DRAFT_FORM, "p0-title": title, "csrf_token": csrf,
                              "base": base, "op": "save"})
        assert r.status_code == 303, r.text[:300]
    r = client.post("/admin/issues/vol08/autosave", data={**DRAFT_FORM, "p0-title": "Part 3",
                                                          "csrf_token": csrf, "base": "2"})
    assert r.status_code == 200 and r.json()["revision"] == 3, r.text[:300]
    for path in ["/admin/issues/vol08/edit?saved=2", "/admin/issues/vol08/history",
                 "/admin/issues/vol08/history?old=1&new=2&part=0",
                 "/admin/issues/vol08/history?old=1&new=2&part=1"]:
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        pages[path] = r.text
    assert 'id="diff"' in pages["/admin/issues/vol08/history?old=1&new=2&part=0"]
    r = client.post("/admin/issues/new", data={**DRAFT_FORM, "slug": "", "csrf_token": csrf,
                                              "base": "0", "op": "save"})
    assert r.status_code >= 400 and 'id="editor-errors"' in r.text, r.text[:300]
    # the refusal's sentences are the service's (domain.po); the page around them is checked
    pages["POST /admin/issues/new (refused)"] = re.sub(r"<li>[^<]*</li>", "", r.text)
    # the editor's script shows its sentences from the catalogue too
    script = client.get("/admin/static/editor.js").text
    assert "⟦" in script and not _outside(script), _outside(script)
    for path in ["/admin/issues/nothing/edit", "/admin/issues/nothing/history"]:
        r = client.get(path)
        assert r.status_code == 404, (path, r.status_code)
        pages[path] = r.text
    return pages


def test_every_admin_page_goes_through_the_catalogue(ascii_site: AsciiSite) -> None:
    with httpx.Client(base_url=ascii_site.url, timeout=30, follow_redirects=False) as client:
        pages = {"/admin/login": client.get("/admin/login").text,
                 "/admin/login?notice=logged-out":
                     client.get("/admin/login?notice=logged-out").text}
        r = client.post("/admin/login", data={
            "email": ADMIN, "password": "wrong", "csrf_token": hidden(pages["/admin/login"]),
            "next": "/admin"})
        pages["POST /admin/login (wrong password)"] = r.text
        login(client, ascii_site.url, ADMIN)
        pages.update(_admin_pages(ascii_site, client))
    assert "⟦" in pages["/admin"]  # the pseudo language is on
    assert not _problems(pages), "\n".join(_problems(pages))


def test_every_public_page_goes_through_the_catalogue(ascii_site: AsciiSite) -> None:
    site = ascii_site
    token = unsubscribe_token(site.settings.secret_keys, subscriber_id=site.subscriber_id,
                              list_id=site.list_id)
    pages: dict[str, str] = {}
    with httpx.Client(base_url=site.url, timeout=30, follow_redirects=False) as client:
        for path, status in [
            ("/archive", 200), ("/archive/vol07", 200), ("/archive/vol07/part1", 200),
            (f"/u/{token}", 200), (f"/p/{token}", 200), ("/archive/no-such-issue", 404),
            ("/u/not-a-token", 400), ("/no-such-page", 404),
        ]:
            r = client.get(path)
            assert r.status_code == status, (path, r.status_code, r.text[:300])
            pages[path] = r.text
        prefs = pages[f"/p/{token}"]
        r = client.post(f"/p/{token}", data={"csrf": hidden(prefs, "csrf"), "format": "text",
                                            "charset": "utf-8"})
        pages[f"POST /p/{token}"] = r.text
        r = client.post(f"/p/{token}", data={"csrf": "forged", "format": "text"})
        pages[f"POST /p/{token} (forged)"] = r.text
        r = client.post(f"/u/{token}", data={"confirm": "yes"})
        pages[f"POST /u/{token}"] = r.text
    assert not _problems(pages), "\n".join(_problems(pages))


def test_the_email_chrome_goes_through_the_catalogue(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_LANGUAGE", "qps")
    issue = parse_issue_folder(ascii_issue(tmp_path / "vol07"))
    # `reason` set: the default sentence is built in mailer/render (domain.po)
    config = RenderConfig(base_url="https://mailer.example.com", from_name="Forum Letter",
                          from_address="forum@example.org", list_id="forum.example.org",
                          list_name="Forum Letter", reason="You are a member of Forum Letter.")
    html = render_email_html(issue=issue, part=issue.parts[0], config=config)
    assert "⟦" in html
    assert not uncatalogued(html), "\n".join(uncatalogued(html))


def test_the_english_dashboard_has_no_japanese(ascii_site: AsciiSite,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_LANGUAGE", "en")
    with httpx.Client(base_url=ascii_site.url, timeout=30, follow_redirects=False) as client:
        login(client, ascii_site.url, ADMIN)
        html = client.get("/admin").text
    assert "Dashboard" in html and '<html lang="en">' in html
    assert not uncatalogued(html), "\n".join(uncatalogued(html))


def test_the_demo_outbox_listing_goes_through_the_catalogue(ascii_site: AsciiSite,
                                                            tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (outbox / f"{'a' * 32}.eml").write_bytes(
        b"To: ann@city-a.example.org\r\nSubject: Forum Letter part one\r\n\r\nHello\r\n")
    with serve_app(create_app(ascii_site.settings, demo_outbox=outbox)) as url, \
            httpx.Client(base_url=url, timeout=30, follow_redirects=False) as client:
        login(client, url, ADMIN)
        html = client.get("/admin").text
    assert 'id="demo-outbox"' in html and "Forum Letter part one" in html
    assert not uncatalogued(html), "\n".join(uncatalogued(html))
