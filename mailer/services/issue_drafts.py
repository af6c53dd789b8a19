"""Issues written in the browser: drafts, revisions, previews and publishing.

Every save is a revision (who, when, the whole draft). A save names the
revision the editor started from; if someone saved since, the two are merged
per unit (the issue's fields, each part): a unit only one of them changed is
taken from that one, a unit both changed differently refuses the save
(CONFLICT) naming who saved it and when. Restoring a revision saves its
content as a new revision. Publishing writes the draft as an issue folder and
stores it with `load_issue`, the path of `mailer issue load`.
"""

from __future__ import annotations

import difflib
import itertools
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailer.compose.document import IssueDocument
from mailer.compose.draft import (
    DraftIssue,
    FolderMap,
    draft_from_document,
    in_body,
    part_markdown,
    part_name,
    precheck,
    where_of,
    write_folder,
)
from mailer.compose.errors import IssueFolderError
from mailer.compose.images import MAX_IMAGE_BYTES, media_type, sniff_media_type
from mailer.compose.load import LoadResult, load_issue
from mailer.compose.parse import parse_issue_folder
from mailer.compose.serialize import NotWritable
from mailer.i18n import _
from mailer.labels import LOAD_LABELS, tokyo
from mailer.models import DraftAsset, Issue, IssueAsset, IssueRevision, User
from mailer.render.errors import RenderError
from mailer.render.message import RenderConfig
from mailer.render.preflight import Finding, check_part
from mailer.render.preview import preview
from mailer.services.accounts import record_audit
from mailer.services.actors import Actor
from mailer.services.docx_import import draft_from_docx, like_hint
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.issue_export import stored_issue
from mailer.services.issue_upload import SLUG


@dataclass(frozen=True)
class Revision:
    """One saved revision (read model)."""

    slug: str
    number: int
    author: str  # the name pages show
    created_at: datetime
    note: str
    draft: DraftIssue


@dataclass(frozen=True)
class DraftPreview:
    """A part of a draft as it would be sent, or why it cannot be built yet."""

    problems: list[str]  # Japanese, naming part and block; empty when it renders
    html: str = ""
    text: str = ""
    sanitized: str = ""
    findings: tuple[Finding, ...] = ()


def _revision(row: IssueRevision) -> Revision:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return Revision(slug=row.slug, number=row.number, author=row.author_name or row.author,
                    created_at=created, note=row.note,
                    draft=DraftIssue.model_validate_json(row.content))


def check_slug(slug: str) -> str:
    """Return `slug` if it can name an issue; raise ServiceError(INVALID) otherwise."""
    if not SLUG.match(slug or ""):
        raise ServiceError("号の識別名は英数字と . _ - で書いてください（例：vol05）",
                           kind=ErrorKind.INVALID, field="slug")
    return slug


def latest_revision(*, engine: Engine, slug: str) -> Revision | None:
    """Return the newest revision of the draft `slug`, None if it has none."""
    with Session(engine) as session:
        row = session.execute(
            select(IssueRevision).where(IssueRevision.slug == slug)  # type: ignore[arg-type]
            .order_by(IssueRevision.number.desc())).scalars().first()  # type: ignore[attr-defined]
        return _revision(row) if row is not None else None


def revisions(*, engine: Engine, slug: str) -> list[Revision]:
    """Return every revision of the draft `slug`, newest first."""
    with Session(engine) as session:
        rows = session.execute(
            select(IssueRevision).where(IssueRevision.slug == slug)  # type: ignore[arg-type]
            .order_by(IssueRevision.number.desc())).scalars().all()  # type: ignore[attr-defined]
        return [_revision(r) for r in rows]


def get_revision(*, engine: Engine, slug: str, number: int) -> Revision:
    """Return revision `number` of `slug`; raise ServiceError(NOT_FOUND)."""
    with Session(engine) as session:
        row = session.execute(select(IssueRevision).where(
            IssueRevision.slug == slug, IssueRevision.number == number)  # type: ignore[arg-type]
        ).scalars().first()
        if row is None:
            raise ServiceError(f"号「{slug}」の第{number}版はありません", kind=ErrorKind.NOT_FOUND)
        return _revision(row)


