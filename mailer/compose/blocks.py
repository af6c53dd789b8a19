"""The body of a part file (Markdown) turned into document blocks.

See docs/authoring.md for the syntax. Paragraphs are classified by how they
begin (※ note, ― prompt, 【name】 speaker turn, 開催日: date, a lone image);
the fenced `:::` blocks hold the lead, participants, credits and the
next-part notice. Constructs with no place in the magazine (lists outside a
block, quotes, code) are refused rather than silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it.tree import SyntaxTreeNode

from mailer.compose.document import (
    Block,
    EventDate,
    Figure,
    Heading,
    Lead,
    NextPart,
    Note,
    Paragraph,
    Participant,
    Participants,
    Prompt,
    Span,
    Turn,
)
from mailer.compose.eras import DateError, parse_editor_date
from mailer.compose.errors import ProblemSink
from mailer.compose.images import check_image_src, image_size
from mailer.compose.inline import Line, drop_chars, first_line, plain_text, spans_of, split_lines
from mailer.compose.sections import CONTAINERS, credits_block, participants_block
from mailer.i18n import N_, _

PROMPT_MARKS = ("―", "—", "─")  # U+2015 as printed; U+2014 and U+2500 as often typed
_TURN_RE = re.compile(r"^【\s*([^【】\n]{1,20}?)\s*】")
_DATE_RE = re.compile(r"^(開催日|収録日|実施日)\s*[::]\s*(.+)$")
_CAPTION_RE = re.compile(r"^((?:スライド|画像|写真|図|資料)\s*[0-9０-９]+)\s*[::]?\s*(.*)$")
_UNSUPPORTED = {
    "bullet_list": N_("::: ブロックの外の箇条書き"),
    "ordered_list": N_("番号付きの箇条書き"),
    "blockquote": N_("引用（>）"),
    "code_block": N_("字下げしたコードブロック"),
    "fence": N_("コードブロック"),
    "html_block": N_("HTML"),
}


@dataclass
class _PendingTurn:
    speaker: str
    line: int
    paragraphs: list[list[Span]] = field(default_factory=list)
    index: int = 0  # position in blocks


@dataclass
class Body:
    """What the body of one part contains."""

    header_image: Figure | None
    blocks: list[Block]


def parse_body(root: SyntaxTreeNode, folder: Path, sink: ProblemSink) -> Body:
    """Return the header image and blocks of a part; report problems to `sink`."""
    blocks: list[Block] = []
    turns: list[_PendingTurn] = []
    open_turn: _PendingTurn | None = None
    header: Figure | None = None
    for node in root.children:
        if node.type == "front_matter":
            continue
        kind = _classify(node)
        if kind == "continuation" and open_turn is not None:
            open_turn.paragraphs.append(spans_of(split_lines(node), sink))
            continue
        open_turn = None  # anything but a plain paragraph (*** included) ends a turn
        if kind == "figure":
            figure = _figure(node, folder, sink)
            # A labelled image (スライド1, 画像1) is a figure even when it comes first.
            if figure is not None and header is None and not blocks and figure.label is None:
                header = figure
            elif figure is not None:
                blocks.append(figure)
        elif kind == "turn":
            open_turn = _turn_start(node, sink)
            open_turn.index = len(blocks)
            turns.append(open_turn)
            blocks.append(Paragraph(spans=[]))  # replaced once speakers are known
        else:
            blocks.extend(_block(node, kind, folder, sink))
    _resolve_turns(blocks, turns, sink)
    return Body(header_image=header, blocks=blocks)


def _classify(node: SyntaxTreeNode) -> str:
    if node.type == "paragraph":
        lines = split_lines(node)
        first = lines[0]
        if first.nodes and first.nodes[0].type == "image" and len(first.nodes) == 1:
            return "figure"
        text = first.text
        if text.startswith("※"):
            return "note"
        if text.startswith(PROMPT_MARKS):
            return "prompt"
        if _TURN_RE.match(text):
            return "turn"
        if _DATE_RE.match(text):
            return "date"
        return "continuation"
    if node.type.startswith("container_"):
        return "container"
    return node.type


def _block(node: SyntaxTreeNode, kind: str, folder: Path, sink: ProblemSink) -> list[Block]:
    line = first_line(node)
    if kind == "heading":
        level = int(node.tag[1:])
        text = plain_text(split_lines(node)[0].nodes).strip()
        if level not in (2, 3):
            sink.add(
                line,
                _("見出しのレベル {level} は使いません：節は ##、小見出しは ### で書いてください")
                .format(level=level),
            )
            return []
        return [Heading(level=level, text=text)]
    if kind == "note":
        return _notes(split_lines(node), sink)
    if kind == "prompt":
        spans = spans_of(split_lines(node), sink)
        text = plain_text(split_lines(node)[0].nodes)
        marks = len(text) - len(text.lstrip("".join(PROMPT_MARKS)))
        return [Prompt(spans=drop_chars(spans, marks))]
    if kind == "date":
        lines = split_lines(node)
        m = _DATE_RE.match(lines[0].text)
        assert m is not None
        # Lines after the date (会場:… for instance) stay an ordinary paragraph.
        rest: list[Block] = [Paragraph(spans=spans_of(lines[1:], sink))] if lines[1:] else []
        try:
            return [EventDate(label=m[1], date=parse_editor_date(m[2])), *rest]
        except DateError as exc:
            sink.add(line, f"{m[1]}: {exc}")
            return rest
    if kind == "continuation":
        return [Paragraph(spans=spans_of(split_lines(node), sink))]
    if kind == "container":
        return _container(node, folder, sink)
    if kind == "hr":
        return []
    what = _(_UNSUPPORTED[kind]) if kind in _UNSUPPORTED else kind
    sink.add(
        line, _("使えない Markdown です：{what}は誌面に置けません"
                "（docs/authoring.md を見てください）").format(what=what)
    )
    return []


def _notes(lines: list[Line], sink: ProblemSink) -> list[Block]:
    groups: list[list[Line]] = []
    for line in lines:
        if line.text.startswith("※") or not groups:
            groups.append([line])
        else:
            groups[-1].append(line)
    notes: list[Block] = []
    for group in groups:
        spans = drop_chars(spans_of(group, sink), 1)
        if not spans:
            sink.add(group[0].number, _("※ の注記が空です"))
            continue
        notes.append(Note(spans=spans))
    return notes


def _figure(node: SyntaxTreeNode, folder: Path, sink: ProblemSink) -> Figure | None:
    lines = split_lines(node)
    image = lines[0].nodes[0]
    line = lines[0].number
    src = str(image.attrs.get("src", ""))
    alt = plain_text(image.children).strip()
    title = str(image.attrs.get("title", "") or "").strip()
    ok = True
    if not alt:
        sink.add(line, _("画像 {src} に代替テキストがありません："
                         "![何が写っているか]({src}) と書いてください").format(src=src))
        ok = False
    problem, path = check_image_src(folder, src)
    if problem:
        sink.add(line, problem)
        ok = False
    caption_text = " ".join(ln.text.strip() for ln in lines[1:] if ln.text.strip()) or title
    for extra in lines[1:]:
        if any(n.type == "image" for n in extra.nodes):
            sink.add(extra.number, _("画像は 1 枚ずつ別の段落に置いてください（間に空行）"))
            ok = False
    if not ok:
        return None
    label: str | None = None
    caption: str | None = caption_text or None
    m = _CAPTION_RE.match(caption_text)
    if m:
        label = re.sub(r"\s+", "", m[1])
        caption = m[2].strip() or None
    size = image_size(path) if path else None
    return Figure(
        src=src,
        alt=alt,
        label=label,
        caption=caption,
        width=size[0] if size else None,
        height=size[1] if size else None,
    )


def _turn_start(node: SyntaxTreeNode, sink: ProblemSink) -> _PendingTurn:
    lines = split_lines(node)
    m = _TURN_RE.match(lines[0].text)
    assert m is not None
    turn = _PendingTurn(speaker=m[1], line=lines[0].number)
    spans = drop_chars(spans_of(lines, sink), m.end())
    if spans:
        turn.paragraphs.append(spans)
    return turn


def _resolve_turns(blocks: list[Block], turns: list[_PendingTurn], sink: ProblemSink) -> None:
    people: dict[str, Participant] = {}
    person: Participant | None
    for block in blocks:
        if isinstance(block, Participants):
            for person in block.people:
                people.setdefault(person.short, person)
                # The full name (with or without its space) is accepted too.
                people.setdefault(person.name, person)
                people.setdefault(re.sub(r"\s+", "", person.name), person)
    seen: set[str] = set()
    for turn in turns:
        person = people.get(turn.speaker)
        if person is None:
            known = "、".join(dict.fromkeys(p.short for p in people.values())) or _("なし")
            sink.add(
                turn.line,
                _("話し手【{speaker}】がこの配信回の参加者にいません（略称：{known}）")
                .format(speaker=turn.speaker, known=known),
            )
            continue
        if not turn.paragraphs:
            sink.add(turn.line, _("話し手【{speaker}】の発言がありません").format(
                speaker=turn.speaker))
            continue
        first = person.short not in seen
        seen.add(person.short)
        label = (
            f"{person.organisation} {person.titles}:{person.name}(以下「{person.short}」)"
            if first
            else person.short
        )
        blocks[turn.index] = Turn(
            speaker=person.short, label=label, first=first, paragraphs=turn.paragraphs
        )
    # Turns that could not be resolved leave placeholders; drop them.
    blocks[:] = [b for b in blocks if not (isinstance(b, Paragraph) and not b.spans)]


def _container(node: SyntaxTreeNode, folder: Path, sink: ProblemSink) -> list[Block]:
    line = first_line(node)
    info = node.info.strip()
    name = re.split(r"[\s((]", info, maxsplit=1)[0]
    kind = CONTAINERS.get(name.lower())
    if kind is None:
        names = "、".join(sorted({k for k in CONTAINERS if not k.isascii()}))
        sink.add(line, _("知らないブロック ::: {name} です（使えるもの：{known}）").format(
            name=name or _("（名前なし）"), known=names))
        return []
    if kind == "participants":
        heading = info if info.startswith("参加者") and info != "参加者" else None
        block = participants_block(node, sink)
        if block is not None and heading:
            block = block.model_copy(update={"heading": heading})
        return [block] if block is not None else []
    if kind == "credits":
        credits = credits_block(node, sink)
        return [credits] if credits is not None else []
    paragraphs: list[list[Span]] = []
    for child in node.children:
        if child.type != "paragraph":
            sink.add(first_line(child), _("::: {name} には段落しか置けません").format(name=name))
            continue
        spans = spans_of(split_lines(child), sink)
        if spans:
            paragraphs.append(spans)
    if not paragraphs:
        sink.add(line, _("::: {name} が空です").format(name=name))
        return []
    if kind == "lead":
        return [Lead(paragraphs=paragraphs)]
    joined: list[Span] = []
    for i, para in enumerate(paragraphs):
        if i:
            joined.append(Span(text="\n"))
        joined.extend(para)
    return [NextPart(spans=joined)]
