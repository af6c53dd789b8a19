"""Tests for mailer.render.wrap: width, kinsoku, whole URLs, nothing lost."""

from __future__ import annotations

import itertools
import time
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.render.wrap import NO_END, NO_START, display_width, url_spans, wrap

JOB_TITLE = "総務部長兼情報システム担当部長(CIO補佐、CDO、CISO補佐)"
URL = "https://cio-forum.example.jp/magazine/2021/10/15/vol04-part1-zadankai-report.html"
SENTENCE = (
    "令和3年10月15日に開催された○○市×都CIO座談会では、自治体DXの推進体制について、"
    "総務部長兼情報システム担当部長(CIO補佐、CDO、CISO補佐)の髙橋氏が「庁内の合意形成こそ"
    "最大の課題だ」と語った。※CIO:最高情報責任者。"
)


# --- helpers ---------------------------------------------------------------


def strip_indent(lines: list[str], initial: str, subsequent: str) -> list[str]:
    out = []
    for i, line in enumerate(lines):
        indent = initial if i == 0 else subsequent
        if line:
            assert line.startswith(indent), (line, indent)
            line = line[len(indent) :]
        out.append(line)
    return out


def reassembles(original: str, parts: list[str]) -> bool:
    """True if original == parts joined with separators each "", " " or "\\n"."""
    original = original.replace("\r\n", "\n").replace("\r", "\n")

    @cache
    def match(i: int, pos: int) -> bool:
        part = parts[i]
        if not original.startswith(part, pos):
            return False
        pos += len(part)
        if i == len(parts) - 1:
            return pos == len(original)
        return any(
            match(i + 1, pos + len(sep)) for sep in ("", " ", "\n") if original.startswith(sep, pos)
        )

    return match(0, 0)


def url_line(content: str) -> bool:
    """True if the line is one URL, with only kinsoku-glued punctuation around it."""
    spans = url_spans(content)
    if len(spans) != 1:
        return False
    start, end = spans[0]
    return all(c in NO_END or c == " " for c in content[:start]) and all(
        c in NO_START or c == " " for c in content[end:]
    )


def kinsoku_violations(content_lines: list[str]) -> list[tuple[str, str]]:
    bad = []
    for a, b in itertools.pairwise(content_lines):
        # A URL may end in "(" or "[": that is part of the URL, not an opening.
        a_end = "" if url_line(a) else a.rstrip(" ")[-1:]
        if a and b and (a_end in NO_END or b[0] in NO_START):
            bad.append((a, b))
    return bad


# --- display_width -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "width"),
    [
        ("", 0),
        ("CIO 2021", 8),
        ("漢字かなカナ", 12),
        ("※①○Ⅲ", 8),  # East Asian Ambiguous counts 2 for Japanese readers
        ("ｱｲｳ", 3),  # half-width katakana
        ("か\u3099", 2),  # combining dakuten adds nothing
        ("e\u0301", 1),
        ("a\u200bb", 2),  # zero-width space
        ("\u3000", 2),
        ("😀", 2),
    ],
)
def test_display_width(text: str, width: int) -> None:
    assert display_width(text) == width


# --- examples ------------------------------------------------------------------


def test_job_title_at_70_fits_on_one_line() -> None:
    assert wrap(JOB_TITLE) == [JOB_TITLE]


def test_job_title_narrow_keeps_ascii_words_and_kinsoku() -> None:
    lines = wrap(JOB_TITLE, 20, initial_indent="　", subsequent_indent="　")
    assert all(display_width(line) <= 20 for line in lines)
    content = strip_indent(lines, "　", "　")
    assert "".join(content) == JOB_TITLE
    assert not kinsoku_violations(content)
    for word in ("CIO", "CDO", "CISO"):
        assert any(word in line for line in content), (word, content)


def test_sentence_wraps_to_70_columns_with_kinsoku() -> None:
    lines = wrap(SENTENCE * 3)
    assert len(lines) > 3
    assert all(display_width(line) <= 70 for line in lines)
    assert not kinsoku_violations(lines)
    assert "".join(lines) == SENTENCE * 3


