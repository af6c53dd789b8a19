"""Images of stored issues: `GET /assets/{slug}/{path}`.

`load_issue` keeps the bytes of every image an issue uses in the database
(`issue_asset`), so any web host serves them. A path not stored there is
looked up in the bundled sample folders (`web.assets_root`), as before the
images were stored: the sample issue's images resolve even before `mailer
demo` loads it.

The publish gate (`mailer.services.publication.image_visible`) decides who
gets an image of a stored issue: anyone when a published part uses it,
signed-in staff always, and the holder of a preview link
(`/preview/TOKEN/assets/…`) when the previewed part uses it; others get 404.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from sqlmodel import Session, col, select

from mailer.compose.images import IMAGE_TYPES, asset_path
from mailer.i18n import _
from mailer.models import Issue, IssueAsset
from mailer.services.publication import (
    ANYONE,
    PREVIEW_PREFIX,
    Viewer,
    image_visible,
    preview_part_id,
)
from mailer.web.pages import message_page, not_found
from mailer.web.routes import READ
from mailer.web.routes.viewer import viewer_of
from mailer.web.state import Web, WebState

router = APIRouter(tags=["assets"])

SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: images do not change under a URL often; a replaced one is revalidated by its ETag
CACHE_CONTROL = "public, max-age=86400"
#: an image of an unpublished part, served to staff or a preview link: kept by no cache
PRIVATE_CACHE_CONTROL = "private, no-store"
NOSNIFF = {"X-Content-Type-Options": "nosniff"}


def safe_path(slug: str, path: str) -> str | None:
    """Return `path` as a stored asset's key (`images/a.png`), or None if it
    cannot name an image of the issue folder (`..`, absolute paths,
    backslashes, NUL, a bad slug or a suffix that is not a raster image)."""
    if not SLUG.match(slug) or "\\" in path or "\0" in path:
        return None
    relative = PurePosixPath(path)
    if relative.is_absolute() or any(p in ("..", "") for p in relative.parts):
        return None
    if relative.suffix.lower() not in IMAGE_TYPES:
        return None
    return asset_path(path)


def resolve_asset(root: Path, slug: str, path: str) -> Path | None:
    """Return the file `root/slug/path`, or None if it is missing, not an
    image, or outside the issue folder (`..`, absolute paths, symlinks out)."""
    if safe_path(slug, path) is None:
        return None
    folder = (root / slug).resolve()
    try:
        target = (folder / Path(path)).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(folder) or not target.is_file():
        return None
    if target.suffix.lower() not in IMAGE_TYPES:
        return None
    return target


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Return True if an `If-None-Match` header names `etag` (weak comparison,
    RFC 9110 13.1.2) or is `*`."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    candidates = (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))
    return etag in candidates


@router.api_route("/assets/{slug}/{path:path}", methods=READ)
def asset(slug: str, path: str, request: Request, web: Web) -> Response:
    """An image of an issue, for whoever the publish gate lets see it."""
    return _asset(slug, path, request, web, viewer_of(request))


@router.api_route(PREVIEW_PREFIX + "/{token}/assets/{slug}/{path:path}", methods=READ)
def preview_asset(token: str, slug: str, path: str, request: Request, web: Web) -> Response:
    """An image of the part a preview link names (404 for a forged or expired link)."""
    part_id = preview_part_id(web.settings.secret_keys, token)
    if part_id is None:
        return not_found(web.pages)
    return _asset(slug, path, request, web, Viewer(preview_part_id=part_id))


def _asset(slug: str, path: str, request: Request, web: WebState, viewer: Viewer) -> Response:
    if ".." in Path(path).parts or path.startswith("/"):
        return message_page(
            web.pages,
            status_code=400,
            title=_("不正なパスです"),
            lines=[_("このパスの画像はお出しできません。")],
        )
    key = safe_path(slug, path)
    if key is None or not image_visible(engine=web.engine, slug=slug, key=key, viewer=viewer):
        return not_found(web.pages)
    public = viewer is ANYONE or image_visible(engine=web.engine, slug=slug, key=key,
                                               viewer=ANYONE)
    cache = CACHE_CONTROL if public else PRIVATE_CACHE_CONTROL
    stored = _stored(web, slug, key, request, cache)
    if stored is not None:
        return stored
    target = resolve_asset(web.assets_root, slug, path)
    if target is None:
        return not_found(web.pages)
    return FileResponse(
        target,
        media_type=IMAGE_TYPES[target.suffix.lower()],
        headers={"Cache-Control": cache, **NOSNIFF},
    )


def _stored(web: WebState, slug: str, key: str, request: Request,
            cache: str) -> Response | None:
    """Return the stored image `key` of issue `slug` (304 when the client has
    it, headers only for HEAD), or None when the database has no such image."""
    with Session(web.engine) as session:
        found = session.exec(
            select(IssueAsset.id, IssueAsset.media_type, IssueAsset.sha256, IssueAsset.size)
            .join(Issue, col(Issue.id) == col(IssueAsset.issue_id))
            .where(Issue.slug == slug, IssueAsset.path == key)
        ).first()
        if found is None:
            return None
        asset_id, media_type, sha256, size = found
        etag = f'"{sha256}"'
        headers = {"Cache-Control": cache, "ETag": etag, **NOSNIFF}
        if etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        if request.method == "HEAD":
            return Response(media_type=media_type, headers={**headers, "Content-Length": str(size)})
        data = session.exec(select(IssueAsset.data).where(IssueAsset.id == asset_id)).one()
    return Response(content=data, media_type=media_type, headers=headers)
