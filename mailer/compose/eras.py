"""Dates written by editors: the Japanese era calendar (令和8年10月15日) or ISO.

Only the modern eras are accepted; each has its first day, and a date before
an era began (令和1年4月30日) is refused rather than silently moved.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from mailer.i18n import _

ERAS: dict[str, date] = {
    "令和": date(2019, 5, 1),
    "平成": date(1989, 1, 8),
    "昭和": date(1926, 12, 25),
}
_ERA_NEXT: dict[str, date | None] = {
    "令和": None,
    "平成": date(2019, 5, 1),
    "昭和": date(1989, 1, 8),
}

_ERA_RE = re.compile(r"^(令和|平成|昭和)\s*(元|\d{1,2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_ISO_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
# A weekday in brackets may follow: 令和8年10月15日(木)
_TRAILER_RE = re.compile(r"^\s*(?:[((]([月火水木金土日])(?:曜日?)?[))])?\s*$")
_WEEKDAYS = "月火水木金土日"


class DateError(ValueError):
    """The text is not a valid date; the message says why."""


def parse_editor_date(text: str) -> date:
    """Return the date written as 令和8年10月15日 (元年, full-width digits and a
    trailing weekday like (木) accepted) or as ISO 2026-10-15.

    Raises DateError for anything else, including impossible days
    (令和3年2月30日) and dates outside their era.
    """
    norm = unicodedata.normalize("NFKC", text).strip()
    iso = _ISO_RE.match(norm)
    if iso:
        try:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        except ValueError as exc:
            raise DateError(_("日付「{text}」が正しくありません：その日はありません").format(
                text=text)) from exc
    m = _ERA_RE.match(norm)
    trailer = _TRAILER_RE.match(norm[m.end() :]) if m else None
    if not m or not trailer:
        raise DateError(_("日付「{text}」が正しくありません：令和8年10月15日 か 2026-10-15 の形で"
                          "書いてください").format(text=text))
    era, year_text = m[1], m[2]
    era_year = 1 if year_text == "元" else int(year_text)
    if era_year < 1:
        raise DateError(_("日付「{text}」が正しくありません：年は 1（元年）からです").format(
            text=text))
    start = ERAS[era]
    try:
        result = date(start.year + era_year - 1, int(m[3]), int(m[4]))
    except ValueError as exc:
        raise DateError(_("日付「{text}」が正しくありません：その日はありません").format(
            text=text)) from exc
    end = _ERA_NEXT[era]
    if result < start or (end is not None and result >= end):
        raise DateError(_("日付「{text}」が正しくありません：{era}の期間にありません").format(
            text=text, era=era))
    if trailer[1] and _WEEKDAYS[result.weekday()] != trailer[1]:
        actual = _WEEKDAYS[result.weekday()]
        raise DateError(_("日付「{text}」が正しくありません："
                          "その日は{actual}曜日で、{written}曜日ではありません").format(
            text=text, actual=actual, written=trailer[1]))
    return result


def era_format(value: date) -> str:
    """Return `value` in the era calendar, e.g. 令和8年10月15日 (元年 for year 1)."""
    for era, start in ERAS.items():
        if value >= start:
            year = value.year - start.year + 1
            year_text = "元" if year == 1 else str(year)
            return f"{era}{year_text}年{value.month}月{value.day}日"
    return f"{value.year}年{value.month}月{value.day}日"
