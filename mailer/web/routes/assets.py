"""Images of stored issues.

Issue folders are not stored in the database yet, so images are served from
the sample issue folders only (see docs/web.md, known limits).
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from mailer.web.pages import message_page, not_found
from mailer.web.routes import READ
from mailer.web.state import Web

router = APIRouter(tags=["assets"])

SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: raster images only: an SVG may carry script
IMAGE_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".gif": "image/gif", ".webp": "image/webp",
}


def resolve_asset(root: Path, slug: str, path: str) -> Path | None:
    """Return the file `root/slug/path`, or None if it is missing, not an
    image, or outside the issue folder (`..`, absolute paths, symlinks out)."""
    if not SLUG.match(slug) or "\\" in path or "\0" in path:
        return None
    relative = Path(path)
    if relative.is_absolute() or any(p in ("..", "") for p in relative.parts):
        return None
    folder = (root / slug).resolve()
    try:
        target = (folder / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(folder) or not target.is_file():
        return None
    if target.suffix.lower() not in IMAGE_TYPES:
        return None
    return target


@router.api_route("/assets/{slug}/{path:path}", methods=READ)
def asset(slug: str, path: str, web: Web) -> Response:
    if ".." in Path(path).parts or path.startswith("/"):
        return message_page(web.pages, status_code=400, title="不正なパスです",
                            lines=["このパスの画像はお出しできません。"])
    target = resolve_asset(web.assets_root, slug, path)
    if target is None:
        return not_found(web.pages)
    return FileResponse(
        target, media_type=IMAGE_TYPES[target.suffix.lower()],
        headers={"Cache-Control": "public, max-age=86400"},
    )
