"""The publish gate: when a part may be read by the public.

A part is public (its archive page, its entry in the Atom feed, its images)
from `part.published_at` on: set when its first real send starts
(`mailer.delivery.publish`, in the dispatcher's transaction) or when an
editor publishes it here. Before that, signed-in staff see it, and a signed
preview link (`preview_token`, 14 days) opens it for a test send's reader.
Editors can take a part back (unpublish); both are audited.

The web routes ask this module, and nothing else, what is visible.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, Engine, select, update

from mailer.compose.document import PartDocument
from mailer.compose.images import asset_path
from mailer.compose.load import part_image_sources
from mailer.delivery.publish import PUBLISHED_BY_SEND
from mailer.i18n import _
from mailer.labels import tokyo
from mailer.models import Issue, Part
from mailer.render.types import RenderConfig
from mailer.services.accounts import record_audit
from mailer.services.actors import Actor
from mailer.services.errors import ErrorKind, ServiceError
from mailer.tokens import preview_token, read_preview_token

PART = Part.__table__  # type: ignore[attr-defined]
ISSUE = Issue.__table__  # type: ignore[attr-defined]
#: the first path segment of a preview link: /preview/TOKEN/archive/… and /preview/TOKEN/assets/…
PREVIEW_PREFIX = "/preview"

__all__ = ["PUBLISHED_BY_SEND", "Publication", "is_public", "publish_part", "unpublish_part"]


@dataclass(frozen=True)
class Publication:
    """A part's state at the gate: public since `published_at` (by whom), or not."""

    part_id: int
    published_at: datetime | None
    published_by: str

    @property
    def public(self) -> bool:
        return self.published_at is not None


def utcnow() -> datetime:
    return datetime.now(UTC)


def public_clause() -> ColumnElement[bool]:
    """The WHERE clause selecting public parts (for listings over `part`)."""
    return PART.c.published_at.is_not(None)


def _no_part(part_id: int) -> ServiceError:
    return ServiceError(_("パート {part_id} はありません").format(
                            part_id=part_id), kind=ErrorKind.NOT_FOUND)


def publication(*, engine: Engine, part_id: int) -> Publication:
    """Return the part's state at the gate; raises ServiceError(NOT_FOUND)."""
    with engine.connect() as conn:
        row = conn.execute(select(PART.c.published_at, PART.c.published_by)
                           .where(PART.c.id == part_id)).one_or_none()
    if row is None:
        raise _no_part(part_id)
    return Publication(part_id, _utc(row.published_at), row.published_by)


def is_public(*, engine: Engine, part_id: int) -> bool:
    """Return True if anyone may read the part; raises ServiceError(NOT_FOUND)."""
    return publication(engine=engine, part_id=part_id).public


def publish_part(*, engine: Engine, actor: Actor, part_id: int,
                 now: datetime | None = None) -> datetime:
    """Make the part public now (archive, feed, images); return when.

    Raises ServiceError: NOT_FOUND for an unknown part, CONFLICT when it is
    public already. Audited as `part.publish`.
    """
    now = now or utcnow()
    with engine.begin() as conn:
        current = _locked(conn, part_id)
        if current.published_at is not None:
            since = tokyo(current.published_at)
            raise ServiceError(_("パート {part_id} はすでに公開中です（{since} から）").format(
                                   part_id=part_id, since=since),
                               kind=ErrorKind.CONFLICT)
        res = conn.execute(update(PART).where(PART.c.id == part_id, PART.c.published_at.is_(None))
                           .values(published_at=now, published_by=actor.name))
        if res.rowcount != 1:
            raise ServiceError(_("パート {part_id} は変更中でした。もう一度お試しください").format(
                                   part_id=part_id),
                               kind=ErrorKind.CONFLICT)
        record_audit(conn, actor=actor.name, action="part.publish", target_type="part",
                     target_id=part_id, detail=_("手動で公開"))
    return now


