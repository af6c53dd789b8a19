"""Importing a subscriber CSV from the admin: a dry run first, then a confirmation.

The uploaded bytes wait between the two steps in a server-side file
(`{MAILER_VAR_DIR}/admin-imports/{token}.csv`) named by a random token; the
confirmation form carries only that token. A staged file belongs to the user
who uploaded it, is applied at most once (it is claimed by renaming it before
the import runs) and is deleted after an hour. Several web processes on one
host share the folder; on several hosts the confirmation must reach the host
that staged the file (sticky sessions) or it answers "expired".
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path

from mailer.i18n import _
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.subscriber_files import import_file, safe_filename
from mailer.services.subscribers import ImportReport
from mailer.web.auth import Principal
from mailer.web.state import WebState

STAGING_DIR = "admin-imports"
STAGED_SECONDS = 3600
TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


def _dir(web: WebState) -> Path:
    folder = web.settings.var_dir / STAGING_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _sweep(folder: Path) -> None:
    """Delete staged files older than STAGED_SECONDS (abandoned previews)."""
    limit = time.time() - STAGED_SECONDS
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < limit:
                path.unlink()
        except OSError:
            pass  # another process swept it first


def run_import(
    *, web: WebState, principal: Principal, data: bytes, filename: str,
    list_name: str | None, resubscribe: bool, dry_run: bool,
) -> ImportReport:
    """Import `data` as this principal (`mailer.services.subscriber_files.import_file`)."""
    return import_file(engine=web.engine, actor=principal.as_actor(), data=data,
                       filename=filename, list_name=list_name, resubscribe=resubscribe,
                       dry_run=dry_run)


def stage(*, web: WebState, principal: Principal, data: bytes, filename: str,
          list_name: str | None, resubscribe: bool) -> str:
    """Keep `data` for the confirmation step; return its token."""
    folder = _dir(web)
    _sweep(folder)
    token = secrets.token_urlsafe(32)
    meta = {"filename": safe_filename(filename), "list_name": list_name,
            "resubscribe": resubscribe, "actor": principal.actor}
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for suffix, content in ((".csv", data), (".json", json.dumps(meta).encode())):
        fd = os.open(folder / f"{token}{suffix}", flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(content)
    return token


def apply_staged(*, web: WebState, principal: Principal, token: str) -> ImportReport:
    """Apply the file staged under `token` by this principal; return the report.

    Raises ServiceError(410) when the token is unknown, expired, already used or
    someone else's, and what `run_import` raises.
    """
    gone = ServiceError(_("取り込みの確認期限が切れたか、すでに取り込み済みです。"
                         "もう一度ファイルを選んでください。"), kind=ErrorKind.GONE, field="token")
    if not TOKEN.match(token):
        raise gone
    folder = _dir(web)
    csv_path, meta_path = folder / f"{token}.csv", folder / f"{token}.json"
    try:
        meta = json.loads(meta_path.read_text())
        age = time.time() - csv_path.stat().st_mtime
    except (OSError, ValueError):
        raise gone from None
    if meta.get("actor") != principal.actor or age > STAGED_SECONDS:
        raise gone
    claimed = folder / f"{token}.applying"
    try:
        csv_path.rename(claimed)  # one confirmation wins; a second finds nothing
    except OSError:
        raise gone from None
    try:
        data = claimed.read_bytes()
        return run_import(web=web, principal=principal, data=data, filename=meta["filename"],
                          list_name=meta["list_name"], resubscribe=bool(meta["resubscribe"]),
                          dry_run=False)
    finally:
        for path in (claimed, meta_path):
            path.unlink(missing_ok=True)

