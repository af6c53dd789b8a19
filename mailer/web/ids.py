"""Numbers in URLs are ids, and no id is beyond a 32-bit integer.

Python's int has no bound, so `/admin/parts/99999999999999999999` used to reach
the database and fail there (SQLite: "Python int too large", PostgreSQL: out
of range) as a 500. One app-wide dependency answers such a URL before the
route runs: a path segment of digits beyond `MAX_ID` is a page that does not
exist (404); an id-carrying query value (`after`, `list`, `page`, `*_id`) beyond it is
a bad request (400), each as
the app's usual Japanese page or JSON. JSON bodies are bounded by their schema
(`Field(le=MAX_ID)` in `mailer/web/api/schemas.py`), API parameters by
`mailer/web/api/common.py`'s `Id` and `After`.
"""

from __future__ import annotations

from fastapi import HTTPException, Request

from mailer.i18n import _

#: ids in URLs (parts, sends, subscribers, lists) are INTEGER columns in PostgreSQL
MAX_ID = 2_147_483_647


def _too_big(text: str) -> bool:
    digits = text.lstrip("+-")
    return digits.isascii() and digits.isdigit() and int(digits) > MAX_ID


#: query parameters that carry ids (a search text of digits is not an id)
ID_QUERY_NAMES = frozenset({"after", "list", "page"})


def _is_id_name(name: str) -> bool:
    return name in ID_QUERY_NAMES or name.endswith("_id")


def out_of_range(path_values: list[str], query_values: list[str]) -> int | None:
    """Return the status to answer (404 for the path, 400 for the query) or None."""
    if any(_too_big(value) for value in path_values):
        return 404
    if any(_too_big(value) for value in query_values):
        return 400
    return None


async def ids_in_range(request: Request) -> None:
    """FastAPI dependency of every route: refuse numbers no id can have.

    The API declares its own bounds (`Id`, `After`: a 422 naming the field),
    so only the admin and public pages are checked here.
    """
    if request.url.path.startswith("/api/"):
        return
    status = out_of_range([str(v) for v in request.path_params.values()],
                          [v for k, v in request.query_params.multi_items() if _is_id_name(k)])
    if status == 404:
        raise HTTPException(404, _("ページが見つかりません。"))
    if status == 400:
        raise HTTPException(400, _("URL の数値が大きすぎます。"))
