"""Store a parsed issue folder in the database (create or update, idempotent).

Loading the same folder twice writes nothing the second time: the issue row
keeps a digest of everything the folder contributed (documents and image
bytes), and each part row is rewritten only when its own document changed.
A part that is stored but no longer in the folder is refused, never deleted:
it may already have been sent.

The images the documents use are stored too (`issue_asset`, one row per
path), so any web host serves them: a new image is inserted, changed bytes
are updated, and an image no document uses any more is deleted. Image URLs
carry no version: mail already sent shows what is stored under its URL now.
The parser has already checked each image (inside the folder, an allowed
suffix, bytes that match it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from mailer.compose.document import IssueDocument, PartDocument
from mailer.compose.errors import IssueFolderError, Problem
from mailer.compose.images import asset_path, media_type
from mailer.compose.parse import ISSUE_FILE, parse_issue_folder
from mailer.i18n import _
from mailer.models import Issue, IssueAsset, Part, utcnow


class LoadStatus(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class LoadResult:
    """What `load_issue` did: the issue's status and each part's, by label."""

    slug: str
    issue_id: int
    status: LoadStatus
    parts: dict[str, LoadStatus] = field(default_factory=dict)
    digest: str = ""


def source_digest(document: IssueDocument, folder: Path) -> str:
    """Return a sha256 over the document and the bytes of every image it uses."""
    return _digest(document, _read_images(document, folder))


def _read_images(document: IssueDocument, folder: Path) -> dict[str, bytes]:
    """Return the bytes of every image the document uses, by `src` as written."""
    return {src: (folder / src).read_bytes() for src in sorted(_image_sources(document))}


def _digest(document: IssueDocument, images: dict[str, bytes]) -> str:
    digest = hashlib.sha256(document.model_dump_json().encode())
    for src in sorted(images):
        digest.update(b"\0" + src.encode() + b"\0")
        digest.update(hashlib.sha256(images[src]).digest())
    return digest.hexdigest()


def part_image_sources(part: PartDocument) -> set[str]:
    """Return the `src` of every image one part uses (header image and figures)."""
    sources = {b.src for b in part.blocks if b.kind == "figure"}
    if part.header_image is not None:
        sources.add(part.header_image.src)
    return sources


def _image_sources(document: IssueDocument) -> set[str]:
    sources: set[str] = set()
    for part in document.parts:
        sources |= part_image_sources(part)
    return sources


def load_issue(*, session: Session, path: Path) -> LoadResult:
    """Parse the issue folder at `path` and store it, with the images its
    documents use, in one transaction.

    Returns a LoadResult; an unchanged folder reports UNCHANGED and writes
    nothing. Raises IssueFolderError for a bad folder or for a stored part
    missing from the folder; on any error nothing is written (the session is
    rolled back). Commits the session on success.
    """
    folder = Path(path)
    document = parse_issue_folder(folder)
    images = _read_images(document, folder)
    digest = _digest(document, images)
    try:
        result = _store(session, document, digest, images)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return result


def _store(
    session: Session, document: IssueDocument, digest: str, images: dict[str, bytes]
) -> LoadResult:
    issue = session.exec(select(Issue).where(Issue.slug == document.slug)).first()
    labels = [part.label for part in document.parts]
    if issue is not None and issue.id is not None:
        if issue.source_digest == digest:
            unchanged = dict.fromkeys(labels, LoadStatus.UNCHANGED)
            return LoadResult(document.slug, issue.id, LoadStatus.UNCHANGED, unchanged, digest)
        stored = {p.label: p for p in session.exec(select(Part).where(Part.issue_id == issue.id))}
        missing = [label for label in stored if label not in labels]
        if missing:
            raise IssueFolderError([_missing_problem(stored[label]) for label in missing])
        status = LoadStatus.UPDATED
    else:
        issue = Issue(slug=document.slug, number=document.number, title=document.title)
        stored = {}
        status = LoadStatus.CREATED
    now = utcnow()
    issue.number = document.number
    issue.title = document.title
    issue.series = document.series
    issue.document = document.model_dump_json(exclude={"parts"})
    issue.source_digest = digest
    issue.updated_at = now
    session.add(issue)
    session.flush()
    assert issue.id is not None
    outcome: dict[str, LoadStatus] = {}
    for position, part in enumerate(document.parts, start=1):
        outcome[part.label] = _store_part(session, issue.id, position, part, stored.get(part.label))
    _store_assets(session, issue.id, images)
    return LoadResult(document.slug, issue.id, status, outcome, digest)


def _store_part(
    session: Session, issue_id: int, position: int, part: PartDocument, row: Part | None
) -> LoadStatus:
    body = part.model_dump_json()
    if row is not None and row.document == body and row.position == position:
        return LoadStatus.UNCHANGED
    status = LoadStatus.UPDATED
    if row is None:
        row = Part(issue_id=issue_id, label=part.label, title=part.title, subject=part.subject)
        status = LoadStatus.CREATED
    row.position = position
    row.title = part.title
    row.subject = part.subject
    row.scheduled_at = part.scheduled_at
    row.document = body
    row.updated_at = utcnow()
    session.add(row)
    return status


def _store_assets(session: Session, issue_id: int, images: dict[str, bytes]) -> None:
    """Make the issue's stored images exactly `images`: insert the new, update
    the changed, delete those no document uses; leave the unchanged alone."""
    wanted: dict[str, bytes] = {asset_path(src): data for src, data in images.items()}
    stored = {
        path: (asset_id, sha)
        for asset_id, path, sha in session.exec(
            select(IssueAsset.id, IssueAsset.path, IssueAsset.sha256).where(
                IssueAsset.issue_id == issue_id
            )
        )
    }
    gone = [asset_id for path, (asset_id, _) in stored.items() if path not in wanted]
    if gone:
        session.exec(delete(IssueAsset).where(col(IssueAsset.id).in_(gone)))
    now = utcnow()
    for path, data in sorted(wanted.items()):
        sha = hashlib.sha256(data).hexdigest()
        kind = media_type(path)
        assert kind is not None  # the parser refuses any other suffix
        row = stored.get(path)
        if row is None:
            session.add(
                IssueAsset(
                    issue_id=issue_id,
                    path=path,
                    media_type=kind,
                    sha256=sha,
                    size=len(data),
                    data=data,
                    created_at=now,
                    updated_at=now,
                )
            )
        elif row[1] != sha:
            session.exec(
                update(IssueAsset)
                .where(col(IssueAsset.id) == row[0])
                .values(media_type=kind, sha256=sha, size=len(data), data=data, updated_at=now)
            )


def _missing_problem(row: Part) -> Problem:
    try:
        source = PartDocument.model_validate_json(row.document).source_file or ISSUE_FILE
    except ValueError:
        source = ISSUE_FILE
    return Problem(
        source,
        1,
        _("配信回「{label}」は保存済みですがフォルダにありません。配信済みかもしれないので"
          "消せません（ファイルを戻してください）").format(label=row.label),
    )
