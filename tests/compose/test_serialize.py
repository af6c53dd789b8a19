"""A document written as an issue folder reads back as the same document."""

from __future__ import annotations

import itertools
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mailer.compose.document import (
    BackNumber,
    Credit,
    Credits,
    EventDate,
    Figure,
    Heading,
    IssueDocument,
    Lead,
    NextPart,
    Note,
    Paragraph,
    PartDocument,
    Participant,
    Participants,
    Prompt,
    Publisher,
    Span,
    Turn,
)
from mailer.compose.images import image_size
from mailer.compose.parse import parse_issue_folder
from mailer.compose.schemas import TOKYO
from mailer.compose.serialize import NotWritable, issue_folder_texts
from mailer.samples import SAMPLE_ISSUE_DIR


def write_folder(folder: Path, texts: dict[str, str]) -> Path:
    """Write `texts` and the sample's images into `folder`; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "images").exists():
        shutil.copytree(SAMPLE_ISSUE_DIR / "images", folder / "images")
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def round_trip(issue: IssueDocument, folder: Path) -> IssueDocument:
    return parse_issue_folder(write_folder(folder, issue_folder_texts(issue)))


def test_the_sample_issue_is_written_as_it_was_authored(tmp_path: Path) -> None:
    issue = parse_issue_folder(SAMPLE_ISSUE_DIR)
    texts = issue_folder_texts(issue)
    assert sorted(texts) == ["issue.yaml", "part1.md", "part2.md"]
    # The part files are the authored files, byte for byte.
    for name in ("part1.md", "part2.md"):
        assert texts[name] == (SAMPLE_ISSUE_DIR / name).read_text(encoding="utf-8")
    # issue.yaml only loses its opening comment (a document has no comments).
    authored = (SAMPLE_ISSUE_DIR / "issue.yaml").read_text(encoding="utf-8")
    assert texts["issue.yaml"] == authored.split("\n", 1)[1]
    assert round_trip(issue, tmp_path / "vol04") == issue


PEOPLE = Participants(
    heading="参加者(敬称略・順不同)",
    people=[
        Participant(name="髙橋 健一", organisation="武蔵野市",
                    titles="総務部長兼情報システム担当部長(CIO補佐、CDO、CISO補佐)", short="髙橋"),
        Participant(name="Jane Doe", organisation="東京都 * 戦略部",
                    titles="# 課長 [兼務]", short="Jane"),
    ],
)


def _turn(short: str, first: bool, *paragraphs: list[Span]) -> Turn:
    person = next(p for p in PEOPLE.people if p.short == short)
    label = (f"{person.organisation} {person.titles}:{person.name}(以下「{short}」)"
             if first else short)
    return Turn(speaker=short, label=label, first=first, paragraphs=list(paragraphs))


def _figure(src: str, **fields: object) -> Figure:
    width, height = image_size(SAMPLE_ISSUE_DIR / src) or (None, None)
    return Figure(src=src, width=width, height=height, **fields)  # type: ignore[arg-type]


def _issue(*parts: PartDocument) -> IssueDocument:
    return IssueDocument(
        slug="vol09",
        number=9,
        title="123",  # would be an integer in YAML unless quoted
        series="都区市町村CIOフォーラム通信: 特別号",
        publisher=Publisher(name="東京都 デジタルサービス局 戦略部", address="# 新宿区",
                            contact_email="cio@example.jp"),
        back_numbers=[BackNumber(number="第1回", title="yes", url="https://example.jp/a?b=1#c")],
        parts=list(parts),
    )


EVERY_KIND = PartDocument(
    label="part1",
    title="題名: 前編",
    subject="【CIOフォーラム通信】第9回 'quoted' \"double\"",
    preheader="- 始まりが記号",
    scheduled_at=datetime(2026, 12, 1, 9, 0, tzinfo=TOKYO),
    header_image=_figure("images/header-part1.png", alt="ヘッダー [画像] *星*",
                         caption="表紙の説明"),
    blocks=[
        Lead(paragraphs=[[Span(text="リード1: *星* と _下線_ と `code` と <b>タグ</b> & &amp;")],
                         [Span(text="::: 区切りのような行")],
                         [Span(text="# 見出しのような行")],
                         [Span(text="1. 番号のような行")]]),
        Note(spans=[Span(text="CIO:Chief Information Officer")]),
        Note(spans=[Span(text="※二重の注記 "), Span(text="太字", strong=True)]),
        EventDate(label="収録日", date=date(2019, 5, 1)),
        Paragraph(spans=[Span(text="会場:武蔵野市役所 - 会議室 > 3")]),
        PEOPLE,
        Heading(level=2, text="見出し *強調* ではない #"),
        Heading(level=3, text="小見出し [括弧]"),
        Prompt(spans=[Span(text="まず"), Span(text="体制", strong=True),
                      Span(text="について\\教えてください。")]),
        _turn("髙橋", True, [Span(text="武蔵野市では"), Span(text="市の計画",
                                                           href="https://example.jp/dx/plan(1)"),
                           Span(text="をご覧ください。")],
              [Span(text="- 続きの段落")], [Span(text="+ もう一つ")]),
        _turn("Jane", True, [Span(text="Hello world")]),
        _turn("髙橋", False, [Span(text="二回目の発言です。")]),
        Paragraph(spans=[Span(text="発言の後の地の文。")]),
        _figure("images/slide01.png", alt="概念図", label="スライド1", caption="体制図"),
        _figure("images/photo01.png", alt="写真", label="画像12"),
        _figure("images/slide02.png", alt="ラベルなしの図", caption="説明だけ"),
        _turn("Jane", False, [Span(text="Bye")]),
        # Paragraphs of the notice are joined by a "\n" span of their own.
        NextPart(spans=[Span(text="後編は12月8日(火)にお届けします。"), Span(text="\n"),
                        Span(text="次の段落 "), Span(text="太字", strong=True)]),
        Credits(entries=[Credit(role="執筆者", name="小林 真理", department="戦略部 戦略課"),
                         Credit(role="編集", name="石田 翔", department="(同上)")]),
    ],
    source_file="part1.md",
)


def test_every_block_kind_reads_back_the_same(tmp_path: Path) -> None:
    second = PartDocument(label="part-2", title="後編", subject="後編の件名",
                          blocks=[Paragraph(spans=[Span(text="短い部")])], source_file="part2.md")
    issue = _issue(EVERY_KIND, second)
    assert round_trip(issue, tmp_path / "vol09") == issue


_CLASSIFIED = "注記・問いかけ・発言・開催日"


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (Paragraph(spans=[Span(text="※注記のような地の文")]), _CLASSIFIED),
        (Paragraph(spans=[Span(text="【髙橋】発言のような地の文")]), _CLASSIFIED),
        (Paragraph(spans=[Span(text="開催日:明日")]), _CLASSIFIED),
        (Paragraph(spans=[Span(text="一行目\n二行目")]), "改行"),
        (Heading(level=4, text="深い見出し"), "レベル"),
        (EventDate(label="締切日", date=date(2026, 1, 1)), "開催日・収録日・実施日"),
        (Figure(src="images/slide01.png", alt="", label="スライド1"), "代替テキスト"),
        (Figure(src="images/slide01.png", alt="図", caption="スライド3:ラベルに見える"), "ラベル"),
        (Credits(entries=[Credit(role="編集", name="石田", department="(同上)")]), "同上"),
    ],
)
def test_what_a_folder_cannot_say_is_refused_naming_the_block(block: object, message: str) -> None:
    part = PartDocument(label="part1", title="t", subject="s",
                        blocks=[Paragraph(spans=[Span(text="前置き")]), block])  # type: ignore[list-item]
    with pytest.raises(NotWritable, match=message) as info:
        issue_folder_texts(_issue(part))
    assert "part1.md(part1) の 2 番目の要素" in str(info.value)


# -- property: generated paragraphs, prompts, notes and turns -----------------

_ALPHABET = "あいう漢字カナABCxyz019 *_[]`<>&#!-+=:~|.()\\※―【】「」、。"
_WORD = st.text(alphabet="あい漢字カナABCxyz019", min_size=1, max_size=4)
_URLS = st.sampled_from(["https://example.jp/a", "https://example.jp/b_(c)", "mailto:a@b.jp"])


@st.composite
def _spans(draw: st.DrawFn) -> list[Span]:
    spans: list[Span] = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["text", "strong", "link"]))
        if kind == "text":
            spans.append(Span(text=draw(st.text(alphabet=_ALPHABET, min_size=1, max_size=12))))
        elif kind == "strong":
            # ** is only strong where CommonMark's flanking rules allow: words at both ends.
            spans.append(Span(text=draw(_WORD), strong=True))
        else:
            spans.append(Span(text=draw(_WORD), href=draw(_URLS), strong=draw(st.booleans())))
    return _normal(spans)


def _normal(spans: list[Span]) -> list[Span]:
    """The parser's normal form: neighbours with the same look merged, blanks
    at both ends stripped, empty spans dropped."""
    merged: list[Span] = []
    for span in spans:
        if merged and (merged[-1].href, merged[-1].strong) == (span.href, span.strong):
            merged[-1] = Span(text=merged[-1].text + span.text, href=span.href, strong=span.strong)
        else:
            merged.append(span)
    if merged:
        merged[0] = merged[0].model_copy(update={"text": merged[0].text.lstrip()})
        merged[-1] = merged[-1].model_copy(update={"text": merged[-1].text.rstrip()})
    return [s for s in merged if s.text]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lead=_spans(), para=_spans(), note=_spans(), prompt=_spans(), said=_spans(),
       notice=_spans(), heading=st.text(alphabet=_ALPHABET, min_size=1, max_size=20))
def test_generated_text_reads_back_the_same(
    tmp_path: Path, lead: list[Span], para: list[Span], note: list[Span],
    prompt: list[Span], said: list[Span], notice: list[Span], heading: str,
) -> None:
    assume(heading.strip())
    for spans in (lead, para, note, prompt, said, notice):
        assume(spans and not any(s.href is None and "://" in s.text for s in spans))
        # a strong run must not touch another strong run written as a separate **…**
        assume(all(not (a.strong and b.strong) for a, b in itertools.pairwise(spans)))
    assume(not prompt[0].text.startswith(("―", "—", "─")))
    part = PartDocument(
        label="part1", title="t", subject="s", source_file="part1.md",
        blocks=[
            Lead(paragraphs=[lead]),
            PEOPLE,
            Paragraph(spans=_normal([Span(text="地の文:"), *para])),
            Note(spans=note),
            Prompt(spans=prompt),
            _turn("髙橋", True, said),
            Heading(level=3, text=heading.strip()),
            NextPart(spans=notice),
        ],
    )
    issue = _issue(part)
    try:
        texts = issue_folder_texts(issue)
    except NotWritable:
        assume(False)
    folder = tmp_path / f"vol{abs(hash(str(texts))) % 10**8}"
    assert parse_issue_folder(write_folder(folder, texts)).model_copy(update={"slug": "vol09"}) \
        == issue


def test_parts_keep_their_file_names_while_those_sort_in_sending_order() -> None:
    def part(label: str, source: str) -> PartDocument:
        return PartDocument(label=label, title="t", subject="s", source_file=source,
                            blocks=[Paragraph(spans=[Span(text="本文")])])

    kept = issue_folder_texts(_issue(part("a", "part1.md"), part("b", "part3.md")))
    assert sorted(kept) == ["issue.yaml", "part1.md", "part3.md"]
    # Names out of sending order (or made in the editor, without a file) are renumbered.
    for parts in ([part("a", "part3.md"), part("b", "part1.md")], [part("a", ""), part("b", "")]):
        texts = issue_folder_texts(_issue(*parts))
        assert sorted(texts) == ["issue.yaml", "part1.md", "part2.md"]
        assert "label: a" in texts["part1.md"]


_FIELD = st.text(alphabet=_ALPHABET, min_size=1, max_size=15).map(str.strip).filter(bool)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_FIELD, short=_FIELD, organisation=_FIELD, titles=_FIELD, role=_FIELD,
       credit_name=_FIELD, department=_FIELD, alt=_FIELD, caption=_FIELD)
def test_generated_lists_and_figures_read_back_the_same(
    tmp_path: Path, name: str, short: str, organisation: str, titles: str, role: str,
    credit_name: str, department: str, alt: str, caption: str,
) -> None:
    people = Participants(people=[Participant(name=name, short=short,
                                              organisation=organisation, titles=titles)])
    part = PartDocument(
        label="part1", title="t", subject="s", source_file="part1.md",
        blocks=[
            people,
            Turn(speaker=short, label=f"{organisation} {titles}:{name}(以下「{short}」)",
                 first=True, paragraphs=[[Span(text="発言")]]),
            _figure("images/slide01.png", alt=alt, label="スライド1", caption=caption),
            _figure("images/slide02.png", alt=alt, caption=caption),
            Credits(entries=[Credit(role=role, name=credit_name, department=department)]),
        ],
    )
    issue = _issue(part)
    try:
        texts = issue_folder_texts(issue)
    except NotWritable:
        assume(False)
    folder = tmp_path / f"vol{abs(hash(str(texts))) % 10**8}"
    assert parse_issue_folder(write_folder(folder, texts)).model_copy(update={"slug": "vol09"}) \
        == issue
