"""Readers who asked for ISO-2022-JP but whose name it cannot carry.

ISO-2022-JP holds JIS X 0208 only: 髙, 﨑, ①, ～ (U+FF5E) and the like are
not in it (docs in mailer/render/charset.py). Whether a reader's greeting can
be carried is decided by one pure function,
`mailer.render.message.greeting_iso2022jp_problems`; this module applies it
where people see the answer: a warning per imported line, the preflight error
that names the readers, and the admin's list of them
(`/admin/subscribers?problem=iso2022jp`). A name's kanji is never replaced
here: the reader's encoding is changed to UTF-8, or a list admin corrects the
name after asking the person.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from mailer.i18n import _
from mailer.models import Membership, Subscriber, SubscriberStatus
from mailer.render.message import ISO2022JP, greeting_iso2022jp_problems
from mailer.render.preflight import Finding

SUB = Subscriber.__table__  # type: ignore[attr-defined]
MEM = Membership.__table__  # type: ignore[attr-defined]

#: The query string of the admin's subscriber list that shows these readers.
PROBLEM = "iso2022jp"
ADMIN_LIST_URL = f"/admin/subscribers?problem={PROBLEM}&status=active"
#: Readers named in one preflight message (the count covers the rest).
NAMED_IN_FINDING = 5
#: Rows read per statement while scanning the ISO-2022-JP readers.
SCAN_CHUNK = 500


def unsendable_chars(*, name: str | None, honorific: str, charset: str) -> tuple[str, ...]:
    """Return the distinct characters of the reader's greeting that their
    charset cannot carry, in order; () for a UTF-8 reader or a clean name."""
    if charset.lower() != ISO2022JP:
        return ()
    return tuple(dict.fromkeys(p.char for p in greeting_iso2022jp_problems(name, honorific)))


def _suggestions(chars: Sequence[str]) -> str:
    from mailer.render.charset import iso2022jp_problems

    shown = [p.suggestion for c in chars for p in iso2022jp_problems(c)[:1] if p.suggestion]
    return (_("（例：{examples}。人名の字は本人に確認してください）").format(
        examples="、".join(shown)) if shown else "")


def _where(chars: Sequence[str], name: str) -> str:
    """Name the field that holds the characters: 氏名 or 敬称."""
    return _("氏名") if all(c in name for c in chars) else _("氏名・敬称")


def import_warning(*, line: int, email: str, name: str, honorific: str,
                   chars: Sequence[str]) -> str:
    """Return the import's warning for one line (the row is imported all the same)."""
    shown = "".join(f"「{c}」" for c in chars)
    field = _where(chars, name)
    value = name if all(c in name for c in chars) else f"{name} {honorific}"
    return _("行 {line}: {email} の{field}「{value}」の{chars}は ISO-2022-JP で送れません。"
             "この行は取り込みましたが、直すまで配信できません。文字コードを UTF-8 にするか、"
             "購読者の編集で{field}を直してください{examples}").format(
        line=line, email=email, field=field, value=value, chars=shown,
        examples=_suggestions(chars))


@dataclass(frozen=True)
class UnsendableReader:
    """An active reader who asked for ISO-2022-JP and whose greeting it cannot carry."""

    id: int
    email: str
    name: str
    honorific: str
    chars: tuple[str, ...]

    @property
    def edit_url(self) -> str:
        return f"/admin/subscribers/{self.id}/edit"


def iter_unsendable(conn: Connection, *, list_ids: Sequence[int] | None = None,
                    active_only: bool = True) -> Iterator[UnsendableReader]:
    """Yield the ISO-2022-JP readers (on the lists, if given) whose greeting
    ISO-2022-JP cannot carry, by id. Only readers with a name are read (no
    name, no greeting); such readers are few, and the test is Python's codec,
    so they are read in keyset chunks and tested here rather than in SQL."""
    query = select(SUB.c.id, SUB.c.email, SUB.c.name, SUB.c.honorific, SUB.c.charset).where(
        SUB.c.charset == ISO2022JP, SUB.c.name != "")
    if active_only:
        query = query.where(SUB.c.status == SubscriberStatus.ACTIVE.value)
    if list_ids is not None:
        query = query.where(select(MEM.c.subscriber_id).where(
            MEM.c.list_id.in_(list(list_ids)), MEM.c.subscriber_id == SUB.c.id).exists())
    after = 0
    while True:
        rows = conn.execute(query.where(SUB.c.id > after).order_by(SUB.c.id)
                            .limit(SCAN_CHUNK)).all()
        for r in rows:
            chars = unsendable_chars(name=r.name, honorific=r.honorific, charset=r.charset)
            if chars:
                yield UnsendableReader(r.id, r.email, r.name, r.honorific, chars)
        if len(rows) < SCAN_CHUNK:
            return
        after = rows[-1].id


def preflight_finding(readers: Sequence[UnsendableReader]) -> Finding | None:
    """Return the preflight error naming the readers (the first few, and the
    count), with what to do; None when there are none."""
    if not readers:
        return None
    named = "、".join(f"{r.name} <{r.email}>（{''.join(r.chars)}）"
                     for r in readers[:NAMED_IN_FINDING])
    more = (_(" ほか {count} 名").format(count=len(readers) - NAMED_IN_FINDING)
            if len(readers) > NAMED_IN_FINDING else "")
    chars = list(dict.fromkeys(c for r in readers for c in r.chars))
    return Finding(
        "error", "iso2022jp_reader",
        _("ISO-2022-JP を選んだ購読者 {count} 名の氏名（敬称）に ISO-2022-JP で送れない字が"
          "あります：{named}{more}。購読者の編集で文字コードを UTF-8 にするか、"
          "氏名を直してください{examples}。一覧：{url}").format(
            count=len(readers), named=named, more=more, examples=_suggestions(chars),
            url=ADMIN_LIST_URL),
        _("購読者（ISO-2022-JP）"))
