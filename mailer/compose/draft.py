"""What the browser editor writes: an issue as form fields, turned into an
issue folder (docs/authoring.md) so the parser decides everything.

A draft is not a second format. `write_folder` writes the same `issue.yaml`
and `partN.md` an editor would type by hand, and the folder parser then
builds the `IssueDocument`: the first turn's full title and 「以下「X」」, the
era date, the image sizes and every refusal come from the one parser, and a
published draft is stored by `load_issue` like any folder. `where_of` maps a
parser problem (file, line) back to the part and block it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from mailer.compose.document import (
    Block,
    Credits,
    EventDate,
    Figure,
    Heading,
    IssueDocument,
    Lead,
    Note,
    PartDocument,
    Participants,
    Prompt,
    Turn,
)
from mailer.compose.errors import Problem
from mailer.compose.parse import ISSUE_FILE
from mailer.compose.serialize import block_text, escape_line, escape_plain, schedule_text
from mailer.i18n import _

#: what each block kind is called on the page and in messages
BLOCK_LABELS: dict[str, str] = {
    "lead": "リード",
    "note": "※注記",
    "event_date": "開催日",
    "participants": "参加者(敬称略)",
    "heading": "見出し",
    "prompt": "聞き手の問いかけ",
    "turn": "発言",
    "paragraph": "地の文",
    "figure": "画像・スライド",
    "next_part": "次回予告",
    "credits": "クレジット",
}
_STARTS = {"※": "※注記", "―": "聞き手の問いかけ", "【": "発言", "!": "画像"}


class DraftPerson(BaseModel):
    name: str = ""
    short: str = ""  # 略称; empty: the family name (before the space)
    organisation: str = ""
    titles: str = ""


class DraftBlock(BaseModel):
    """One block as the editor fills it in; which fields count depends on `kind`."""

    kind: str
    text: str = ""  # paragraphs separated by a blank line (lead, turn, next_part …)
    level: int = 2  # heading: 2 見出し, 3 小見出し
    date_label: str = "開催日"
    speaker: str = ""  # turn: a participant's 略称
    people: list[DraftPerson] = Field(default_factory=list)
    heading: str = ""  # participants: its heading when not 参加者(敬称略) (from a stored issue)
    src: str = ""  # figure: images/… (an uploaded draft image)
    alt: str = ""
    caption: str = ""  # figure: "スライド1:説明" or a plain caption


class DraftPart(BaseModel):
    label: str = ""
    title: str = ""
    subject: str = ""
    preheader: str = ""
    scheduled_at: str = ""  # "YYYY-MM-DD HH:MM" Tokyo, or ""
    blocks: list[DraftBlock] = Field(default_factory=list)


class DraftBackNumber(BaseModel):
    number: str = ""
    title: str = ""
    url: str = ""


class DraftIssue(BaseModel):
    """A whole issue as the editor holds it (stored as JSON in each revision)."""

    slug: str = ""
    number: str = ""
    title: str = ""
    series: str = ""
    publisher_name: str = ""
    publisher_address: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    publisher_url: str = ""
    back_numbers: list[DraftBackNumber] = Field(default_factory=list)
    parts: list[DraftPart] = Field(default_factory=list)
    #: what a Word import could not place (「段落 N: …」), shown until the next save
    unplaced: list[str] = Field(default_factory=list)

    def issue_fields(self) -> dict[str, object]:
        """Everything but the parts (the unit of a merge next to each part)."""
        return self.model_dump(exclude={"parts", "unplaced"})


def part_file(index: int) -> str:
    """Return the file name of the part at `index` (0-based): part1.md, …"""
    return f"part{index + 1}.md"


def part_name(part: DraftPart, index: int) -> str:
    """Return how messages name a part: 第1部(part1)."""
    return f"第{index + 1}部({part.label or part_file(index)})"


@dataclass
class FolderMap:
    """Where each block starts in the written files, to name it in messages."""

    blocks: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # file -> (line, i)
    body_start: dict[str, int] = field(default_factory=dict)


def _paragraphs(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _yaml(data: dict[str, object]) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10_000)


def issue_yaml(draft: DraftIssue) -> str:
    """Return the `issue.yaml` text of the draft (empty optional fields left out)."""
    publisher: dict[str, object] = {"name": draft.publisher_name,
                                    "address": draft.publisher_address,
                                    "contact_email": draft.contact_email}
    if draft.contact_phone.strip():
        publisher["contact_phone"] = draft.contact_phone
    if draft.publisher_url.strip():
        publisher["url"] = draft.publisher_url
    number: object = int(draft.number) if draft.number.strip().isdigit() else draft.number
    data: dict[str, object] = {"number": number, "title": draft.title, "series": draft.series,
                               "publisher": publisher}
    backs = [b.model_dump() for b in draft.back_numbers if any(b.model_dump().values())]
    if backs:
        data["back_numbers"] = backs
    return _yaml(data)


def _block_markdown(block: DraftBlock) -> str:
    paras = _paragraphs(block.text)
    if block.kind == "lead":
        return "::: リード\n" + "\n\n".join(paras) + "\n:::"
    if block.kind == "note":  # one note a line
        lines = [ln.strip().removeprefix("※") for ln in block.text.splitlines() if ln.strip()]
        return "\n".join("※" + ln for ln in lines) or "※"
    if block.kind == "event_date":
        return f"{block.date_label or '開催日'}:{block.text.strip()}"
    if block.kind == "participants":
        lines = [f"::: {block.heading.strip() or '参加者(敬称略)'}"]
        for p in block.people:
            if not any(p.model_dump().values()):
                continue
            # typed as plain text: what Markdown would read as markup is escaped
            short = f"({escape_plain(p.short.strip())})" if p.short.strip() else ""
            lines += [f"- {escape_line(escape_plain(p.name.strip()))}{short}",
                      f"  - 所属:{escape_plain(p.organisation.strip())}",
                      f"  - 役職:{escape_plain(p.titles.strip())}"]
        return "\n".join([*lines, ":::"])
    if block.kind == "heading":
        return ("###" if block.level == 3 else "##") + " " + block.text.strip()
    if block.kind == "prompt":
        return "―" + block.text.strip().lstrip("―")
    if block.kind == "turn":
        return f"【{escape_plain(block.speaker.strip())}】\n" + "\n\n".join(paras)
    if block.kind == "figure":
        alt = escape_plain(block.alt.replace("\n", " ").strip())  # as typed, not markup
        caption = block.caption.replace("\n", " ").strip()
        return f"![{alt}]({block.src})" + (f"\n{caption}" if caption else "")
    if block.kind == "next_part":
        return "::: 次回予告\n" + "\n\n".join(paras) + "\n:::"
    if block.kind == "credits":
        lines = [ln.strip() for ln in block.text.splitlines() if ln.strip()]
        items = "\n".join(f"- {ln.lstrip('-').strip()}" for ln in lines)
        return "::: クレジット\n" + items + "\n:::"
    # paragraph: a blank-line separated run of plain paragraphs
    return "\n\n".join(paras)


def part_markdown(part: DraftPart) -> tuple[str, list[tuple[int, int]], int]:
    """Return the part file's text, where each block starts (line, index), and
    the first line of the body."""
    front: dict[str, object] = {"label": part.label, "title": part.title,
                                "subject": part.subject}
    if part.preheader.strip():
        front["preheader"] = part.preheader
    if part.scheduled_at.strip():
        front["scheduled_at"] = part.scheduled_at.strip().replace("T", " ")
    text = "---\n" + _yaml(front) + "---\n"
    line = text.count("\n") + 2
    body_start = line
    starts: list[tuple[int, int]] = []
    chunks: list[str] = []
    previous = ""
    for index, block in enumerate(part.blocks):
        chunk = _block_markdown(block)
        if previous == "turn" and block.kind == "paragraph":
            chunk = "***\n\n" + chunk  # a plain paragraph after a turn is not its continuation
        starts.append((line, index))
        chunks.append(chunk)
        line += chunk.count("\n") + 2
        previous = block.kind
    return text + "\n" + "\n\n".join(chunks) + "\n", starts, body_start


def write_folder(draft: DraftIssue, folder: Path, images: dict[str, bytes]) -> FolderMap:
    """Write the draft as an issue folder at `folder` (its name is the slug),
    with the uploaded `images` by path; return where each block starts."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ISSUE_FILE).write_text(issue_yaml(draft), encoding="utf-8")
    where = FolderMap()
    for index, part in enumerate(draft.parts):
        text, starts, body = part_markdown(part)
        (folder / part_file(index)).write_text(text, encoding="utf-8")
        where.blocks[part_file(index)] = starts
        where.body_start[part_file(index)] = body
    for path, data in images.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return where


