"""The public archive: every published part's web version, its issue, and an
Atom feed of them (`/archive/feed.atom`).

What is visible is the publish gate's decision (`mailer.services.publication`):
the public sees published parts only; signed-in staff also see unpublished
ones, marked 「未公開」; a preview link (`/preview/TOKEN/archive/…`, in test
sends) opens one unpublished part without signing in.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import Session

from mailer.compose.document import IssueDocument, Lead, PartDocument
from mailer.i18n import N_, _
from mailer.models import Issue, Part
from mailer.render.html import render_web_part
from mailer.services.publication import (
    ANYONE,
    PREVIEW_PREFIX,
    Viewer,
    preview_part_id,
    public_clause,
)
from mailer.web.pages import PRIVATE_HEADERS, not_found, render_page
from mailer.web.routes import READ
from mailer.web.routes.viewer import viewer_of
from mailer.web.state import Web

router = APIRouter(tags=["archive"])

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml"
XML_NS = "http://www.w3.org/XML/1998/namespace"
ET.register_namespace("", ATOM_NS)  # Atom as the default namespace, no ns0: prefixes
FEED_PATH = "/archive/feed.atom"
#: feed readers show a line or two; a longer lead is cut here
SUMMARY_CHARS = 200
#: characters XML 1.0 cannot carry at all (ElementTree would write them and
#: produce a document no parser accepts)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: lets readers and crawlers find the feed from the archive pages (RFC 8288)
FEED_LINK_HEADER = f'<{FEED_PATH}>; rel="alternate"; type="{ATOM_TYPE}"'
#: a published part's page may be kept by shared caches for a while
PUBLIC_CACHE = {"Cache-Control": "public, max-age=300"}
#: what staff or a preview link see of an unpublished part
UNPUBLISHED_NOTICE = N_("未公開：この配信回はまだ公開されていません"
                         "（スタッフとプレビューリンクでのみ表示）。")


@router.api_route("/", methods=READ, include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse("/archive", status_code=307)


@router.api_route("/archive", methods=READ)
def archive(request: Request, web: Web) -> HTMLResponse:
    """Every issue with a part the asker may see, newest first, each such part
    linked (unpublished ones marked, for staff)."""
    viewer = viewer_of(request)
    with Session(web.engine) as session:
        issues = session.execute(
            select(Issue).order_by(Issue.number.desc(), Issue.created_at.desc())  # type: ignore[attr-defined]
        ).scalars().all()
        parts = session.execute(
            select(Part).order_by(Part.issue_id, Part.position)  # type: ignore[arg-type]
        ).scalars().all()
    by_issue: dict[int, list[Part]] = {}
    for part in parts:
        if viewer.may_see(part.id or 0, part.published_at):
            by_issue.setdefault(part.issue_id, []).append(part)
    entries = [(issue, by_issue[issue.id]) for issue in issues if issue.id in by_issue]
    response = _listing(web, viewer, title=_("バックナンバー"), entries=entries)
    return response


def _listing(web: Web, viewer: Viewer, *, title: str,
             entries: list[tuple[Issue, list[Part]]]) -> HTMLResponse:
    unpublished = any(p.published_at is None for _, parts in entries for p in parts)
    response = render_page(web.pages, "archive", title=title, entries=entries,
                           feed_url=FEED_PATH, private=unpublished)
    response.headers["Link"] = FEED_LINK_HEADER
    return response


@dataclass(frozen=True)
class FeedEntry:
    url: str
    title: str
    issue_title: str
    updated: datetime
    published: datetime | None
    summary: str


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive values; they are UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _rfc3339(value: datetime) -> str:
    return _utc(value).isoformat(timespec="seconds").replace("+00:00", "Z")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def part_summary(part: PartDocument) -> str:
    """Return the part's preheader, else the first paragraph of its lead, else ""
    (cut to SUMMARY_CHARS with an ellipsis)."""
    text = part.preheader.strip()
    if not text:
        lead = next((b for b in part.blocks if isinstance(b, Lead)), None)
        if lead is not None and lead.paragraphs:
            text = "".join(span.text for span in lead.paragraphs[0]).strip()
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS - 1] + "…"


def feed_entries(web: Web) -> list[FeedEntry]:
    """Return one entry per published part whose issue has a stored document,
    newest first (by issue number, then part position, both descending),
    dated when the part went public."""
    issue_t = Issue.__table__  # type: ignore[attr-defined]
    part_t = Part.__table__  # type: ignore[attr-defined]
    with web.engine.connect() as conn:
        rows = conn.execute(
            select(issue_t.c.slug, issue_t.c.number, issue_t.c.title, issue_t.c.document,
                   part_t.c.label, part_t.c.title, part_t.c.document, part_t.c.published_at)
            .join(part_t, part_t.c.issue_id == issue_t.c.id)
            .where(public_clause())
            .order_by(issue_t.c.number.desc(), issue_t.c.id.desc(), part_t.c.position.desc(),
                      part_t.c.id.desc())
        ).all()
    base = web.settings.base_url
    entries = []
    for slug, number, issue_title, issue_doc, label, title, part_doc, published in rows:
        if not json.loads(issue_doc):
            continue  # the web version would be a 404 (see part_page)
        part = PartDocument.model_validate_json(part_doc)
        entries.append(FeedEntry(
            url=f"{base}/archive/{quote(slug, safe='')}/{quote(label, safe='')}",
            title=title,
            issue_title=_("第{number}回 {title}").format(number=number, title=issue_title),
            updated=_utc(published),
            published=_utc(published), summary=part_summary(part)))
    return entries


def atom_feed(*, entries: list[FeedEntry], base_url: str, title: str) -> bytes:
    """Return the Atom 1.0 document (RFC 4287) of `entries`, UTF-8 encoded.

    The feed's `updated` is the newest entry's (the epoch for an empty feed),
    so the document only changes when a part does.
    """
    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            el.text = _xml_text(text)
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed", {f"{{{XML_NS}}}lang": "ja"})
    sub(feed, "id", f"{base_url}/archive")
    sub(feed, "title", title)
    sub(feed, "subtitle", _("バックナンバー"))
    newest = max((e.updated for e in entries), default=datetime(1970, 1, 1, tzinfo=UTC))
    sub(feed, "updated", _rfc3339(newest))
    sub(sub(feed, "author"), "name", title)
    sub(feed, "link", rel="self", type=ATOM_TYPE, href=f"{base_url}{FEED_PATH}")
    sub(feed, "link", rel="alternate", type="text/html", href=f"{base_url}/archive")
    for e in entries:
        entry = sub(feed, "entry")
        sub(entry, "id", e.url)
        sub(entry, "title", e.title)
        sub(entry, "link", rel="alternate", type="text/html", href=e.url)
        sub(entry, "updated", _rfc3339(e.updated))
        if e.published is not None:
            sub(entry, "published", _rfc3339(e.published))
        sub(entry, "category", term=_xml_text(e.issue_title))
        if e.summary:
            sub(entry, "summary", e.summary, type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


@router.api_route(FEED_PATH, methods=READ)
def feed(web: Web) -> Response:
    """The Atom feed of every published part, newest first."""
    body = atom_feed(entries=feed_entries(web), base_url=web.settings.base_url,
                     title=web.settings.list_name)
    return Response(body, media_type=f"{ATOM_TYPE}; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=300"})


@router.api_route("/archive/{slug}", methods=READ)
def issue_page(slug: str, request: Request, web: Web) -> HTMLResponse:
    """One issue and the parts the asker may see (back-number links point
    here); 404 when there is none."""
    viewer = viewer_of(request)
    with Session(web.engine) as session:
        issue = session.execute(select(Issue).where(Issue.slug == slug)).scalars().first()  # type: ignore[arg-type]
        if issue is None:
            return not_found(web.pages)
        parts = session.execute(
            select(Part).where(Part.issue_id == issue.id).order_by(Part.position)  # type: ignore[arg-type]
        ).scalars().all()
    visible = [p for p in parts if viewer.may_see(p.id or 0, p.published_at)]
    if not visible:
        return not_found(web.pages)
    return _listing(web, viewer,
                    title=_("第{number}回 {title}").format(number=issue.number, title=issue.title),
                    entries=[(issue, visible)])


@router.api_route("/archive/{slug}/{label}", methods=READ)
def part_page(slug: str, label: str, request: Request, web: Web) -> Response:
    """The web version of one part, rendered from the stored documents: for
    everyone once published, for signed-in staff before (marked 「未公開」)."""
    return _part_page(web, slug, label, viewer_of(request), base_url=web.settings.base_url)


@router.api_route(PREVIEW_PREFIX + "/{token}/archive/{slug}/{label}", methods=READ)
def preview_part_page(token: str, slug: str, label: str, web: Web) -> Response:
    """The web version of the part a preview link names (a test send's "web
    version" link), published or not; 404 for a forged or expired link."""
    part_id = preview_part_id(web.settings.secret_keys, token)
    if part_id is None:
        return not_found(web.pages)
    return _part_page(web, slug, label, Viewer(preview_part_id=part_id),
                      base_url=f"{web.settings.base_url}{PREVIEW_PREFIX}/{token}")


def _part_page(web: Web, slug: str, label: str, viewer: Viewer, *, base_url: str) -> Response:
    with Session(web.engine) as session:
        row = session.execute(
            select(Issue.document, Part.document, Part.id, Part.published_at)  # type: ignore[call-overload]
            .join(Part, Part.issue_id == Issue.id)
            .where(Issue.slug == slug, Part.label == label)
        ).first()
    if row is None or not json.loads(row[0]) or not viewer.may_see(row[2], row[3]):
        return not_found(web.pages)
    part = PartDocument.model_validate_json(row[1])
    # The issue row stores everything but the parts (each part has its own row).
    issue = IssueDocument.model_validate({**json.loads(row[0]), "parts": [part.model_dump()]})
    published = row[3] is not None
    # Images (and the page's own links) go through the same door: a preview
    # link's images open with its token.
    config = web.render_config
    if base_url != config.base_url:
        config = replace(config, base_url=base_url)
    if published and viewer is ANYONE:
        html = render_web_part(issue=issue, part=part, config=config)
        return HTMLResponse(html, headers=PUBLIC_CACHE)
    html = render_web_part(issue=issue, part=part, config=config,
                           notice="" if published else _(UNPUBLISHED_NOTICE))
    return HTMLResponse(html, headers={**PRIVATE_HEADERS, "Referrer-Policy": "no-referrer"})