def draft_slugs(*, engine: Engine) -> list[tuple[str, int, datetime]]:
    """Return (slug, newest revision number, its time) of every draft, newest first."""
    with engine.connect() as conn:
        rev = IssueRevision.__table__  # type: ignore[attr-defined]
        rows = conn.execute(select(rev.c.slug, func.max(rev.c.number), func.max(rev.c.created_at))
                            .group_by(rev.c.slug)).all()
    return sorted(((s, n, t) for s, n, t in rows), key=lambda r: r[2], reverse=True)


def _units(draft: DraftIssue | None, size: int) -> list[object]:
    if draft is None:
        return [None] * (size + 1)
    parts: list[object] = [p.model_dump() for p in draft.parts]
    return [draft.issue_fields(), *parts, *([None] * (size - len(parts)))]


def _merge(base: DraftIssue | None, theirs: DraftIssue, mine: DraftIssue
           ) -> tuple[DraftIssue, list[int]]:
    """Return `mine` with what `theirs` changed since `base` in units `mine` did
    not touch, and the units (0 the issue, i the part i-1) both changed."""
    size = max(len(d.parts) for d in (theirs, mine, base or mine))
    b, t, m = (_units(d, size) for d in (base, theirs, mine))
    merged: list[object] = []
    clashes: list[int] = []
    for i in range(size + 1):
        if m[i] == b[i] or m[i] == t[i]:
            merged.append(t[i])
        elif t[i] == b[i]:
            merged.append(m[i])
        else:
            clashes.append(i)
    issue = merged[0]
    assert isinstance(issue, dict)
    parts = [p for p in merged[1:] if p is not None]
    return DraftIssue.model_validate({**issue, "parts": parts}), clashes


def _conflict(engine: Engine, slug: str, base: int, mine: DraftIssue,
              clashes: list[int]) -> ServiceError:
    """Name who last changed the first clashing unit after `base`, and when."""
    later = [r for r in reversed(revisions(engine=engine, slug=slug)) if r.number >= base]
    size = max(len(r.draft.parts) for r in later)
    unit = clashes[0]
    who = later[-1]
    for before, after in itertools.pairwise(later):
        if _units(before.draft, size)[unit] != _units(after.draft, size)[unit]:
            who = after
    names = ["号の情報" if i == 0 else part_name(mine.parts[i - 1], i - 1)
             if i - 1 < len(mine.parts) else f"第{i}部" for i in clashes]
    return ServiceError(
        f"{who.author}さんが {tokyo(who.created_at)[-5:]} に保存しました（第{who.number}版、"
        f"{'・'.join(names)}）。あなたの変更は保存していません。"
        "再読み込みして相手の変更を確かめてから、もう一度書いてください。",
        kind=ErrorKind.CONFLICT)


def _author_name(session: Session, actor: Actor) -> str:
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    return (user.name if user is not None and user.name else actor.name)


