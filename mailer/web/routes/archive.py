"""The public archive: every stored issue and the web version of each part."""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import Session

from mailer.compose.document import IssueDocument, PartDocument
from mailer.models import Issue, Part
from mailer.render.html import render_web_part
from mailer.web.pages import not_found, render_page
from mailer.web.routes import READ
from mailer.web.state import Web

router = APIRouter(tags=["archive"])


@router.api_route("/", methods=READ, include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse("/archive", status_code=307)


@router.api_route("/archive", methods=READ)
def archive(web: Web) -> HTMLResponse:
    """Every stored issue, newest first, each part linked."""
    with Session(web.engine) as session:
        issues = session.execute(
            select(Issue).order_by(Issue.number.desc(), Issue.created_at.desc())  # type: ignore[attr-defined]
        ).scalars().all()
        parts = session.execute(
            select(Part).order_by(Part.issue_id, Part.position)  # type: ignore[arg-type]
        ).scalars().all()
    by_issue: dict[int, list[Part]] = {}
    for part in parts:
        by_issue.setdefault(part.issue_id, []).append(part)
    entries = [(issue, by_issue.get(issue.id or 0, [])) for issue in issues]
    return render_page(web.pages, "archive", title="バックナンバー", entries=entries)


@router.api_route("/archive/{slug}", methods=READ)
def issue_page(slug: str, web: Web) -> HTMLResponse:
    """One issue and its parts (back-number links point here)."""
    with Session(web.engine) as session:
        issue = session.execute(select(Issue).where(Issue.slug == slug)).scalars().first()  # type: ignore[arg-type]
        if issue is None:
            return not_found(web.pages)
        parts = session.execute(
            select(Part).where(Part.issue_id == issue.id).order_by(Part.position)  # type: ignore[arg-type]
        ).scalars().all()
    return render_page(web.pages, "archive", title=f"第{issue.number}回 {issue.title}",
                       entries=[(issue, list(parts))])


@router.api_route("/archive/{slug}/{label}", methods=READ)
def part_page(slug: str, label: str, web: Web) -> Response:
    """The web version of one part, rendered from the stored documents."""
    with Session(web.engine) as session:
        row = session.execute(
            select(Issue.document, Part.document)  # type: ignore[call-overload]
            .join(Part, Part.issue_id == Issue.id)
            .where(Issue.slug == slug, Part.label == label)
        ).first()
    if row is None or not json.loads(row[0]):
        return not_found(web.pages)
    part = PartDocument.model_validate_json(row[1])
    # The issue row stores everything but the parts (each part has its own row).
    issue = IssueDocument.model_validate({**json.loads(row[0]), "parts": [part.model_dump()]})
    html = render_web_part(issue=issue, part=part, config=web.render_config)
    return HTMLResponse(html, headers={"Cache-Control": "public, max-age=300"})
