"""Inline text: line joins, bare URLs, strong."""

from __future__ import annotations

from compose_helpers import IssueCopy

from mailer.compose.document import Span, Turn
from mailer.compose.parse import parse_issue_folder


def _first_turn_text(issue: IssueCopy) -> list[Span]:
    doc = parse_issue_folder(issue.folder)
    turn = next(b for b in doc.parts[0].blocks if isinstance(b, Turn))
    return turn.paragraphs[0]


def test_japanese_lines_join_without_space_latin_with_one(issue: IssueCopy) -> None:
    issue.replace(
        "part1.md", "武蔵野市では、令和4年度に", "武蔵野市では、\n令和4年度にDigital\nTeamと"
    )
    spans = _first_turn_text(issue)
    assert spans[0].text.startswith("武蔵野市では、令和4年度にDigital Teamと")


def test_bare_url_becomes_link(issue: IssueCopy) -> None:
    issue.replace(
        "part1.md", "武蔵野市では、", "詳細は https://www.example.jp/dx/plan。武蔵野市では、"
    )
    spans = _first_turn_text(issue)
    assert spans[:3] == [
        Span(text="詳細は "),
        Span(text="https://www.example.jp/dx/plan", href="https://www.example.jp/dx/plan"),
        Span(text="。武蔵野市では、" + spans[2].text.removeprefix("。武蔵野市では、")),
    ]


def test_strong_and_emphasis(issue: IssueCopy) -> None:
    issue.replace("part1.md", "武蔵野市では、", "**武蔵野市**では、*強調*は")
    spans = _first_turn_text(issue)
    assert spans[0] == Span(text="武蔵野市", strong=True)
    assert spans[1].text.startswith("では、強調は")
