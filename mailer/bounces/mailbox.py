"""Import bounces that were delivered to a mailbox (Maildir or mbox).

For sites whose MTA already stores mail for the bounce domain: each message
goes through the same `process_inbound` as the SMTP receiver. The envelope is
gone by then, so the recipient is read back from Delivered-To, X-Original-To
or To, and the sender from Return-Path.
"""

from __future__ import annotations

import email
import mailbox
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.utils import getaddresses
from pathlib import Path

from sqlalchemy import Engine

from mailer.bounces.classify import InboundKind
from mailer.bounces.inbound import InboundConfig, accepts_recipient, process_inbound
from mailer.bounces.reports import address_of, header

RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "To")


class MailboxError(ValueError):
    """PATH is neither a Maildir nor an mbox; the message says what it is."""


@dataclass(frozen=True)
class Unmatched:
    """A message that was stored but could not be acted on: kind and why."""

    key: str
    kind: str
    subject: str
    summary: str


@dataclass
class ImportReport:
    """What an import did: how many of each kind, and the ones needing a look."""

    counts: Counter[str] = field(default_factory=Counter)
    unmatched: list[Unmatched] = field(default_factory=list)
    total: int = 0


def detect(path: Path) -> str:
    """Return "maildir" or "mbox" for `path`; raise MailboxError otherwise."""
    if path.is_dir():
        if all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
            return "maildir"
        raise MailboxError(f"{path}: a directory without cur/, new/ and tmp/ is not a Maildir")
    if path.is_file():
        with path.open("rb") as fh:
            head = fh.read(5)
        if head == b"From " or head == b"":
            return "mbox"
        raise MailboxError(f"{path}: not an mbox (it does not start with a 'From ' line)")
    raise MailboxError(f"{path}: no such file or directory")


def read_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield (key, raw bytes) for each message of the Maildir or mbox at `path`.

    Keys are Maildir file names or 1-based mbox positions. Raises MailboxError.
    """
    kind = detect(path)
    box: mailbox.Mailbox = (
        mailbox.Maildir(path, factory=None, create=False) if kind == "maildir"
        else mailbox.mbox(path, factory=None, create=False)
    )
    try:
        for n, key in enumerate(sorted(box.keys()) if kind == "maildir" else box.keys(), 1):
            raw = box.get_bytes(key)
            yield (str(key) if kind == "maildir" else f"#{n}"), raw
    finally:
        box.close()


def envelope_of(raw: bytes, *, domain: str) -> tuple[str, str]:
    """Return (mail_from, rcpt_to) recovered from a stored message's header.

    The recipient is the first bounce or unsubscribe address at `domain` in
    Delivered-To, X-Original-To or To, in that order; failing that, the first
    address in any of them; failing that, "".
    """
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    candidates: list[str] = []
    for name in RECIPIENT_HEADERS:
        values = [str(v) for v in msg.get_all(name, [])]
        candidates.extend(addr for _, addr in getaddresses(values) if addr)
    rcpt = next((a for a in candidates if accepts_recipient(a, domain=domain)),
                candidates[0] if candidates else "")
    return address_of(header(msg, "Return-Path")), rcpt


def import_mailbox(*, engine: Engine, config: InboundConfig, path: Path) -> ImportReport:
    """Process every message at `path` like one received by SMTP; return the report.

    Each message is its own transaction, so one bad message does not undo the
    rest. Raises MailboxError when `path` is not a Maildir or an mbox.
    """
    report = ImportReport()
    for key, raw in read_messages(path):
        mail_from, rcpt_to = envelope_of(raw, domain=config.domain)
        row = process_inbound(engine=engine, config=config, raw=raw, mail_from=mail_from,
                              rcpt_to=rcpt_to)
        report.total += 1
        report.counts[row.kind] += 1
        acted = row.delivery_id is not None or row.subscriber_id is not None
        if row.kind == InboundKind.UNKNOWN.value or not acted:
            subject = header(email.message_from_bytes(raw, policy=policy.compat32), "Subject")
            report.unmatched.append(Unmatched(key=key, kind=row.kind, subject=subject[:80],
                                              summary=row.summary))
    return report