def precheck(draft: DraftIssue) -> list[str]:
    """Return what the editor must fix before the parser can judge the draft,
    in Japanese, naming the part and the block (empty: nothing found)."""
    out: list[str] = []
    if not draft.parts:
        out.append("部がありません。「部を追加」で第1部を作ってください。")
    for p_index, part in enumerate(draft.parts):
        name = part_name(part, p_index)
        shorts = {_short(person) for b in part.blocks if b.kind == "participants"
                  for person in b.people if person.name.strip()}
        for b_index, block in enumerate(part.blocks):
            label = BLOCK_LABELS.get(block.kind, block.kind)
            where = f"{name} {b_index + 1}番目のブロック({label})"
            if block.kind == "figure":
                if not block.src:
                    out.append(f"{where}: 画像ファイルを選んでください。")
                if not block.alt.strip():
                    out.append(f"{where}: 代替テキストは必須です。"
                               "何が写っているかを文章で書いてください。")
            elif block.kind == "turn":
                if not block.speaker.strip():
                    out.append(f"{where}: 話す人を参加者から選んでください。")
                elif block.speaker.strip() not in shorts:
                    out.append(f"{where}: 「{block.speaker}」はこの部の参加者にいません。")
                if not block.text.strip():
                    out.append(f"{where}: 発言の本文を書いてください。")
            elif block.kind == "participants":
                for n, person in enumerate(block.people, start=1):
                    if person.name.strip() and not (person.organisation.strip()
                                                     and person.titles.strip()):
                        out.append(f"{where}: {n}人目({person.name})の所属と役職は必須です。")
            if block.kind in ("paragraph", "turn"):
                # a turn's first paragraph follows its 【name】; the others stand alone
                paras = _paragraphs(block.text)[1 if block.kind == "turn" else 0:]
                for para in paras:
                    if para[0] in _STARTS:
                        what = _STARTS[para[0]]
                        out.append(f"{where}: 「{para[0]}」で始まる段落は{what}になります。"
                                   f"{what}のブロックを使ってください。")
            if block.kind not in ("figure", "turn", "participants") and not block.text.strip():
                out.append(f"{where}: 本文を書いてください。")
    return out


