"""The sample issue parses into the full structure of the magazine."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailer.compose.document import (
    Credits,
    EventDate,
    Figure,
    IssueDocument,
    Lead,
    NextPart,
    Note,
    Paragraph,
    Participants,
    Prompt,
    Turn,
)
from mailer.compose.parse import parse_issue_folder
from mailer.samples import SAMPLE_ISSUE_DIR

TAKAHASHI_FIRST = (
    "武蔵野市 総務部長兼情報システム担当部長(CIO補佐、CDO、CISO補佐):髙橋 健一(以下「髙橋」)"
)


@pytest.fixture(scope="module")
def doc() -> IssueDocument:
    return parse_issue_folder(SAMPLE_ISSUE_DIR)


def test_issue_fields(doc: IssueDocument) -> None:
    assert doc.slug == "vol04"
    assert doc.number == 4
    assert doc.title == "武蔵野市×都CIO座談会"
    assert doc.publisher.contact_email == "cio-forum@digital.metro.tokyo.example"
    assert [b.number for b in doc.back_numbers] == ["第1回", "第2回", "第3回"]
    assert all(b.url.startswith("https://mailer.example.com/archive/") for b in doc.back_numbers)
    assert [p.label for p in doc.parts] == ["part1", "part2"]


def test_front_matter(doc: IssueDocument) -> None:
    part = doc.parts[0]
    assert part.title == "武蔵野市×都CIO座談会(前編)"
    assert part.subject == "【CIOフォーラム通信】第4回 武蔵野市×都CIO座談会(前編)"
    assert part.preheader.startswith("庁内DXを")
    assert part.scheduled_at == datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert part.scheduled_at.utcoffset() is not None
    assert part.source_file == "part1.md"


def test_block_counts(doc: IssueDocument) -> None:
    counts = [Counter(b.kind for b in part.blocks) for part in doc.parts]
    assert counts[0] == {
        "lead": 1, "note": 2, "event_date": 1, "participants": 1, "heading": 4,
        "prompt": 8, "turn": 14, "figure": 3, "next_part": 1, "credits": 1,
    }  # fmt: skip
    assert counts[1] == {
        "lead": 1, "note": 2, "event_date": 1, "participants": 1, "heading": 4,
        "prompt": 6, "turn": 10, "figure": 1, "next_part": 1, "credits": 1,
    }  # fmt: skip


def test_order_of_opening_blocks(doc: IssueDocument) -> None:
    kinds = [b.kind for b in doc.parts[0].blocks[:6]]
    assert kinds == ["lead", "note", "note", "event_date", "participants", "heading"]
    assert doc.parts[0].blocks[-2].kind == "next_part"
    assert doc.parts[0].blocks[-1].kind == "credits"


def test_header_image(doc: IssueDocument) -> None:
    header = doc.parts[0].header_image
    assert header is not None
    assert (header.src, header.width, header.height) == ("images/header-part1.png", 600, 200)
    assert header.alt


def test_lead_and_notes(doc: IssueDocument) -> None:
    blocks = doc.parts[0].blocks
    lead = blocks[0]
    assert isinstance(lead, Lead) and len(lead.paragraphs) == 2
    notes = [b for b in blocks if isinstance(b, Note)]
    assert notes[0].spans[0].text.startswith("CIO:Chief Information Officer")
    assert notes[1].spans[0].text.startswith("都区市町村CIOフォーラム:")


def test_era_date(doc: IssueDocument) -> None:
    event = next(b for b in doc.parts[0].blocks if isinstance(b, EventDate))
    assert (event.label, event.date) == ("開催日", date(2026, 10, 15))


def test_participants_keep_variant_kanji(doc: IssueDocument) -> None:
    block = next(b for b in doc.parts[0].blocks if isinstance(b, Participants))
    assert block.heading == "参加者(敬称略)"
    assert [(p.name, p.short, p.organisation) for p in block.people] == [
        ("髙橋 健一", "髙橋", "武蔵野市"),
        ("山﨑 由美", "山﨑", "武蔵野市"),
        ("中村 誠", "中村", "東京都"),
        ("森本 彩", "森本", "東京都"),
    ]
    assert block.people[0].titles == "総務部長兼情報システム担当部長(CIO補佐、CDO、CISO補佐)"


def test_speaker_labels_first_and_later(doc: IssueDocument) -> None:
    for part in doc.parts:
        turns = [b for b in part.blocks if isinstance(b, Turn)]
        seen: set[str] = set()
        for turn in turns:
            assert turn.first == (turn.speaker not in seen)
            seen.add(turn.speaker)
            if not turn.first:
                assert turn.label == turn.speaker
    turns = [b for b in doc.parts[0].blocks if isinstance(b, Turn)]
    assert (turns[0].speaker, turns[0].first, turns[0].label) == ("髙橋", True, TAKAHASHI_FIRST)
    assert (turns[1].speaker, turns[1].first, turns[1].label) == ("髙橋", False, "髙橋")
    assert turns[0].paragraphs[0][0].text.startswith("武蔵野市では、令和4年度に")
    assert len(turns[0].paragraphs) == 2  # the continuation paragraph joins the turn
    # Part 2 starts over: each speaker's first turn there gets the full label.
    part2_first = next(b for b in doc.parts[1].blocks if isinstance(b, Turn))
    assert part2_first.first and part2_first.label.endswith("山﨑 由美(以下「山﨑」)")


def test_prompts_drop_the_dash(doc: IssueDocument) -> None:
    prompt = next(b for b in doc.parts[0].blocks if isinstance(b, Prompt))
    assert prompt.spans[0].text.startswith("本日はお時間をいただき")


def test_figures(doc: IssueDocument) -> None:
    figures = [b for b in doc.parts[0].blocks if isinstance(b, Figure)]
    assert [(f.label, f.src) for f in figures] == [
        ("スライド1", "images/slide01.png"),
        ("画像1", "images/photo01.png"),
        ("スライド2", "images/slide02.png"),
    ]
    assert figures[0].caption == "武蔵野市のデジタル推進体制(市提供資料をもとに編集部作成)"
    assert (figures[0].width, figures[0].height) == (480, 270)
    assert all(f.alt for f in figures)


def test_links_and_strong(doc: IssueDocument) -> None:
    spans = [
        s
        for b in doc.parts[0].blocks
        if isinstance(b, Turn)
        for para in b.paragraphs
        for s in para
        if s.href
    ]
    assert [(s.text, s.href) for s in spans] == [
        ("研修案内", "https://forum.example.jp/cio/training/")
    ]
    strong = [
        s.text
        for b in doc.parts[1].blocks
        if isinstance(b, Turn)
        for para in b.paragraphs
        for s in para
        if s.strong
    ]
    assert strong == ["「世帯主」と「申請者」の違い"]


def test_closing_blocks(doc: IssueDocument) -> None:
    blocks = doc.parts[0].blocks
    next_part = blocks[-2]
    assert isinstance(next_part, NextPart)
    assert "後編は12月8日(火)にお届けします" in next_part.spans[0].text
    credits = blocks[-1]
    assert isinstance(credits, Credits)
    assert [(c.role, c.name, c.department) for c in credits.entries] == [
        ("執筆者", "小林 真理", "デジタルサービス局 戦略部 戦略課"),
        ("編集", "石田 翔", "(同上)"),
    ]


def test_document_round_trips_as_json(doc: IssueDocument) -> None:
    assert IssueDocument.model_validate_json(doc.model_dump_json()) == doc


def test_speaker_by_full_name_and_date_with_venue(tmp_path: Path) -> None:
    folder = tmp_path / "vol04"
    shutil.copytree(SAMPLE_ISSUE_DIR, folder)
    part1 = folder / "part1.md"
    text = part1.read_text(encoding="utf-8")
    text = text.replace("【髙橋】", "【髙橋 健一】", 1).replace("【中村】", "【中村誠】", 1)
    text = text.replace(
        "開催日:令和8年10月15日(木)", "開催日:令和8年10月15日(木)\n会場:武蔵野市役所"
    )
    part1.write_text(text, encoding="utf-8")
    blocks = parse_issue_folder(folder).parts[0].blocks
    turns = [b for b in blocks if isinstance(b, Turn)]
    assert (turns[0].speaker, turns[0].label) == ("髙橋", TAKAHASHI_FIRST)
    assert turns[2].speaker == "中村" and turns[2].first
    at = next(i for i, b in enumerate(blocks) if isinstance(b, EventDate))
    following = blocks[at + 1]
    assert isinstance(following, Paragraph) and following.spans[0].text == "会場:武蔵野市役所"


def test_rule_ends_a_turn(tmp_path: Path) -> None:
    folder = tmp_path / "vol04"
    shutil.copytree(SAMPLE_ISSUE_DIR, folder)
    part1 = folder / "part1.md"
    text = part1.read_text(encoding="utf-8")
    marker = "兼務にしている理由ははっきりしています。"
    part1.write_text(text.replace(marker, "***\n\n" + marker, 1), encoding="utf-8")
    blocks = parse_issue_folder(folder).parts[0].blocks
    first_turn = next(i for i, b in enumerate(blocks) if isinstance(b, Turn))
    turn = blocks[first_turn]
    assert isinstance(turn, Turn) and len(turn.paragraphs) == 1
    after = blocks[first_turn + 1]
    assert isinstance(after, Paragraph) and after.spans[0].text.startswith(marker)
