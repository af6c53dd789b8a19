"""An `IssueDocument` written back as an issue folder (the inverse of parse).

`issue_folder_texts(issue)` returns the text files of the folder
(`issue.yaml`, `part1.md`, …) in the format of docs/authoring.md, such that
`parse_issue_folder` on those files (plus the images they name) gives back
the same document. Images are not written here: the caller copies them
(`mailer issue export` takes them from the stored IssueAsset rows).

Some documents have no folder form (a paragraph that begins with ※ is a
note by definition); those raise `NotWritable` naming the part and the block,
rather than being written as something that reads back differently.
What the parser normalises (spans merged, blanks at the ends stripped, a
plain https:// URL read as a link) is the editor's normal form, not an error.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import yaml

from mailer.compose.document import (
    Block,
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
    Participants,
    Prompt,
    Span,
    Turn,
)
from mailer.compose.eras import ERAS, era_format
from mailer.compose.schemas import TOKYO

ISSUE_FILE = "issue.yaml"
_WEEKDAYS = "月火水木金土日"
_PROMPT_MARKS = ("―", "—", "─")
_DEFAULT_PARTICIPANTS = "参加者(敬称略)"
# How a paragraph's first line is classified by the parser (mailer.compose.blocks).
_CLASSIFIED_RE = re.compile(
    r"^(?:※|[―—─]|【\s*[^【】\n]{1,20}?\s*】|(?:開催日|収録日|実施日)\s*[::])"
)
_CAPTION_RE = re.compile(r"^(?:スライド|画像|写真|図|資料)\s*[0-9０-９]+")
_PAREN_RE = re.compile(r"[(()()]")
# Characters with a meaning anywhere in a line of inline Markdown.
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>])")
_ENTITY_RE = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
_PART_FILE_RE = re.compile(r"^part([1-9]\d{0,5})\.md$")
_ORDERED_RE = re.compile(r"^(\d{1,9})([.)])")


class NotWritable(ValueError):
    """The document has something an issue folder cannot say."""


def issue_folder_texts(issue: IssueDocument) -> dict[str, str]:
    """Return the folder's text files: relative path → UTF-8 text.

    `issue.yaml` plus one `partN.md` per part, in sending order: each part
    keeps the file name it was loaded from (`source_file`) when those names
    still sort in sending order, else the parts are numbered 1, 2, 3 ….
    Raises NotWritable if a block cannot be written so that it reads back.
    """
    texts = {ISSUE_FILE: issue_yaml_text(issue)}
    for name, part in zip(part_file_names(issue.parts), issue.parts, strict=True):
        texts[name] = part_text(part, name)
    return texts


def part_file_names(parts: list[PartDocument]) -> list[str]:
    """Return the file name of each part (see `issue_folder_texts`)."""
    numbers = [_PART_FILE_RE.match(p.source_file) for p in parts]
    kept = [int(m[1]) for m in numbers if m]
    if len(kept) == len(parts) and kept == sorted(set(kept)):
        return [p.source_file for p in parts]
    return [f"part{n}.md" for n in range(1, len(parts) + 1)]


def issue_yaml_text(issue: IssueDocument) -> str:
    """Return `issue.yaml` for the issue's own fields (not its parts)."""
    publisher: dict[str, Any] = {
        "name": issue.publisher.name,
        "address": issue.publisher.address,
        "contact_email": issue.publisher.contact_email,
    }
    if issue.publisher.contact_phone is not None:
        publisher["contact_phone"] = issue.publisher.contact_phone
    if issue.publisher.url is not None:
        publisher["url"] = issue.publisher.url
    data: dict[str, Any] = {
        "number": issue.number,
        "title": issue.title,
        "series": issue.series,
        "publisher": publisher,
    }
    if issue.back_numbers:
        data["back_numbers"] = [
            {"number": b.number, "title": b.title, "url": b.url} for b in issue.back_numbers
        ]
    return _yaml(data)