def save_draft(*, engine: Engine, actor: Actor, draft: DraftIssue, base: int,
               note: str = "", from_issue: bool = False) -> Revision:
    """Save `draft` as a new revision of its slug, started from revision `base`
    (0: a new draft). Returns the new revision, or the newest one when the
    draft is exactly what it holds already.

    `from_issue`: the new draft was opened from the stored issue of its slug
    (`stored_issue_draft`), so publishing it is meant to replace that issue.

    Raises ServiceError: INVALID for a bad slug, CONFLICT when the slug is
    already a draft or (for base 0, unless `from_issue`) an issue, or someone
    changed the same unit since `base` (see the module docstring).
    """
    slug = check_slug(draft.slug)
    now = datetime.now(UTC)
    with Session(engine) as session:
        newest = latest_revision(engine=engine, slug=slug)
        if newest is not None and newest.number == base and newest.draft == draft:
            return newest  # nothing changed: no new revision (an autosave of a quiet page)
        if base == 0 and newest is None and not from_issue and session.execute(
                select(Issue.id).where(Issue.slug == slug)).first() is not None:  # type: ignore[call-overload, arg-type]
            raise ServiceError(f"号「{slug}」はフォルダから登録済みです。ブラウザで書く号には"
                               "別の識別名を付けてください。", kind=ErrorKind.CONFLICT,
                               field="slug")
        if base == 0 and newest is not None:
            raise ServiceError(f"号「{slug}」の下書きはすでにあります（第{newest.number}版）。"
                               "一覧から開いてください。", kind=ErrorKind.CONFLICT, field="slug")
        if newest is not None and newest.number != base:
            if newest.draft == draft:
                return newest
            start = get_revision(engine=engine, slug=slug, number=base) if base else None
            merged, clashes = _merge(start.draft if start else None, newest.draft, draft)
            if clashes:
                raise _conflict(engine, slug, base, draft, clashes)
            draft = merged
        number = (newest.number if newest else 0) + 1
        row = IssueRevision(slug=slug, number=number, author=actor.name,
                            author_person=actor.person, author_name=_author_name(session, actor),
                            note=note, content=draft.model_dump_json(), created_at=now)
        session.add(row)
        record_audit(session, actor=actor.name, action="issue.draft_save", target_type="issue",
                     target_id=slug,
                     detail=(_("第{number}版（{note}）") if note else _("第{number}版")).format(
                         number=number, note=note))
        try:
            session.commit()
        except IntegrityError:  # another save took this number a moment ago
            session.rollback()
            raise ServiceError("同時に別の保存がありました。再読み込みしてください。",
                               kind=ErrorKind.CONFLICT) from None
        session.refresh(row)
        return _revision(row)


def restore_revision(*, engine: Engine, actor: Actor, slug: str, number: int) -> Revision:
    """Save revision `number`'s content as the newest revision; return it."""
    old = get_revision(engine=engine, slug=slug, number=number)
    newest = latest_revision(engine=engine, slug=slug)
    assert newest is not None
    return save_draft(engine=engine, actor=actor, draft=old.draft, base=newest.number,
                      note=f"第{number}版を復元")


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def add_image(*, engine: Engine, actor: Actor, slug: str, filename: str, data: bytes) -> str:
    """Store an image uploaded for the draft `slug`; return its path (images/…).

    Raises ServiceError: INVALID for a name or bytes that are not PNG, JPEG or
    GIF, TOO_LARGE over the image limit.
    """
    check_slug(slug)
    stem = _SAFE_NAME.sub("-", PurePosixPath(filename.replace("\\", "/")).name).strip("-.")
    path = f"images/{stem.lower()}"
    kind = media_type(path)
    if not stem or kind is None or kind not in ("image/png", "image/jpeg", "image/gif"):
        raise ServiceError(f"{filename}: 画像は PNG・JPEG・GIF のファイルにしてください",
                           kind=ErrorKind.INVALID, field="image")
    if len(data) > MAX_IMAGE_BYTES:
        raise ServiceError(f"{filename}: 画像は {MAX_IMAGE_BYTES // 2**20} MB までです",
                           kind=ErrorKind.TOO_LARGE, field="image")
    if sniff_media_type(data[:16]) != kind:
        raise ServiceError(f"{filename}: ファイルの中身が拡張子と合いません",
                           kind=ErrorKind.INVALID, field="image")
    with Session(engine) as session:
        row = session.execute(select(DraftAsset).where(
            DraftAsset.slug == slug, DraftAsset.path == path)).scalars().first()  # type: ignore[arg-type]
        row = row or DraftAsset(slug=slug, path=path, media_type=kind, size=0, data=b"")
        row.media_type, row.size, row.data = kind, len(data), data
        session.add(row)
        record_audit(session, actor=actor.name, action="issue.draft_image", target_type="issue",
                     target_id=slug, detail=path)
        session.commit()
    return path


