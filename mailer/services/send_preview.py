"""Who a send would reach: what a person sees before scheduling or sending now.

For a part and lists: how many subscribers the send would mail today, the
lists by name, the first few recipients by name, and the overlap, those of
them who already got the part or are getting it (`SendOverlap`). The same
conditions as the freeze (`mailer.delivery.ledger.eligible`), so the numbers
shown are the numbers sent, unless the lists change before the send starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Exists, and_, exists, func, or_, select

from mailer.delivery import ledger
from mailer.i18n import _
from mailer.models import MailingList, Membership, Part, SendList, SendOverlap, SendStatus
from mailer.services.errors import ErrorKind, ServiceError

ML = MailingList.__table__  # type: ignore[attr-defined]
MEM = Membership.__table__  # type: ignore[attr-defined]
SL = SendList.__table__  # type: ignore[attr-defined]
SEND = ledger.SEND
SUB = ledger.SUB
#: how many recipients the confirmation names
FIRST_NAMES = 5
#: sends of a part whose recipients are not frozen yet (they have no rows)
NOT_FROZEN = (SendStatus.SCHEDULED, SendStatus.PAUSED)


@dataclass(frozen=True)
class ListShown:
    name: str
    title: str


@dataclass(frozen=True)
class SendPreview:
    """What a send of `part_id` to `lists` would do if it started now."""

    part_id: int
    lists: list[ListShown]
    recipients: int  # active, unsuppressed members of the lists (each once)
    first_names: list[str]  # the first few of them (name, or the address without one)
    overlap: int  # of the recipients: already got the part, or a send will mail it to them

    def mailed(self, choice: SendOverlap) -> int:
        """How many the send would mail with this choice."""
        return self.recipients - self.overlap if choice is SendOverlap.SKIP else self.recipients

    def skipped(self, choice: SendOverlap) -> int:
        return self.overlap if choice is SendOverlap.SKIP else 0


def _lists(conn: Connection, names: Sequence[str]) -> list[tuple[int, ListShown]]:
    """The named lists in the given order; raises ServiceError(field lists) naming the missing."""
    rows = {r.name: r for r in conn.execute(
        select(ML.c.id, ML.c.name, ML.c.title).where(ML.c.name.in_(list(names))))}
    missing = [n for n in names if n not in rows]
    if missing:
        raise ServiceError(_("lists: リスト {missing} はありません").format(
                               missing="、".join(missing)),
                           kind=ErrorKind.INVALID, field="lists")
    return [(rows[n].id, ListShown(name=n, title=rows[n].title or n)) for n in names]


def _awaited(part_id: int, subscriber_id: Any) -> Exists:
    """EXISTS: the subscriber is on a list of another send of the part that has
    not frozen its recipients yet (scheduled, or paused before it started)."""
    other = and_(SEND.c.part_id == part_id,
                 SEND.c.status.in_([s.value for s in NOT_FROZEN]),
                 SEND.c.started_at.is_(None),
                 SL.c.send_id == SEND.c.id,
                 MEM.c.list_id == SL.c.list_id,
                 MEM.c.subscriber_id == subscriber_id)
    return exists().where(other)


def send_preview(*, engine: Engine, part_id: int, list_names: Sequence[str]) -> SendPreview:
    """Return who a send of the part to the named lists would reach now.

    Raises ServiceError: INVALID (field `lists`) for no list or an unknown one,
    NOT_FOUND for an unknown part.
    """
    names = [n for n in dict.fromkeys(list_names) if n]
    if not names:
        raise ServiceError(_("lists: 配信先のリストを1つ以上選んでください"),
                           kind=ErrorKind.INVALID, field="lists")
    with engine.connect() as conn:
        if conn.execute(select(Part.id).where(Part.id == part_id)).scalar() is None:  # type: ignore[call-overload, arg-type]
            raise ServiceError(_("パート {part_id} はありません").format(
                                   part_id=part_id), kind=ErrorKind.NOT_FOUND)
        shown = _lists(conn, names)
        ids = [i for i, _ in shown]
        every = ledger.eligible(ids, part_id, again=True)
        recipients = conn.execute(select(func.count()).select_from(SUB).where(*every)
                                  ).scalar_one()
        overlap = conn.execute(
            select(func.count()).select_from(SUB).where(
                *every, or_(ledger.holding_part(part_id, SUB.c.id),
                            _awaited(part_id, SUB.c.id)))
        ).scalar_one()
        first = conn.execute(
            select(SUB.c.name, SUB.c.email).where(*every).order_by(SUB.c.id).limit(FIRST_NAMES)
        ).all()
    return SendPreview(part_id=part_id, lists=[s for _, s in shown], recipients=int(recipients),
                       first_names=[r.name or r.email for r in first], overlap=int(overlap))
