"""The text part is complete on its own and fits 70 columns."""

from __future__ import annotations

import re

import pytest
from render_fixtures import PERSONAS, SAMPLE_DIR, build_issue, make_config, make_slots

from mailer.compose.document import (
    Credits,
    Figure,
    Heading,
    IssueDocument,
    Lead,
    NextPart,
    Note,
    Paragraph,
    PartDocument,
    Participants,
    Prompt,
    Turn,
)
from mailer.render.message import fill_text, prepare_part
from mailer.render.wrap import display_width


def sample_issue() -> IssueDocument:
    from mailer.compose.parse import parse_issue_folder

    return parse_issue_folder(SAMPLE_DIR)


def all_parts() -> list[tuple[str, IssueDocument, PartDocument]]:
    out = []
    for name, iss in [("fixture", build_issue()), ("variant", build_issue(variant_kanji=True))]:
        out += [(f"{name}-{p.label}", iss, p) for p in iss.parts]
    if SAMPLE_DIR.exists():
        iss = sample_issue()
        out += [(f"sample-{p.label}", iss, p) for p in iss.parts]
    return out


PARTS = all_parts()
IDS = [p[0] for p in PARTS]


def text_of(issue: IssueDocument, part: PartDocument) -> str:
    prepared = prepare_part(issue=issue, part=part, config=make_config())
    return fill_text(prepared, PERSONAS["html_utf8"], make_slots())


def squash(s: str) -> str:
    """Remove line breaks, indents and link numbers so wrapped text can be searched."""
    return re.sub(r"[\s　]+|［\d+］", "", s)


@pytest.mark.parametrize(("name", "issue", "part"), PARTS, ids=IDS)
def test_width(name: str, issue: IssueDocument, part: PartDocument) -> None:
    for line in text_of(issue, part).split("\n"):
        if display_width(line) > 70:
            assert re.fullmatch(r"https://\S+", line), f"{name}: {line!r}"


@pytest.mark.parametrize(("name", "issue", "part"), PARTS, ids=IDS)
def test_complete(name: str, issue: IssueDocument, part: PartDocument) -> None:
    text = text_of(issue, part)
    flat = squash(text)

    def has(s: str) -> None:
        assert squash(s) in flat, f"{name}: missing {s!r}"

    has(part.title)
    assert f"https://mailer.example.com/archive/{issue.slug}/{part.label}" in text.split("\n")
    for block in part.blocks:
        if isinstance(block, Heading):
            has(block.text)
        elif isinstance(block, Participants):
            has(block.heading)
            for p in block.people:
                has(p.name)
                has(p.titles)
                has(p.organisation)
        elif isinstance(block, Turn):
            has(block.label)
            for para in block.paragraphs:
                has("".join(s.text for s in para))
        elif isinstance(block, Paragraph | Note | Prompt | NextPart):
            has("".join(s.text for s in block.spans))
        elif isinstance(block, Lead):
            for para in block.paragraphs:
                has("".join(s.text for s in para))
        elif isinstance(block, Figure):
            has(f"［{block.label or '画像'}］{block.caption or block.alt}")
        elif isinstance(block, Credits):
            for c in block.entries:
                has(c.role)
                has(c.name)
                has(c.department)
        if isinstance(block, Note):
            assert squash("※" + "".join(s.text for s in block.spans)) in flat
        if isinstance(block, Prompt):
            assert squash("―" + "".join(s.text for s in block.spans)) in flat
        for span in _spans(block):
            if span.href:
                assert span.href in text.split("\n"), f"{name}: URL not on its own line"
    for bn in issue.back_numbers:
        has(bn.title)
        assert bn.url in text.split("\n")
    for s in (issue.publisher.name, issue.publisher.address, issue.publisher.contact_email):
        has(s)
    lines = text.split("\n")
    slots = make_slots()
    assert slots.unsubscribe_url in lines and slots.preferences_url in lines
    assert "配信停止：" in lines and "配信設定の変更：" in lines


def _spans(block: object) -> list:  # type: ignore[type-arg]
    if isinstance(block, Lead | Turn):
        return [s for p in block.paragraphs for s in p]
    if isinstance(block, Paragraph | Note | Prompt | NextPart):
        return list(block.spans)
    return []


def test_headings_and_turns_are_marked() -> None:
    iss = build_issue()
    lines = text_of(iss, iss.parts[0]).split("\n")
    assert "【庁内DXの進め方】" in lines
    assert "■人材育成の工夫" in lines
    turn = next(i for i, line in enumerate(lines) if line.startswith("高橋：はい。"))
    # Continuation lines hang under the words, indented by full-width spaces.
    assert lines[turn + 1].startswith("　　　") and not lines[turn + 1].startswith("　　　　")
    assert "［スライド6］○○市のDX推進体制" in lines
    assert "［画像3］座談会の様子" in lines
    assert "開催日：令和3年10月15日" in lines
    assert lines[:2] == ["ブラウザで見る：", "https://mailer.example.com/archive/vol04/part1"]


def test_links_are_numbered_with_urls_on_their_own_lines() -> None:
    iss = build_issue()
    lines = text_of(iss, iss.parts[0]).split("\n")
    i = lines.index("［1］フォーラムのサイト")
    assert lines[i + 1] == "https://www.example.lg.jp/cio-forum/"
    assert any("フォーラムのサイト［1］" in line for line in lines[:i])


def test_variant_kanji_survive() -> None:
    iss = build_issue(variant_kanji=True)
    text = text_of(iss, iss.parts[0])
    assert "髙橋 誠" in text and "山﨑 由美" in text and "①" in text and "～" in text
