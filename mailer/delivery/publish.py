"""The publish gate's automatic half: a part goes public when a real send of
it starts (the dispatcher calls this in the transaction that starts the send).

Editors publish and unpublish by hand through `mailer.services.publication`,
which owns the rest of the rule (who sees what). Test sends never come here:
they are not sends.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, update

from mailer.i18n import _
from mailer.models import AuditLog, Part

PART = Part.__table__  # type: ignore[attr-defined]
AUDIT = AuditLog.__table__  # type: ignore[attr-defined]
#: `part.published_by` and the audit actor when a send's start published the part
PUBLISHED_BY_SEND = "system"


def publish_on_start(conn: Connection, *, part_id: int, send_id: int, now: datetime) -> bool:
    """Mark the part public at `now` unless it already is; return True if this
    call published it (then an audit row says which send did)."""
    res = conn.execute(
        update(PART).where(PART.c.id == part_id, PART.c.published_at.is_(None))
        .values(published_at=now, published_by=PUBLISHED_BY_SEND)
    )
    if res.rowcount != 1:
        return False
    # The audit row of services.accounts.record_audit, written here because
    # the delivery layer may not import the services (docs/architecture.md).
    conn.execute(insert(AUDIT).values(
        at=now, actor=PUBLISHED_BY_SEND, action="part.publish", target_type="part",
        target_id=str(part_id), detail=_("配信 {send_id} の開始").format(send_id=send_id)))
    return True