def draft_image(*, engine: Engine, slug: str, path: str) -> tuple[str, bytes] | None:
    """Return (media type, bytes) of an image uploaded for the draft, else of
    the stored issue of the same slug (a draft opened from it), or None."""
    with engine.connect() as conn:
        row = conn.execute(select(DraftAsset.media_type, DraftAsset.data).where(  # type: ignore[call-overload]
            DraftAsset.slug == slug, DraftAsset.path == path)).first()
        if row is None:
            row = conn.execute(
                select(IssueAsset.media_type, IssueAsset.data)  # type: ignore[call-overload]
                .join(Issue, Issue.id == IssueAsset.issue_id)  # type: ignore[arg-type]
                .where(Issue.slug == slug, IssueAsset.path == path)).first()
    return (row[0], row[1]) if row is not None else None


def _images(engine: Engine, slug: str) -> dict[str, bytes]:
    """The draft's images: the stored issue's of the same slug, overlaid
    with those uploaded for the draft."""
    with engine.connect() as conn:
        stored = conn.execute(
            select(IssueAsset.path, IssueAsset.data)  # type: ignore[call-overload]
            .join(Issue, Issue.id == IssueAsset.issue_id)  # type: ignore[arg-type]
            .where(Issue.slug == slug)).all()
        rows = conn.execute(select(DraftAsset.path, DraftAsset.data)  # type: ignore[call-overload]
                            .where(DraftAsset.slug == slug)).all()
    return {p: d for p, d in [*stored, *rows]}


def stored_issue_draft(*, engine: Engine, slug: str) -> DraftIssue:
    """Return the stored issue `slug` as a draft that publishes back to the
    same documents (its images are read from the issue until replaced).

    Raises ServiceError: NOT_FOUND for an unknown slug, INVALID when a
    stored document has no folder form.
    """
    try:
        return draft_from_document(stored_issue(engine, slug))
    except NotWritable as exc:
        raise ServiceError(_("号「{slug}」はブラウザで編集できる形に直せません: {reason}")
                           .format(slug=slug, reason=exc), kind=ErrorKind.INVALID) from None


def import_docx(*, engine: Engine, actor: Actor, data: bytes, slug: str,
                like: str = "") -> Revision:
    """Make a new draft `slug` from a Word manuscript (`draft_from_docx`): its
    first revision (note 「Word から取り込み」) holds what Word could not place
    (`DraftIssue.unplaced`), and its pictures become the draft's images.
    `like`: a stored issue whose series, publisher and back numbers it takes.

    Raises ServiceError: INVALID for a bad slug, NOT_FOUND for an unknown
    `like`, UNREADABLE / TOO_LARGE for the file, CONFLICT when the slug is
    already a draft or an issue.
    """
    check_slug(slug)
    model = stored_issue(engine, like) if like else None
    result = draft_from_docx(data, slug=slug, like=model)
    try:
        draft = draft_from_document(result.document)
    except NotWritable as exc:
        raise ServiceError(_("Word の原稿を下書きにできません: {reason}").format(reason=exc),
                           kind=ErrorKind.INVALID) from None
    # the CLI's hint names its option; the browser's form calls it otherwise
    hint = _("(「写し元の号の識別名」に既存の号を書くと写せます)")
    draft.unplaced = [str(u).replace(like_hint(), hint)
                      for u in result.unplaced]
    revision = save_draft(engine=engine, actor=actor, draft=draft, base=0,
                          note=_("Word から取り込み"))
    with Session(engine) as session:
        for path, blob in sorted(result.images.items()):
            session.add(DraftAsset(slug=slug, path=path, size=len(blob), data=blob,
                                   media_type=sniff_media_type(blob[:16]) or
                                   media_type(path) or "application/octet-stream"))
        session.commit()
    return revision


@contextmanager
def _folder(engine: Engine, draft: DraftIssue) -> Iterator[tuple[Path, FolderMap]]:
    with tempfile.TemporaryDirectory(prefix="mailer-draft-") as tmp:
        folder = Path(tmp) / (draft.slug if SLUG.match(draft.slug) else "draft")
        yield folder, write_folder(draft, folder, _images(engine, draft.slug))


