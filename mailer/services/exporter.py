"""Export subscribers as a CSV that Excel opens correctly.

UTF-8 with a BOM (without it Japanese Excel reads the file as Shift_JIS),
CRLF line ends, Japanese headers, and every cell that a spreadsheet could take
for a formula neutralised with a leading apostrophe (OWASP "CSV Injection").
The importer undoes that apostrophe, so export → import changes nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO, Any

from sqlalchemy import Connection, select

from mailer.i18n import _
from mailer.models import MailingList, Membership, Subscriber
from mailer.services.importer import FORMULA_TRIGGERS, UTF8_BOM
from mailer.services.subscriber_fields import FIELDS, STATUS_LABELS
from mailer.services.subscribers import NoSuchListError

SUB = Subscriber.__table__  # type: ignore[attr-defined]
MEM = Membership.__table__  # type: ignore[attr-defined]
ML = MailingList.__table__  # type: ignore[attr-defined]

#: every declared field, in its order; the header is their labels
COLUMNS = tuple(f.name for f in FIELDS)
HEADER = [f.label for f in FIELDS]
__all__ = ["COLUMNS", "HEADER", "STATUS_LABELS", "export_rows", "export_subscribers",
           "neutralise", "write_csv"]
_FETCH = 2000  # rows fetched per round trip; the file is written as it streams


def neutralise(cell: str) -> str:
    """Return the cell with a leading apostrophe if it could start a formula."""
    return "'" + cell if cell and cell[0] in FORMULA_TRIGGERS else cell


def _cells(row: Any) -> list[str]:
    # Choices are written as people know them (テキスト, ISO-2022-JP, 配信停止);
    # the importer reads each of them back.
    return [neutralise(f.display(getattr(row, f.name) or "")) for f in FIELDS]


def export_rows(conn: Connection, *, list_name: str | None = None) -> Iterator[list[str]]:
    """Yield the header, then one list of cells per subscriber (by id).

    Raises NoSuchListError if `list_name` does not exist.
    """
    stmt = select(*(SUB.c[name] for name in COLUMNS)).order_by(SUB.c.id)
    if list_name is not None:
        list_id = conn.execute(select(ML.c.id).where(ML.c.name == list_name)).scalar()
        if list_id is None:
            raise NoSuchListError(_("リスト「{name}」はありません").format(name=list_name))
        stmt = stmt.join(MEM, MEM.c.subscriber_id == SUB.c.id).where(MEM.c.list_id == list_id)
    yield HEADER
    for row in conn.execute(stmt.execution_options(yield_per=_FETCH)):
        yield _cells(row)


def write_csv(rows: Iterator[list[str]], out: IO[bytes]) -> int:
    """Write rows as Excel-ready CSV bytes (BOM, CRLF); return the data rows written."""
    out.write(UTF8_BOM)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    count = -1  # the header is not a data row
    for row in rows:
        writer.writerow(row)
        count += 1
        if buffer.tell() > 1 << 16:
            out.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
    out.write(buffer.getvalue().encode("utf-8"))
    return max(count, 0)


def export_subscribers(conn: Connection, out: IO[bytes], *, list_name: str | None = None) -> int:
    """Write every subscriber (or a list's members) to `out`; return how many."""
    return write_csv(export_rows(conn, list_name=list_name), out)
