"""Preflight findings: what blocks a send, what only warns."""

from __future__ import annotations

from render_fixtures import build_issue, make_config

from mailer.compose.document import Figure, Heading, Paragraph, Span
from mailer.render.preflight import check_part


def codes(findings: list, severity: str) -> set[str]:  # type: ignore[type-arg]
    return {f.code for f in findings if f.severity == severity}


def test_clean_fixture_only_warns_about_http_link() -> None:
    iss = build_issue()
    findings = check_part(issue=iss, part=iss.parts[0], config=make_config(),
                          iso2022jp_recipients=3)
    assert codes(findings, "error") == set()
    assert codes(findings, "warning") == {"insecure_link"}
    (link,) = findings
    assert "http://www.example-city.lg.jp/dx/plan.html" in link.message
    assert "番目のブロック" in link.where


def test_iso2022jp_characters_error_only_with_such_recipients() -> None:
    iss = build_issue(variant_kanji=True)
    part = iss.parts[0]
    warn = check_part(issue=iss, part=part, config=make_config(), iso2022jp_recipients=0)
    err = check_part(issue=iss, part=part, config=make_config(), iso2022jp_recipients=2)
    assert "iso2022jp_char" in codes(warn, "warning") and "iso2022jp_char" not in codes(
        warn, "error")
    chars = [f for f in err if f.code == "iso2022jp_char"]
    assert chars and all(f.severity == "error" for f in chars)
    found = {f.message[1] for f in chars}
    assert {"髙", "﨑", "①", "～"} <= found
    taka = next(f for f in chars if "髙" in f.message and "（参加者）" in f.where)
    assert "2 行 1 字目" in taka.where  # first participant's line, first char
    assert "2 名" in taka.message


def test_missing_alt_long_subject_empty_sections() -> None:
    iss = build_issue()
    part = iss.parts[0].model_copy(update={
        "subject": "あ" * 31,
        "blocks": [
            Heading(text="空の節"),
            Heading(text="次の節"),
            Paragraph(spans=[Span(text="本文")]),
            Figure(src="x.png", alt=" "),
            Paragraph(spans=[Span(text="  ")]),
            Heading(text="最後の節"),
        ],
    })
    findings = check_part(issue=iss, part=part, config=make_config())
    assert codes(findings, "error") == {"missing_alt", "empty_section", "empty_block"}
    assert "long_subject" in codes(findings, "warning")
    empty = [f.where for f in findings if f.code == "empty_section"]
    assert empty == ["part1: 1 番目のブロック（見出し）", "part1: 6 番目のブロック（見出し）"]


def test_empty_subject_and_large_message() -> None:
    iss = build_issue()
    big = [Paragraph(spans=[Span(text="長い本文です。" * 40)]) for _ in range(120)]
    part = iss.parts[0].model_copy(update={"subject": " ", "blocks": big})
    findings = check_part(issue=iss, part=part, config=make_config())
    assert "empty_subject" in codes(findings, "error")
    assert "large_message" in codes(findings, "warning")