def unpublish_part(*, engine: Engine, actor: Actor, part_id: int) -> None:
    """Take the part back from the public: its archive page, feed entry and
    images answer 404 again (staff and preview links still see it). A send of
    it that starts later publishes it again.

    Raises ServiceError: NOT_FOUND for an unknown part, CONFLICT when it is
    not public. Audited as `part.unpublish` with when it had gone public.
    """
    with engine.begin() as conn:
        current = _locked(conn, part_id)
        if current.published_at is None:
            raise ServiceError(_("パート {part_id} は公開されていません").format(
                                   part_id=part_id), kind=ErrorKind.CONFLICT)
        res = conn.execute(update(PART).where(PART.c.id == part_id,
                                              PART.c.published_at.is_not(None))
                           .values(published_at=None, published_by=""))
        if res.rowcount != 1:
            raise ServiceError(_("パート {part_id} は変更中でした。もう一度お試しください").format(
                                   part_id=part_id),
                               kind=ErrorKind.CONFLICT)
        record_audit(conn, actor=actor.name, action="part.unpublish", target_type="part",
                     target_id=part_id,
                     detail=_("{since} から公開（公開した人: {by}）").format(
                         since=current.published_at.isoformat(),
                         by=current.published_by or "?"))


def _locked(conn: Connection, part_id: int) -> Publication:
    query = select(PART.c.published_at, PART.c.published_by).where(PART.c.id == part_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    if row is None:
        raise _no_part(part_id)
    return Publication(part_id, _utc(row.published_at), row.published_by)


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive values; they are UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- preview links -------------------------------------------------------------

def preview_base_url(*, base_url: str, secrets: Sequence[str], part_id: int,
                     now: float | None = None) -> str:
    """Return the base URL under which the part's web version and images open
    without signing in, for PREVIEW_LIFETIME: `{base_url}/preview/{token}`."""
    return f"{base_url}{PREVIEW_PREFIX}/{preview_token(secrets, part_id=part_id, now=now)}"


def preview_part_id(secrets: Sequence[str], token: str) -> int | None:
    """Return the part a preview token opens, or None (forged, altered, expired)."""
    return read_preview_token(secrets, token)


def preview_render_config(*, engine: Engine, config: RenderConfig, secrets: Sequence[str],
                      part_id: int) -> RenderConfig:
    """Return the render configuration for what staff look at before a part
    is public (a test send, the admin and API previews, a downloaded .eml):
    `config` as it is for a public part; for an unpublished one, its web
    version and image URLs go through a preview link, so they open without
    a session."""
    if is_public(engine=engine, part_id=part_id):
        return config
    return replace(config, base_url=preview_base_url(base_url=config.base_url, secrets=secrets,
                                                     part_id=part_id))


# -- what the public, staff and preview links may see -------------------------

@dataclass(frozen=True)
class Viewer:
    """Who is asking at a public route: signed-in staff, the holder of a valid
    preview link of one part, or anyone."""

    staff: bool = False
    preview_part_id: int | None = None

    def may_see(self, part_id: int, published_at: datetime | None) -> bool:
        return published_at is not None or self.staff or self.preview_part_id == part_id


ANYONE = Viewer()


def image_visible(*, engine: Engine, slug: str, key: str, viewer: Viewer) -> bool:
    """Return True if the image `key` (a stored asset path) of issue `slug` may
    be served to `viewer`: to staff always; else when a part the viewer may
    see uses it. An issue not stored at all is not gated (the bundled sample
    images are served before `mailer demo` loads them)."""
    if viewer.staff:
        return True
    with engine.connect() as conn:
        issue_id = conn.execute(select(ISSUE.c.id).where(ISSUE.c.slug == slug)).scalar()
        if issue_id is None:
            return True
        parts = conn.execute(select(PART.c.id, PART.c.published_at, PART.c.updated_at)
                             .where(PART.c.issue_id == issue_id)).all()
    seen = [p for p in parts if viewer.may_see(p.id, p.published_at)]
    if not seen:
        return False
    if len(seen) == len(parts):
        return True  # every part is visible: so is every image of the issue
    return any(key in _image_keys(engine, p.id, p.updated_at) for p in seen)


@functools.lru_cache(maxsize=256)
def _image_keys(engine: Engine, part_id: int, updated_at: datetime) -> frozenset[str]:
    # Keyed by updated_at: a reloaded part is read again. Parsing a document
    # per image request would cost more than serving the image.
    with engine.connect() as conn:
        doc = conn.execute(select(PART.c.document).where(PART.c.id == part_id)).scalar()
    if doc is None:
        return frozenset()
    part = PartDocument.model_validate_json(doc)
    return frozenset(asset_path(src) for src in part_image_sources(part))