def _short(person: DraftPerson) -> str:
    return person.short.strip() or person.name.strip().split()[0] if person.name.strip() else ""


def in_body(problem: Problem, folder_map: FolderMap) -> bool:
    """Is the problem about a part's body (a block), not its front matter or the issue?"""
    start = folder_map.body_start.get(problem.file)
    return start is not None and problem.line >= start


def where_of(problem: Problem, draft: DraftIssue, folder_map: FolderMap) -> str:
    """Return the parser's problem in the editor's terms: the part and block."""
    if problem.file == ISSUE_FILE:
        return f"号の情報: {problem.message}"
    m = re.match(r"^part(\d+)\.md$", problem.file)
    if m is None or int(m[1]) > len(draft.parts):
        return str(problem)
    index = int(m[1]) - 1
    part = draft.parts[index]
    name = part_name(part, index)
    if problem.line < folder_map.body_start.get(problem.file, 0):
        return f"{name} 前付け: {problem.message}"
    block = None
    for line, b_index in folder_map.blocks.get(problem.file, []):
        if line <= problem.line:
            block = b_index
    if block is None:
        return f"{name}: {problem.message}"
    label = BLOCK_LABELS.get(part.blocks[block].kind, part.blocks[block].kind)
    return f"{name} {block + 1}番目のブロック({label}): {problem.message}"