def parse_draft(*, engine: Engine, draft: DraftIssue) -> IssueDocument:
    """Return the document the draft stands for, as the folder parser builds it.

    Raises ServiceError(INVALID) listing every problem in Japanese, each
    naming its part and block, one per line.
    """
    problems = precheck(draft)
    with _folder(engine, draft) as (folder, where):
        try:
            document = parse_issue_folder(folder)
        except IssueFolderError as exc:
            # With the editor's own findings, the parser's about the same blocks
            # are noise; its findings on the issue's fields and front matter are not.
            problems += [where_of(p, draft, where) for p in exc.problems
                         if not (problems and in_body(p, where))]
    if problems:
        raise ServiceError("\n".join(problems), kind=ErrorKind.INVALID)
    return document


def preview_draft(*, engine: Engine, draft: DraftIssue, part_index: int,
                  config: RenderConfig) -> DraftPreview:
    """Return the HTML, text and sanitized view and the preflight findings of
    one part of the draft, rendered by the code that sends, or its problems."""
    try:
        issue = parse_draft(engine=engine, draft=draft)
    except ServiceError as exc:
        return DraftPreview(problems=exc.message.splitlines())
    if not 0 <= part_index < len(issue.parts):
        return DraftPreview(problems=["その部はありません"])
    part = issue.parts[part_index]
    try:
        views = [preview(issue=issue, part=part, config=config, format=f)
                 for f in ("html", "text", "sanitized")]
    except RenderError as exc:
        return DraftPreview(problems=[f"{part_name(draft.parts[part_index], part_index)}: {exc}"])
    html, text, sanitized = (v if isinstance(v, str) else v.decode() for v in views)
    return DraftPreview(problems=[], html=html, text=text, sanitized=sanitized,
                        findings=tuple(check_part(issue=issue, part=part, config=config)))


def diff_part(*, engine: Engine, slug: str, old: int, new: int, part_index: int) -> str:
    """Return a unified diff of one part's text (as its part file) between two
    revisions; empty when the part is the same in both."""
    texts: list[list[str]] = []
    names: list[str] = []
    for number in (old, new):
        draft = get_revision(engine=engine, slug=slug, number=number).draft
        part = draft.parts[part_index] if part_index < len(draft.parts) else None
        texts.append(part_markdown(part)[0].splitlines() if part else [])
        names.append(f"第{number}版 {part_name(part, part_index) if part else '(なし)'}")
    return "\n".join(difflib.unified_diff(texts[0], texts[1], names[0], names[1], lineterm=""))


def publish_draft(*, engine: Engine, actor: Actor, slug: str, number: int) -> LoadResult:
    """Store revision `number` of the draft as the issue, exactly as
    `mailer issue load` stores a folder; return what was stored.

    Raises ServiceError: NOT_FOUND for an unknown revision, INVALID listing
    every problem of the draft, CONFLICT for a part missing that is stored.
    """
    draft = get_revision(engine=engine, slug=slug, number=number).draft
    parse_draft(engine=engine, draft=draft)  # every problem, named by part and block
    with _folder(engine, draft) as (folder, where), Session(engine) as session:
        try:
            result = load_issue(session=session, path=folder)
        except IssueFolderError as exc:
            raise ServiceError("\n".join(where_of(p, draft, where) for p in exc.problems),
                               kind=ErrorKind.CONFLICT) from None
    parts = ", ".join(_("{label}: {status}").format(label=label, status=LOAD_LABELS[status])
                      for label, status in result.parts.items())
    record_audit(engine, actor=actor.name, action="issue.publish_draft", target_type="issue",
                 target_id=result.issue_id,
                 detail=_("{slug} 第{number}版: {status}（{parts}）").format(
                     slug=slug, number=number, status=LOAD_LABELS[result.status],
                     parts=parts))
    return result