def test_no_line_starts_with_closing_punctuation_when_it_would_land_there() -> None:
    # 34 kanji fill 68 columns; "。" would be column 69-70 and fits, so make
    # the sentence one character longer: "。" must carry the kanji before it.
    text = "漢" * 35 + "。次の文。"
    lines = wrap(text, 70)
    assert lines[0] == "漢" * 34
    assert lines[1].startswith("漢。")


def test_opening_bracket_never_ends_a_line() -> None:
    text = "あ" * 34 + "「かぎ括弧」の中"
    lines = wrap(text, 70)
    assert lines[0] == "あ" * 34
    assert lines[1].startswith("「")


def test_ascii_word_moves_whole_to_next_line() -> None:
    text = "あ" * 34 + "CISO補佐"
    lines = wrap(text, 70)
    assert lines == ["あ" * 34, "CISO補佐"]


def test_long_ascii_word_is_hard_broken_to_width() -> None:
    word = "x" * 50
    lines = wrap(f"あ {word} い", 20)
    assert all(display_width(line) <= 20 for line in lines)
    assert "".join(lines).replace(" ", "") == f"あ{word}い"


def test_spaces_are_consumed_at_breaks() -> None:
    text = "The quick brown fox jumps over the lazy dog"
    assert wrap(text, 20) == ["The quick brown fox", "jumps over the lazy", "dog"]


def test_url_stands_alone_and_is_never_broken() -> None:
    text = f"詳細は{URL}をご覧ください。"
    lines = wrap(text, 40)
    assert lines == ["詳細は", URL, "をご覧ください。"]


def test_short_url_also_gets_its_own_line() -> None:
    lines = wrap("Web版 https://ex.jp/a で読めます", 70)
    assert lines == ["Web版", "https://ex.jp/a", "で読めます"]


def test_url_keeps_glued_brackets_and_punctuation() -> None:
    lines = wrap(f"資料は「{URL}」。次へ", 30)
    assert lines == ["資料は", f"「{URL}」。", "次へ"]


def test_url_ends_at_full_width_character() -> None:
    lines = wrap("https://ex.jp/path、その他", 70)
    assert lines == ["https://ex.jp/path、", "その他"]


def test_url_with_indent() -> None:
    lines = wrap(f"※参考 {URL}", 30, subsequent_indent="　")
    assert lines == ["※参考", "　" + URL]


def test_hard_newlines_and_empty_lines_are_kept() -> None:
    text = "一行目\n\n三行目\r\n四行目\n"
    assert wrap(text) == ["一行目", "", "三行目", "四行目", ""]


def test_indents() -> None:
    lines = wrap("※" + "用語の説明" * 10, 30, initial_indent="", subsequent_indent="　")
    assert lines[0].startswith("※")
    assert all(line.startswith("　") for line in lines[1:])
    assert all(display_width(line) <= 30 for line in lines)


def test_empty_input() -> None:
    assert wrap("") == [""]


def test_width_too_small_for_indent() -> None:
    with pytest.raises(ValueError):
        wrap("あいう", 4, subsequent_indent="　 ")


def test_long_run_of_prolonged_sound_marks_still_fits() -> None:
    # No kinsoku-respecting break exists: width wins, nothing is lost.
    lines = wrap("ア" + "ー" * 60, 20)
    assert all(display_width(line) <= 20 for line in lines)
    assert "".join(lines) == "ア" + "ー" * 60


def test_combining_sequences_stay_together() -> None:
    text = "か\u3099" * 40
    lines = wrap(text, 20)
    assert all(not line.startswith("\u3099") for line in lines)
    assert "".join(lines) == text


