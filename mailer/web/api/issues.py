"""Issues: list them, upload one as a zip of its folder."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mailer.compose.errors import IssueFolderError
from mailer.i18n import _
from mailer.services import listings
from mailer.services.issue_upload import MAX_ZIP_BYTES, UploadError
from mailer.services.publishing import upload_issue
from mailer.web.api.common import AUTH_ERRORS, Composer, Reader
from mailer.web.api.schemas import IssueLoadOut, IssueOut, IssueProblemsOut, PartSummary
from mailer.web.state import Web

router = APIRouter(tags=["issues"], responses=AUTH_ERRORS)


@router.get("/issues", response_model=list[IssueOut])
def list_issues(web: Web, _p: Reader) -> list[IssueOut]:
    """Every issue, newest number first, with its parts."""
    return [IssueOut(id=i.id, slug=i.slug, number=i.number, title=i.title, series=i.series,
                     updated_at=i.updated_at,
                     parts=[PartSummary(**vars(p)) for p in i.parts])
            for i in listings.issues(web.engine)]


@router.post("/issues", response_model=IssueLoadOut, status_code=201,
             responses={400: {"model": IssueProblemsOut}, 422: {"model": IssueProblemsOut}})
async def post_issue(web: Web, principal: Composer,
                     file: Annotated[UploadFile, File(description="the issue folder as a .zip")],
                     ) -> IssueLoadOut | JSONResponse:
    """Store an issue folder uploaded as a zip (201; 200 when nothing changed).

    An archive that cannot be read is a 400; a folder with problems (a missing
    field, a subject with a line break, …) is a 422 listing every problem as
    `file:line: message`.
    """
    data = await file.read(MAX_ZIP_BYTES + 1)
    try:
        result = await run_in_threadpool(upload_issue, engine=web.engine,
                                         actor=principal.as_actor(), data=data,
                                         filename=file.filename or "upload.zip")
    except UploadError as exc:
        body = IssueProblemsOut(detail=str(exc), problems=[str(exc)])
        return JSONResponse(body.model_dump(), status_code=400)
    except IssueFolderError as exc:
        problems = [str(p) for p in exc.problems]
        detail = _("号のフォルダに {count} 件の問題があります").format(count=len(problems))
        body = IssueProblemsOut(detail=detail,
                                problems=problems)
        return JSONResponse(body.model_dump(), status_code=422)
    out = IssueLoadOut(slug=result.slug, issue_id=result.issue_id, status=result.status.value,
                       parts={k: v.value for k, v in result.parts.items()})
    if result.status.value == "unchanged":
        return JSONResponse(out.model_dump(), status_code=200)
    return out