# -- a document as a draft ----------------------------------------------------


def _unwrap(text: str) -> str:
    """The lines between a ::: container's first and last line."""
    return "\n".join(text.split("\n")[1:-1])


def _draft_block(block: Block, at: str) -> DraftBlock:
    """One document block as the editor's fields; the text is what
    `mailer.compose.serialize` writes for it, so writing the draft out gives
    the same Markdown the folder writer would."""
    text = block_text(block, at)
    if isinstance(block, Lead):
        return DraftBlock(kind="lead", text=_unwrap(text))
    if isinstance(block, Note):
        return DraftBlock(kind="note", text=text)
    if isinstance(block, EventDate):
        return DraftBlock(kind="event_date", date_label=block.label,
                          text=text.split(":", 1)[1])
    if isinstance(block, Participants):
        heading = "" if block.heading == "参加者(敬称略)" else block.heading
        return DraftBlock(kind="participants", heading=heading, people=[
            DraftPerson(name=p.name, short=p.short, organisation=p.organisation,
                        titles=p.titles) for p in block.people])
    if isinstance(block, Heading):
        return DraftBlock(kind="heading", level=block.level, text=text[block.level + 1:])
    if isinstance(block, Prompt):
        return DraftBlock(kind="prompt", text=text[1:])
    if isinstance(block, Turn):
        return DraftBlock(kind="turn", speaker=block.speaker, text=text.split("\n", 1)[1])
    if isinstance(block, Figure):
        lines = text.split("\n", 1)
        return DraftBlock(kind="figure", src=block.src, alt=block.alt,
                          caption=lines[1] if len(lines) > 1 else "")
    if isinstance(block, Credits):
        return DraftBlock(kind="credits", text="\n".join(
            ln.removeprefix("- ") for ln in _unwrap(text).split("\n")))
    if block.kind == "next_part":
        return DraftBlock(kind="next_part", text=_unwrap(text))
    return DraftBlock(kind="paragraph", text=text)


def _draft_part(part: PartDocument, index: int) -> DraftPart:
    at = _("第{number}部({label})").format(number=index + 1, label=part.label)
    blocks = [_draft_block(part.header_image, at)] if part.header_image is not None else []
    for n, block in enumerate(part.blocks, start=1):
        drafted = _draft_block(block, _("{part} {n}番目のブロック").format(part=at, n=n))
        if drafted.kind == "note" and blocks and blocks[-1].kind == "note":
            blocks[-1].text += "\n" + drafted.text  # consecutive ※ lines: one note block
        else:
            blocks.append(drafted)
    return DraftPart(label=part.label, title=part.title, subject=part.subject,
                     preheader=part.preheader, blocks=blocks,
                     scheduled_at=schedule_text(part.scheduled_at)
                     if part.scheduled_at is not None else "")


def draft_from_document(issue: IssueDocument) -> DraftIssue:
    """Return the draft that writes out as `issue`'s folder, so that
    publishing it unchanged stores the same documents.

    Raises `mailer.compose.serialize.NotWritable` for a document with no
    folder form (see that module).
    """
    return DraftIssue(
        slug=issue.slug, number=str(issue.number), title=issue.title, series=issue.series,
        publisher_name=issue.publisher.name, publisher_address=issue.publisher.address,
        contact_email=issue.publisher.contact_email,
        contact_phone=issue.publisher.contact_phone or "",
        publisher_url=issue.publisher.url or "",
        back_numbers=[DraftBackNumber(number=b.number, title=b.title, url=b.url)
                      for b in issue.back_numbers],
        parts=[_draft_part(p, i) for i, p in enumerate(issue.parts)])
