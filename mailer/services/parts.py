"""Parts: stored documents, preflight checks, previews, test sends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from mailer.compose.document import IssueDocument, PartDocument
from mailer.compose.stored import load_documents
from mailer.i18n import _
from mailer.models import Membership, SendList, Subscriber, SubscriberStatus
from mailer.render.errors import RenderError
from mailer.render.message import RenderConfig
from mailer.render.preflight import Finding, check_part
from mailer.render.preview import PreviewFormat, preview
from mailer.render.types import Recipient
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.iso2022jp_readers import (
    UnsendableReader,
    iter_unsendable,
    preflight_finding,
)


class PartNotFound(LookupError):
    pass


def documents(*, engine: Engine, part_id: int) -> tuple[IssueDocument, PartDocument]:
    """Return (issue, part) documents; raise PartNotFound naming the id."""
    try:
        return load_documents(engine, part_id)
    except Exception as exc:
        from sqlalchemy.exc import NoResultFound

        if isinstance(exc, NoResultFound):
            raise PartNotFound(_("パート {part_id} はありません").format(part_id=part_id)) from None
        raise


def iso2022jp_subscribers(*, engine: Engine, list_ids: Sequence[int] | None = None) -> list[str]:
    """Return the active subscribers who asked for ISO-2022-JP (on the lists, if given)."""
    sub = Subscriber.__table__  # type: ignore[attr-defined]
    mem = Membership.__table__  # type: ignore[attr-defined]
    query = select(sub.c.email).where(
        sub.c.charset == "iso-2022-jp", sub.c.status == SubscriberStatus.ACTIVE.value
    )
    if list_ids is not None:
        query = query.where(
            sub.c.id.in_(select(mem.c.subscriber_id).where(mem.c.list_id.in_(list(list_ids))))
        )
    with engine.connect() as conn:
        return sorted(conn.execute(query.order_by(sub.c.email)).scalars())


@dataclass(frozen=True)
class PreflightReport:
    findings: list[Finding]
    iso2022jp_recipients: list[str]
    #: ISO-2022-JP readers whose name it cannot carry (an error finding names them)
    unsendable_readers: list[UnsendableReader] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]


def preflight(
    *, engine: Engine, part_id: int, config: RenderConfig, list_ids: Sequence[int] | None = None
) -> PreflightReport:
    """Run the preflight check of a part for the given lists (all subscribers if None)."""
    issue, part = documents(engine=engine, part_id=part_id)
    iso = iso2022jp_subscribers(engine=engine, list_ids=list_ids)
    findings = check_part(issue=issue, part=part, config=config, iso2022jp_recipients=len(iso))
    with engine.connect() as conn:
        unsendable = list(iter_unsendable(conn, list_ids=list_ids))
    reader_error = preflight_finding(unsendable)
    if reader_error is not None:
        findings.append(reader_error)
    return PreflightReport(findings=findings, iso2022jp_recipients=iso,
                           unsendable_readers=unsendable)


def send_preflight_errors(*, engine: Engine, send_id: int, config: RenderConfig) -> list[str]:
    """Return the preflight errors that block a send (empty: it may start)."""
    from mailer.models import Send

    sl = SendList.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        part_id = conn.execute(
            select(Send.__table__.c.part_id).where(Send.__table__.c.id == send_id)  # type: ignore[attr-defined]
        ).scalar_one()
        list_ids = list(conn.execute(select(sl.c.list_id).where(sl.c.send_id == send_id)).scalars())
    report = preflight(engine=engine, part_id=part_id, config=config, list_ids=list_ids)
    return [f"{f.where}: {f.message}" if f.where else f.message for f in report.errors]



def preview_part(*, engine: Engine, part_id: int, config: RenderConfig,
                 format: PreviewFormat, recipient: Recipient | None = None) -> str | bytes:
    """Return the part as `recipient` (a preview persona by default) gets it.

    Raises PartNotFound, and ServiceError(INVALID) in Japanese when the part
    cannot become a message (a header value with a control character stored
    before the front matter was checked, a charset the recipient cannot get).
    """
    issue, part = documents(engine=engine, part_id=part_id)
    try:
        return preview(issue=issue, part=part, config=config, format=format,
                       recipient=recipient)
    except RenderError as exc:
        raise ServiceError(_("このパートからメールを作れません: {exc}").format(exc=exc),
                           kind=ErrorKind.INVALID) from None