def part_text(part: PartDocument, name: str = "part.md") -> str:
    """Return one part file: front matter, then the body blocks."""
    where = f"{name}({part.label})"
    matter: dict[str, Any] = {"label": part.label, "title": part.title, "subject": part.subject}
    if part.preheader:
        matter["preheader"] = part.preheader
    lines = ["---", _yaml(matter).rstrip("\n")]
    if part.scheduled_at is not None:
        lines.append(f'scheduled_at: "{schedule_text(part.scheduled_at)}"')
    lines.append("---")
    chunks: list[str] = ["\n".join(lines)]
    if part.header_image is not None:
        if part.header_image.label is not None:
            raise NotWritable(f"{where}: ヘッダー画像にはラベル(スライド1 など)を付けられません")
        chunks.append(_figure(part.header_image, where))
    elif part.blocks and isinstance(part.blocks[0], Figure) and part.blocks[0].label is None:
        raise NotWritable(
            f"{where}: 本文の最初のラベルなしの画像はヘッダー画像として読まれます"
            "(ラベル「スライド1」などを付けるか、ヘッダー画像にしてください)"
        )
    previous: Block | None = None
    for index, block in enumerate(part.blocks, start=1):
        at = f"{where} の {index} 番目の要素({block.kind})"
        text = block_text(block, at)
        if isinstance(previous, Turn) and isinstance(block, Paragraph | NextPart):
            # A plain paragraph right after a turn would continue it; the
            # closing notice gets the same rule as in the sample issue.
            chunks.append("***")
        if isinstance(previous, Note) and isinstance(block, Note):
            chunks[-1] += "\n" + text  # consecutive ※ lines, one note each
        else:
            chunks.append(text)
        previous = block
    return "\n\n".join(chunks) + "\n"


def block_text(block: Block, at: str = "block") -> str:
    """Return the Markdown of one body block (`at` names it in errors)."""
    if isinstance(block, Lead):
        return _container("リード", [_paragraph(p, at, free=True) for p in block.paragraphs], at)
    if isinstance(block, Heading):
        if block.level not in (2, 3):
            raise NotWritable(f"{at}: 見出しのレベルは 2 か 3 です(レベル {block.level})")
        text = escape_plain(_one_line(block.text, at).strip())
        if not text:
            raise NotWritable(f"{at}: 見出しが空です")
        return "#" * block.level + " " + text.rstrip("#") + _trailing_hashes(text)
    if isinstance(block, Paragraph):
        return _paragraph(block.spans, at, free=False)
    if isinstance(block, Note):
        return "※" + _inline(block.spans, at, line_start=False)
    if isinstance(block, EventDate):
        if block.label not in ("開催日", "収録日", "実施日"):
            raise NotWritable(f"{at}: 日付の見出しは 開催日・収録日・実施日 のどれかです")
        if block.date < ERAS["昭和"]:
            return f"{block.label}:{block.date.isoformat()}"
        weekday = _WEEKDAYS[block.date.weekday()]
        return f"{block.label}:{era_format(block.date)}({weekday})"
    if isinstance(block, Participants):
        return _participants(block, at)
    if isinstance(block, Prompt):
        if _plain(block.spans).startswith(_PROMPT_MARKS):
            raise NotWritable(f"{at}: 問いかけの本文を ― で始めることはできません")
        return "―" + _inline(block.spans, at, line_start=False)
    if isinstance(block, Turn):
        if not block.paragraphs:
            raise NotWritable(f"{at}: 発言【{block.speaker}】に本文がありません")
        speaker = _one_line(block.speaker, at).strip()
        if not speaker or len(speaker) > 20 or re.search(r"[【】]", speaker):
            raise NotWritable(f"{at}: 発言者「{speaker}」は【】の中に書けません")
        first = f"【{escape_plain(speaker)}】\n" + _inline(block.paragraphs[0], at)
        rest = [_paragraph(p, at, free=False) for p in block.paragraphs[1:]]
        return "\n\n".join([first, *rest])
    if isinstance(block, Figure):
        return _figure(block, at)
    if isinstance(block, Credits):
        return _credits(block, at)
    if isinstance(block, NextPart):
        return _container("次回予告", [_paragraph(p, at, free=True)
                                      for p in _split_paragraphs(block.spans)], at)
    raise NotWritable(f"{at}: 知らない種類の要素です")  # pragma: no cover - Block is closed


