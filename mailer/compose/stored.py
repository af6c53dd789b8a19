"""Reading an issue's stored documents back from the database."""

from __future__ import annotations

import json

from sqlalchemy import Engine, select

from mailer.compose.document import IssueDocument, PartDocument
from mailer.models import Issue, Part


def load_documents(engine: Engine, part_id: int) -> tuple[IssueDocument, PartDocument]:
    """Return the stored issue and part documents of a part."""
    with engine.connect() as conn:
        row = conn.execute(
            select(Part.document, Issue.document)  # type: ignore[call-overload]
            .join(Issue, Issue.id == Part.issue_id)  # type: ignore[arg-type]
            .where(Part.id == part_id)
        ).one()
    part = PartDocument.model_validate_json(row[0])
    data = json.loads(row[1])
    if not data:
        raise LookupError(f"part {part_id}: its issue has no stored document")
    # The issue row stores everything but the parts (each part has its own row).
    issue = IssueDocument.model_validate({**data, "parts": [part.model_dump()]})
    return issue, part