def test_speed_20kb_of_japanese() -> None:
    text = (SENTENCE + "\n") * 200
    text = text[: 20_000 // 3 * 3]
    assert len(text.encode()) >= 20_000 or len(text) >= 6_000
    wrap(text)  # warm caches
    best = min(_timed(lambda: wrap(text)) for _ in range(3))
    assert best < 0.05, f"{best * 1000:.1f} ms"


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


# --- properties ------------------------------------------------------------------

HIRA = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわん"
KATA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン"
KANJI = "情報総務部長担当補佐自治体推進会議市区町村都座談髙﨑令和年月日開催"
SMALL = "ぁぃぅぇぉっゃゅょァィゥェォッャュョーゝ々"
OPEN = "「『（【〔(["
CLOSE = "」』）】〕、。！？),.!?:;"

syllable = st.builds(
    lambda base, small: base + small,
    st.sampled_from(HIRA + KATA + KANJI + "※①○"),
    st.sampled_from(["", "", "", *SMALL, "\u3099"]),
)
jp_run = st.lists(syllable, min_size=1, max_size=12).map("".join)
ascii_word = st.from_regex(r"[A-Za-z0-9]{1,30}", fullmatch=True)
url = st.builds(
    lambda scheme, path: f"{scheme}://{path}",
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9./?=&_%-]{1,90}", fullmatch=True),
)
core = st.one_of(jp_run, jp_run, ascii_word, url)
segment = st.builds(
    lambda op, body, cl, sp: op + body + cl + sp,
    st.sampled_from(["", "", "", *OPEN]),
    core,
    st.lists(st.sampled_from(CLOSE), max_size=2).map("".join),
    st.sampled_from(["", "", " ", "  ", "　"]),
)
paragraph = st.lists(segment, min_size=1, max_size=25).map("".join)
indent = st.sampled_from(["", "  ", "　", "※ ", "・"])


@settings(max_examples=300, deadline=None)
@given(text=paragraph, width=st.integers(20, 80), first=indent, rest=indent)
def test_properties_single_paragraph(text: str, width: int, first: str, rest: str) -> None:
    lines = wrap(text, width, initial_indent=first, subsequent_indent=rest)
    content = strip_indent(lines, first, rest)
    # Nothing lost or reordered.
    assert reassembles(text, content), (text, content)
    # Width, with the single exception of a lone URL line.
    for line, body in zip(lines, content, strict=True):
        assert display_width(line) <= width or url_line(body), (line, width)
    # Every URL is whole, on a line of its own.
    for start, end in url_spans(text):
        u = text[start:end]
        assert any(u in body and url_line(body) for body in content), (u, content)
    # Kinsoku holds (every no-break run in this strategy is narrower than a line).
    assert not kinsoku_violations(content), kinsoku_violations(content)
    # Re-wrapping a produced line leaves it alone.
    for i, line in enumerate(lines):
        ind = first if i == 0 else rest
        assert wrap(line[len(ind) :], width, initial_indent=ind) == [line]


@settings(max_examples=100, deadline=None)
@given(paras=st.lists(st.one_of(paragraph, st.just("")), min_size=1, max_size=5))
def test_properties_hard_breaks(paras: list[str]) -> None:
    text = "\n".join(paras)
    lines = wrap(text, 40)
    assert reassembles(text, lines)
    assert len(lines) >= len(paras)
    expected: list[str] = []
    for p in paras:
        expected.extend(wrap(p, 40))
    assert lines == expected


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200), width=st.integers(2, 50))
def test_properties_arbitrary_text(text: str, width: int) -> None:
    """Any text at all: nothing lost, and only URL lines may be too wide."""
    lines = wrap(text, width)
    assert reassembles(text, lines)
    for line in lines:
        assert display_width(line) <= width or url_spans(line), (line, width)


def test_phrase_scoring_matches_budoux() -> None:
    """The one-position scorer must agree with budoux's own parse."""
    import budoux

    from mailer.render.wrap import _budoux_base, _budoux_model, _budoux_score

    model = _budoux_model()
    assert model
    text = SENTENCE * 2
    starts, pos = set(), 0
    for chunk in budoux.load_default_japanese_parser().parse(text):
        starts.add(pos)
        pos += len(chunk)
    mine = {i for i in range(1, len(text)) if _budoux_score(model, _budoux_base(), text, i) > 0}
    assert mine | {0} == starts