# -- YAML -------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as docs/authoring.md writes them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        del indentless  # PyYAML passes it by name; a list under a key is indented anyway
        super().increase_indent(flow, False)


def _yaml(data: dict[str, Any]) -> str:
    return yaml.dump(
        data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1 << 20,
        default_flow_style=False,
    )


def schedule_text(value: datetime) -> str:
    """Return a schedule as part files write it: "YYYY-MM-DD HH:MM" Tokyo."""
    local = value.astimezone(TOKYO) if value.tzinfo is not None else value
    if local.second or local.microsecond:
        raise NotWritable(f"配信予定 {value.isoformat()} は分単位で書いてください")
    return local.strftime("%Y-%m-%d %H:%M")


# -- blocks -----------------------------------------------------------------


def _container(name: str, paragraphs: list[str], at: str) -> str:
    if not paragraphs:
        raise NotWritable(f"{at}: ::: {name} が空です")
    return f"::: {name}\n" + "\n\n".join(paragraphs) + "\n:::"


def _paragraph(spans: list[Span], at: str, *, free: bool) -> str:
    """A paragraph; unless `free` (inside a ::: block), it must not begin like
    a note, a prompt, a turn or a date, which the parser would read as such."""
    text = _plain(spans)
    if not text.strip():
        raise NotWritable(f"{at}: 空の段落があります")
    if not free and _CLASSIFIED_RE.match(text):
        raise NotWritable(
            f"{at}: 「{text[:12]}」で始まる段落は、注記・問いかけ・発言・開催日として"
            "読まれるため、地の文としては書けません"
        )
    return _inline(spans, at)


def _split_paragraphs(spans: list[Span]) -> list[list[Span]]:
    """Split spans at line breaks (a next-part notice stores its paragraphs
    joined by "\\n")."""
    out: list[list[Span]] = [[]]
    for span in spans:
        pieces = span.text.split("\n")
        for i, piece in enumerate(pieces):
            if i:
                out.append([])
            if piece:
                out[-1].append(span.model_copy(update={"text": piece}))
    return [p for p in out if p]


def _figure(figure: Figure, at: str) -> str:
    alt = _one_line(figure.alt, at).strip()
    if not alt:
        raise NotWritable(f"{at}: 画像 {figure.src} に代替テキストがありません")
    head = f"![{escape_plain(alt)}]({_destination(figure.src)})"
    caption = _one_line(figure.caption or "", at).strip()
    if figure.label is not None:
        label = re.sub(r"\s+", "", figure.label)
        if not _CAPTION_RE.match(label) or _CAPTION_RE.sub("", label):
            raise NotWritable(
                f"{at}: 図のラベル「{figure.label}」は"
                " スライド6・画像3・写真2・図1・資料1 の形で書きます"
            )
        line = f"{label}:{caption}" if caption else label
    elif caption:
        if _CAPTION_RE.match(caption):
            raise NotWritable(f"{at}: ラベルなしの説明「{caption[:12]}」はラベルとして読まれます")
        line = caption
    else:
        return head
    return head + "\n" + escape_line(escape_plain(line))


