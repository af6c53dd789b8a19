"""Publishing use cases other than sends: storing an uploaded issue and a
test send of a part to the person asking. Each writes its audit record."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from mailer.compose.load import LoadResult
from mailer.i18n import _
from mailer.labels import LOAD_LABELS
from mailer.models import User
from mailer.services.accounts import record_audit
from mailer.services.actors import Actor
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.issue_upload import load_uploaded_issue
from mailer.services.test_send import test_send_part
from mailer.settings import Settings


def actor_email(*, engine: Engine, actor: Actor) -> str:
    """Return the actor's own address (test sends go there only).

    Raises ServiceError(CONFLICT) for an actor without a staff account or address.
    """
    user = None
    if actor.user_id is not None:
        with Session(engine) as session:
            user = session.get(User, actor.user_id)
    if user is None or not user.email:
        raise ServiceError(_("このアカウントにはメールアドレスがありません"),
                           kind=ErrorKind.CONFLICT)
    return user.email


def send_test_to_self(
    *, engine: Engine, settings: Settings, actor: Actor, part_id: int
) -> list[tuple[str, str]]:
    """Send the part, marked as a test, to the actor's own address; return
    (address, "sent" or why not). Raises ServiceError: CONFLICT for an actor
    without an address or when no relay is configured, NOT_FOUND for an
    unknown part, UNAVAILABLE for an unusable DKIM key (see test_send_part)."""
    address = actor_email(engine=engine, actor=actor)
    results = test_send_part(engine=engine, settings=settings, part_id=part_id,
                             addresses=[address])
    record_audit(engine, actor=actor.name, action="part.test_send", target_type="part",
                 target_id=part_id, detail="; ".join(f"{a}: {r}" for a, r in results))
    return results


def upload_issue(*, engine: Engine, actor: Actor, data: bytes, filename: str) -> LoadResult:
    """Store an uploaded issue zip; raises UploadError or IssueFolderError."""
    result = load_uploaded_issue(engine=engine, data=data, filename=filename)
    parts = ", ".join(_("{label}: {status}").format(label=label, status=LOAD_LABELS[status])
                      for label, status in result.parts.items())
    record_audit(engine, actor=actor.name, action="issue.upload", target_type="issue",
                 target_id=result.issue_id, detail=_("{filename}: {status}（{parts}）").format(
                     filename=filename, status=LOAD_LABELS[result.status], parts=parts))
    return result
