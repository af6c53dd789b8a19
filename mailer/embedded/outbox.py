"""The demo's outbox read back: what the SMTP sink stored, newest first.

`mailer demo --serve` hands its outbox folder to the web app, whose dashboard
then lists the newest messages and shows one as text (`stored_messages`,
`message_text`). Only names the sink makes (32 hex digits + .eml) are read.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path

STORED_NAME = re.compile(r"[0-9a-f]{32}\.eml")


@dataclass(frozen=True)
class StoredMessage:
    name: str
    to: str
    subject: str
    received_at: datetime


@dataclass(frozen=True)
class Outbox:
    folder: Path
    count: int
    newest: list[StoredMessage] = field(default_factory=list)


def stored_messages(folder: Path, *, limit: int = 10) -> Outbox:
    """How many messages `folder` holds, and the newest `limit` of them."""
    found: list[tuple[float, Path]] = []
    if folder.is_dir():
        for path in folder.iterdir():
            if STORED_NAME.fullmatch(path.name):
                try:
                    found.append((path.stat().st_mtime, path))
                except OSError:  # removed meanwhile
                    continue
    found.sort(reverse=True)
    parser = BytesHeaderParser(policy=email.policy.default)
    newest = []
    for mtime, path in found[:limit]:
        try:
            with path.open("rb") as f:
                headers = parser.parse(f)
        except OSError:
            continue
        newest.append(StoredMessage(name=path.name, to=str(headers["To"] or ""),
                                    subject=str(headers["Subject"] or ""),
                                    received_at=datetime.fromtimestamp(mtime, UTC)))
    return Outbox(folder=folder, count=len(found), newest=newest)


def message_text(folder: Path, name: str) -> str | None:
    """The message `name` as a person reads it: its main headers, then the
    plain-text part. None when there is no such stored message."""
    if not STORED_NAME.fullmatch(name):
        return None
    try:
        data = (folder / name).read_bytes()
    except OSError:
        return None
    msg = email.message_from_bytes(data, policy=email.policy.default)
    lines = [f"{h}: {msg[h]}" for h in ("From", "To", "Subject", "Date") if msg[h] is not None]
    body = msg.get_body(("plain",))
    text = body.get_content() if body is not None else ""  # type: ignore[attr-defined]
    return "\n".join(lines) + "\n\n" + str(text)
