"""Retention: compact the ledger of old sends into per-state counts.

The ledger holds one row per (send, subscriber), with the address as frozen.
A year after a send has finished those rows are no longer needed to deliver
anything, only to report how the send went; so its counts move into
`Send.counts_json` (a JSON object, delivery state -> number of rows) and the
rows are deleted.

`counts_json` means "rows that are no longer in the ledger": compaction puts
every row of a send there, an erasure (mailer.services.privacy) the rows of
one person. `final_counts` adds it to what the ledger still holds, so a
send's counts stay whole whichever of the two removed its rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, delete, func, select, update

from mailer.delivery import ledger
from mailer.i18n import _
from mailer.models import Delivery, DeliveryStatus, Send, SendStatus

SEND = Send.__table__  # type: ignore[attr-defined]
D = Delivery.__table__  # type: ignore[attr-defined]

#: Suggested age before a finished send's ledger rows are compacted.
DEFAULT_RETENTION_DAYS = 400
#: Sends whose ledger may be compacted: nothing of theirs is still owed a delivery.
FINISHED = (SendStatus.DONE.value, SendStatus.CANCELLED.value)


class NoSuchSendError(LookupError):
    """The send id names no send."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_counts(text: str) -> dict[str, int]:
    """Return the state -> count object stored in `Send.counts_json` ({} when empty)."""
    if not text.strip():
        return {}
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"counts_json is not a JSON object: {text[:80]!r}")
    return {str(k): int(v) for k, v in data.items()}


def add_removed_counts(
    conn: Connection, send_id: int, counts: Mapping[DeliveryStatus, int]
) -> None:
    """Add the counts of ledger rows about to be deleted to the send's `counts_json`.

    Runs in the caller's transaction, which should hold the send row (or the
    SQLite write lock) so that two writers do not lose each other's counts.
    """
    stored = conn.execute(select(SEND.c.counts_json).where(SEND.c.id == send_id)).scalar_one()
    merged = parse_counts(stored)
    for status, n in counts.items():
        if n:
            merged[status.value] = merged.get(status.value, 0) + int(n)
    # Every state written out, in the enum's order, so the object reads the same way
    # whichever rows were removed; unknown keys (a future state) are kept.
    ordered = {s.value: merged.pop(s.value, 0) for s in DeliveryStatus}
    ordered.update(merged)
    conn.execute(update(SEND).where(SEND.c.id == send_id)
                 .values(counts_json=json.dumps(ordered)))


def final_counts(*, engine: Engine, send_id: int) -> dict[DeliveryStatus, int]:
    """Return the number of deliveries of a send in each state.

    The ledger rows still present plus the counts kept in `counts_json` for
    rows that compaction or an erasure removed. Raises NoSuchSendError.
    """
    with engine.connect() as conn:
        stored = conn.execute(select(SEND.c.counts_json).where(SEND.c.id == send_id)).first()
        if stored is None:
            raise NoSuchSendError(_("配信 {send_id} はありません").format(send_id=send_id))
        counts = ledger.count_by_status(conn, send_id)
    for key, n in parse_counts(stored.counts_json).items():
        try:
            counts[DeliveryStatus(key)] += n
        except ValueError:  # a state this version does not know: not counted
            continue
    return counts


def compact_old_deliveries(
    *, engine: Engine, older_than: timedelta, now: datetime | None = None
) -> int:
    """Compact the ledger of sends done or cancelled before `now - older_than`.

    Each send is compacted in its own transaction: its per-state counts are
    added to `counts_json` and its delivery rows deleted. A done send's
    finish time is `finished_at`; a cancelled send has none, so the time it
    was last changed counts. Returns the number of delivery rows deleted.
    """
    if older_than <= timedelta(0):
        raise ValueError(_("older_than は正の期間にしてください"))
    cutoff = (now or utcnow()) - older_than
    ended = func.coalesce(SEND.c.finished_at, SEND.c.updated_at)
    old = (SEND.c.status.in_(FINISHED), ended < cutoff)
    with engine.connect() as conn:
        send_ids = list(conn.execute(
            select(SEND.c.id).where(*old, select(D.c.id).where(D.c.send_id == SEND.c.id).exists())
            .order_by(SEND.c.id)
        ).scalars())
    deleted = 0
    for send_id in send_ids:
        with engine.begin() as conn:
            # Lock the send and check again: `resend-failed` may have reopened it.
            still = conn.execute(
                select(SEND.c.id).where(SEND.c.id == send_id, *old).with_for_update()
            ).first()
            if still is None:
                continue
            add_removed_counts(conn, send_id, ledger.count_by_status(conn, send_id))
            deleted += int(conn.execute(delete(D).where(D.c.send_id == send_id)).rowcount or 0)
    return deleted


__all__ = [
    "DEFAULT_RETENTION_DAYS", "NoSuchSendError", "add_removed_counts", "compact_old_deliveries",
    "final_counts", "parse_counts",
]