def _participants(block: Participants, at: str) -> str:
    heading = block.heading
    if heading == _DEFAULT_PARTICIPANTS:
        info = heading
    elif heading.startswith("参加者") and heading != "参加者":
        info = _one_line(heading, at)
    else:
        raise NotWritable(
            f"{at}: 参加者一覧の見出しは「参加者」で始め、「参加者」だけにはできません"
        )
    if not block.people:
        raise NotWritable(f"{at}: 参加者がいません")
    items: list[str] = []
    for person in block.people:
        name = _one_line(person.name, at).strip()
        short = _one_line(person.short, at).strip()
        if _PAREN_RE.search(short):
            raise NotWritable(f"{at}: 略称「{short}」に括弧は使えません")
        items.append(f"- {escape_line(escape_plain(name))}({escape_plain(short)})")
        for key, value in (("所属", person.organisation), ("役職", person.titles)):
            items.append(f"  - {key}:{escape_plain(_one_line(value, at).strip())}")
    return f"::: {info}\n" + "\n".join(items) + "\n:::"


def _credits(block: Credits, at: str) -> str:
    if not block.entries:
        raise NotWritable(f"{at}: クレジットがありません")
    items: list[str] = []
    for i, entry in enumerate(block.entries):
        role = _one_line(entry.role, at).strip()
        department = _one_line(entry.department, at).strip()
        if department in ("(同上)", "同上"):
            if i == 0:
                raise NotWritable(f"{at}: 最初のクレジットを(同上)にはできません")
            department = "同上"
        if re.search(r"[::]", role) or _PAREN_RE.search(department):
            raise NotWritable(f"{at}: クレジット「{role}」は 役割:氏名(所属) の形で書けません")
        name = escape_plain(_one_line(entry.name, at).strip())
        items.append(f"- {escape_line(escape_plain(role))}:{name}({escape_plain(department)})")
    return "::: クレジット\n" + "\n".join(items) + "\n:::"


# -- inline -----------------------------------------------------------------


def _plain(spans: list[Span]) -> str:
    return "".join(s.text for s in spans)


def _one_line(text: str, at: str) -> str:
    if "\n" in text or "\r" in text:
        raise NotWritable(f"{at}: 「{text[:12]}…」は1行で書く項目です(改行は使えません)")
    return text


def _inline(spans: list[Span], at: str, *, line_start: bool = True) -> str:
    """Spans as one line of inline Markdown (`line_start`: the line begins
    with it, so what would start a block is escaped)."""
    if any("\n" in s.text or "\r" in s.text for s in spans):
        raise NotWritable(f"{at}: 段落の中の改行は書けません(段落を分けてください)")
    text = ""
    for span in spans:
        piece = _span(span, at)
        if piece.startswith("[") and text.endswith("!"):
            text = text[:-1] + "\\!"  # "!" before a link would make it an image
        text += piece
    return escape_line(text) if line_start else text


def _span(span: Span, at: str) -> str:
    text = escape_plain(span.text)
    if span.strong:
        if span.text != span.text.strip():
            raise NotWritable(f"{at}: 太字「{span.text}」の前後に空白は置けません")
        text = f"**{text}**"
    if span.href is not None:
        text = f"[{text}]({_destination(span.href)})"
    return text


def escape_plain(text: str) -> str:
    """Escape what inline Markdown would read as markup (also the editor's
    alt texts)."""
    text = _INLINE_SPECIAL.sub(r"\\\1", text)
    return _ENTITY_RE.sub(lambda _m: "\\&", text)


def escape_line(text: str) -> str:
    """Escape what would start a block (heading, list, quote, ::: …) at the
    beginning of a line; `text` is already inline-escaped."""
    text = text.lstrip(" \t")  # the parser drops them; four would make a code block
    if text[:1] and text[:1] in "#>-+=:~|":
        return "\\" + text
    m = _ORDERED_RE.match(text)
    if m:
        return m[1] + "\\" + m[2] + text[m.end():]
    return text


def _trailing_hashes(text: str) -> str:
    """A heading ending in # would lose them as a closing sequence: escape them."""
    stripped = text.rstrip("#")
    count = len(text) - len(stripped)
    return "\\#" * count


def _destination(url: str) -> str:
    return re.sub(r"([\\()<>])", r"\\\1", url.replace(" ", "%20"))
