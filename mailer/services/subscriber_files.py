"""Subscriber files for staff: import a CSV (or only count what it would do)
and export one, each with its audit record, whoever asks (an `Actor`).

The format lives elsewhere: reading in `mailer.services.importer`, the upsert
in `mailer.services.subscribers.apply_import`, writing in
`mailer.services.exporter`. This module is the use case around them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import IO

from sqlalchemy import Engine

from mailer.db import session_scope
from mailer.i18n import _
from mailer.services.accounts import record_audit
from mailer.services.actors import Actor
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.exporter import export_subscribers
from mailer.services.importer import MAX_FILE_BYTES, parse_subscriber_bytes
from mailer.services.subscribers import Consent, ImportReport, NoSuchListError, apply_import

MAX_NAME = 200  # characters of an uploaded file's name kept


def safe_filename(filename: str) -> str:
    """Return the last path part of an uploaded file's name, printable, at most 200 characters."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip() or "upload.csv"
    return "".join(ch for ch in base if ch.isprintable())[:MAX_NAME] or "upload.csv"


def import_file(
    *, engine: Engine, actor: Actor, data: bytes, filename: str, list_name: str | None,
    resubscribe: bool, dry_run: bool,
) -> ImportReport:
    """Parse `data` and apply it (or only count, with `dry_run`) in one transaction,
    with an audit record when something was written; return the report.

    Raises SubscriberFileError (the file cannot be read at all) and ServiceError
    (TOO_LARGE, INVALID for an unknown list).
    """
    if len(data) > MAX_FILE_BYTES:
        raise ServiceError(_("file: {size} MB までです").format(
                               size=MAX_FILE_BYTES // 1024 // 1024),
                           kind=ErrorKind.TOO_LARGE, field="file")
    name = safe_filename(filename)
    parsed = parse_subscriber_bytes(data, name=name)
    consent = Consent(source=f"import:{name}", by=actor.name, at=datetime.now(UTC))
    try:
        with session_scope(engine) as session:
            report = apply_import(session=session, parsed=parsed, list_name=list_name,
                                  consent=consent, resubscribe=resubscribe, dry_run=dry_run)
            if dry_run:
                session.rollback()
            else:
                c = report.counts
                record_audit(session, actor=actor.name, action="subscriber.import",
                             target_type="file", target_id=name[:100], detail=_(
                                 "リスト {list}; 新規 {created}、更新 {updated}、変更なし "
                                 "{unchanged}、不正 {rejected}、抑止のため除外 {suppressed}、"
                                 "配信再開 {resubscribed}").format(
                                 list=list_name or "-", created=c.created, updated=c.updated,
                                 unchanged=c.unchanged, rejected=c.rejected,
                                 suppressed=c.skipped_suppressed,
                                 resubscribed=c.resubscribed))
    except NoSuchListError as exc:
        raise ServiceError(f"list: {exc}", kind=ErrorKind.INVALID, field="list") from None
    return report


def export_file(*, engine: Engine, actor: Actor, out: IO[bytes], list_name: str | None) -> int:
    """Write every subscriber (or one list's members) to `out` as Excel-ready CSV
    and record the export in the audit log; return the rows written.

    Raises NoSuchListError if `list_name` does not exist.
    """
    with engine.connect() as conn:
        count = export_subscribers(conn, out, list_name=list_name)
    record_audit(engine, actor=actor.name, action="subscriber.export",
                 target_type="list", target_id=list_name or "-", detail=_("{count} 行").format(
                     count=count))
    return count
