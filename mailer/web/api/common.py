"""What every API route shares: bounded ids, principals per role, error responses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query

from mailer.web.admin.common import APPROVE, COMPOSE, CONTROL, READ_SENDS, READ_SUBSCRIBERS
from mailer.web.api.schemas import ApiError
from mailer.web.auth import Principal, require
from mailer.web.ids import MAX_ID

NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
After = Annotated[int | None, Query(ge=0, le=MAX_ID, description="keyset: ids above this")]
Limit = Annotated[int, Query(ge=1, le=200)]
Search = Annotated[str, Query(max_length=200, pattern=NO_NUL)]

Reader = Annotated[Principal, Depends(require(*READ_SENDS))]
People = Annotated[Principal, Depends(require(*READ_SUBSCRIBERS))]
Composer = Annotated[Principal, Depends(require(*COMPOSE))]
Controller = Annotated[Principal, Depends(require(*CONTROL))]
Approver = Annotated[Principal, Depends(require(*APPROVE))]


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return the `responses` entry documenting these error statuses."""
    return {code: {"model": ApiError} for code in codes}


AUTH_ERRORS = errors(401, 403, 422)
