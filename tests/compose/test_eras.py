"""Era-calendar dates written by editors."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.compose.eras import DateError, era_format, parse_editor_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("令和3年10月15日", date(2021, 10, 15)),
        ("令和8年10月15日(木)", date(2026, 10, 15)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("令和１年５月１日", date(2019, 5, 1)),
        ("平成31年4月30日", date(2019, 4, 30)),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("2026-10-15", date(2026, 10, 15)),
    ],
)
def test_accepted(text: str, expected: date) -> None:
    assert parse_editor_date(text) == expected


@pytest.mark.parametrize(
    "text",
    ["令和3年2月30日", "令和1年4月30日", "平成31年5月1日", "令和0年1月1日", "令和8年10月15日(金)",
     "R8.10.15", "令和8年10月15日 午後", "2026/10/15"],
)  # fmt: skip
def test_refused(text: str) -> None:
    with pytest.raises(DateError):
        parse_editor_date(text)


@given(st.dates(min_value=date(1926, 12, 25), max_value=date(2099, 12, 31)))
def test_era_format_round_trips(value: date) -> None:
    assert parse_editor_date(era_format(value)) == value


def test_era_format() -> None:
    assert era_format(date(2026, 11, 26)) == "令和8年11月26日"
    assert era_format(date(2019, 5, 1)) == "令和元年5月1日"
