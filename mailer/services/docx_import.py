"""Use case: draft an issue folder from a Word manuscript (.docx).

The editors write in Word. This reads the manuscript with python-docx and
recognises the magazine's structure the way docs/authoring.md describes it
for a folder, paragraph by paragraph:

- the Title style: the part's title; Heading 1 / Heading 2: 見出し / 小見出し
- plain paragraphs before the first ※ note, date, participants or heading:
  the lead
- ※…: a note; ―…: the interviewer's prompt; 開催日:…: the event date
- 参加者(敬称略), then per person a name line `氏名(略称)` and the lines
  `所属:…` and `役職:…`
- a speaker turn: a paragraph that begins with 【略称】, with
  `…:氏名(以下「略称」)` (the first turn as it is printed), or with a known
  short name or full name followed by a colon, a blank or 」 (「略称」…);
  plain paragraphs after a turn continue it
- a picture with alt text (Word's 代替テキスト): a figure; a caption line
  below it (スライド1:… or the Caption style) is its caption
- 次回予告 (a heading or a line of its own), then its paragraphs
- 執筆者:氏名(所属) lines: the credits

Everything it cannot place (tables, text boxes, footnotes, pictures without
alt text or in a format mail does not show, styles it does not know) is
returned in `unplaced`, with the paragraph number, never dropped silently.
The result is a draft: the folder texts, written by the same serializer as
`mailer issue export`, and the images.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from mailer.compose.document import (
    BackNumber,
    Block,
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
from mailer.compose.eras import DateError, parse_editor_date
from mailer.compose.images import MAX_IMAGE_BYTES, image_size_of_bytes, sniff_media_type
from mailer.compose.inline import drop_chars
from mailer.compose.serialize import (
    NotWritable,
    block_text,
    issue_yaml_text,
    part_text,
)
from mailer.i18n import _
from mailer.render.preflight import DRAFT_ADDRESS, DRAFT_PUBLISHER, DRAFT_SERIES, DRAFT_TITLE
from mailer.services.errors import ErrorKind, ServiceError

#: the largest .docx accepted (text and pictures of one part fit easily)
MAX_DOCX_BYTES = 30 * 1024 * 1024
#: the most its files may hold unpacked (python-docx reads them all into memory;
#: a small zip can unpack to gigabytes)
MAX_UNPACKED_BYTES = 200 * 1024 * 1024

_PROMPT_MARKS = ("―", "—", "─")
_BRACKET_TURN_RE = re.compile(r"^【\s*([^【】\n]{1,20}?)\s*】\s*")
_FIRST_TURN_RE = re.compile(r"^[^「」\n]{0,150}?[((]以下「([^「」\n]{1,20})」[))]\s*[::]?\s*")
_DATE_RE = re.compile(r"^(開催日|収録日|実施日)\s*[::]\s*(.+)$")
_CAPTION_RE = re.compile(r"^(?:スライド|画像|写真|図|資料)\s*[0-9０-９]+")
_PARTICIPANTS_RE = re.compile(r"^参加者\s*(?:[((][^()()]*[))])?\s*[::]?$")
_KEY_RE = re.compile(r"^(所属|役職|略称)\s*[::]\s*(.+)$")
_NAME_RE = re.compile(r"^(.*?)\s*[((]([^(()()]*)[))]\s*$")
_CREDIT_RE = re.compile(
    r"^(執筆者|執筆|編集|構成|取材|撮影|写真|イラスト|デザイン)\s*[::]\s*(.+?)\s*[((]([^(()()]+)[))]\s*$"
)
_KNOWN_STYLES = {
    "Normal", "Body Text", "Title", "Subtitle", "Heading 1", "Heading 2", "Caption",
    "Default Paragraph Font", "No Spacing", "Plain Text",
}
_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif"}
_NS = {
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "wp": "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing",
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
}


@dataclass(frozen=True)
class Unplaced:
    """Something in the manuscript the draft does not hold as written."""

    paragraph: int  # 1-based, counting paragraphs and tables from the start of the body
    what: str  # 表、テキストボックス、脚注、代替テキストのない画像、スタイル「…」…
    text: str  # an excerpt, to find it in Word

    def __str__(self) -> str:
        excerpt = _(":「{text}」").format(text=self.text) if self.text else ""
        return _("段落 {number}: {what}{excerpt}").format(
            number=self.paragraph, what=self.what, excerpt=excerpt)


@dataclass(frozen=True)
class DocxDraft:
    """A draft issue folder made from a manuscript."""

    texts: dict[str, str]  # issue.yaml, part1.md
    images: dict[str, bytes]  # images/word-01.png …
    unplaced: list[Unplaced]
    document: IssueDocument  # what the texts say (turn labels resolved as the parser does)

    def files(self) -> dict[str, bytes]:
        """Every file of the folder: relative path → bytes."""
        return {**{k: v.encode("utf-8") for k, v in self.texts.items()}, **self.images}


@dataclass
class _Para:
    number: int
    style: str
    spans: list[Span]
    pictures: list[tuple[str, str, bytes | None]]  # (alt, name in the docx, bytes)

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.spans).strip()


@dataclass
class _State:
    blocks: list[Block] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)
    title: str = ""
    header: Figure | None = None
    mode: str = "lead"  # lead, body, participants, next
    lead: list[list[Span]] = field(default_factory=list)
    people: list[dict[str, str]] = field(default_factory=list)
    people_line: int = 0
    turn: Turn | None = None
    next_part: list[list[Span]] = field(default_factory=list)
    credits: list[Credit] = field(default_factory=list)
    speakers: dict[str, str] = field(default_factory=dict)  # what may open a turn → short

    def note(self, number: int, what: str, text: str = "") -> None:
        excerpt = text.strip().replace("\n", " ")
        excerpt = excerpt[:30] + ("…" if len(excerpt) > 30 else "")
        self.unplaced.append(Unplaced(number, what, excerpt))


def draft_from_docx(data: bytes, *, slug: str, like: IssueDocument | None = None) -> DocxDraft:
    """Return a draft issue folder (one part) made from the .docx `data`.

    `like` is a stored issue whose series, publisher and back numbers the
    draft takes (its number + 1); without it issue.yaml has placeholders,
    listed in `unplaced` as paragraph 0. Raises ServiceError (UNREADABLE)
    when `data` is not a Word document, TOO_LARGE over MAX_DOCX_BYTES.
    """
    if len(data) > MAX_DOCX_BYTES:
        limit = MAX_DOCX_BYTES // (1024 * 1024)
        raise ServiceError(_("Word ファイルが大きすぎます({limit} MB まで)").format(limit=limit),
                           kind=ErrorKind.TOO_LARGE)
    _check_unpacked(data)
    try:
        import docx
        from docx.opc.exceptions import PackageNotFoundError
        from docx.table import Table

        try:
            document = docx.Document(io.BytesIO(data))
        except (PackageNotFoundError, KeyError, ValueError) as exc:
            raise ServiceError(_("Word(.docx)のファイルとして読めません: {reason}").format(
                               reason=exc),
                               kind=ErrorKind.UNREADABLE) from None
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ServiceError(_("python-docx がありません: {reason}").format(
                               reason=exc),
                           kind=ErrorKind.UNAVAILABLE) from None
    except Exception as exc:  # zipfile.BadZipFile, lxml errors: a broken upload
        if isinstance(exc, ServiceError):
            raise
        raise ServiceError(_("Word(.docx)のファイルとして読めません: {reason}").format(
                               reason=exc),
                           kind=ErrorKind.UNREADABLE) from None
    state = _State()
    footnotes = _footnotes(document)
    for number, item in enumerate(document.iter_inner_content(), start=1):
        if isinstance(item, Table):
            rows = len(item.rows)
            cols = len(item.columns)
            first = " ".join(c.text for c in item.rows[0].cells) if rows else ""
            _flush_turn(state)
            state.note(number, _("表({rows}行×{cols}列)は雑誌の形にないため取り込んでいません")
                       .format(rows=rows, cols=cols), first)
            continue
        para = _read_paragraph(item, number, state, footnotes)
        _place(para, state)
    _finish(state)
    return _draft(state, slug=slug, like=like)


# -- reading ----------------------------------------------------------------


def _check_unpacked(data: bytes) -> None:
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ServiceError(_("Word(.docx)のファイルとして読めません: {reason}").format(
                               reason=exc),
                           kind=ErrorKind.UNREADABLE) from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise ServiceError(
            _("Word ファイルの中身が大きすぎます(展開すると {mb} MB を超えます)").format(
                mb=MAX_UNPACKED_BYTES // 2**20),
            kind=ErrorKind.TOO_LARGE)


def _read_paragraph(item: Any, number: int, state: _State,
                    footnotes: dict[str, str]) -> _Para:
    from docx.text.hyperlink import Hyperlink

    style = item.style.name if item.style is not None else "Normal"
    spans: list[Span] = []
    for inner in item.iter_inner_content():
        if isinstance(inner, Hyperlink):
            url = inner.url
            for run in inner.runs:
                if run.text:
                    spans.append(Span(text=run.text, href=url or None, strong=bool(run.bold)))
        elif inner.text:
            spans.append(Span(text=inner.text, strong=bool(inner.bold)))
    element = item._p
    for box in _xpath(element, ".//w:txbxContent"):
        text = "".join(_xpath(box, ".//w:t/text()"))
        state.note(number, _("テキストボックスは取り込めません(本文に書き直してください)"), text)
    for ref in _xpath(element, ".//w:footnoteReference"):
        note_id = ref.get(f"{{{_NS['w']}}}id")
        state.note(number, _("脚注は取り込めません(※注記か本文に書き直してください)"),
                   footnotes.get(note_id or "", ""))
    pictures: list[tuple[str, str, bytes | None]] = []
    for inline in _xpath(element, ".//w:drawing/*[self::wp:inline or self::wp:anchor]"):
        doc_pr = inline.find(f"{{{_NS['wp']}}}docPr")
        alt = name = ""
        if doc_pr is not None:
            alt = (doc_pr.get("descr") or doc_pr.get("title") or "").strip()
            name = doc_pr.get("name") or ""
        blips = _xpath(inline, ".//a:blip")
        rid = blips[0].get(f"{{{_NS['r']}}}embed") if blips else None
        blob: bytes | None = None
        if rid and rid in item.part.related_parts:
            blob = item.part.related_parts[rid].blob
        pictures.append((alt, name, blob))
    return _Para(number=number, style=style, spans=_tidy(spans), pictures=pictures)


def _xpath(element: Any, expression: str) -> list[Any]:
    """`expression` on any lxml element (python-docx's own elements know the
    prefixes, the ones inside a text box or a footnote do not)."""
    from lxml import etree

    return list(etree._Element.xpath(element, expression, namespaces=_NS))


def _footnotes(document: Any) -> dict[str, str]:
    """Return the text of each footnote by id (python-docx reads no footnotes,
    so their part is looked up through the document's relationships)."""
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml.parser import parse_xml  # python-docx's parser: no entities, no network

    notes: dict[str, str] = {}
    for rel in document.part.rels.values():
        if rel.reltype == RT.FOOTNOTES and not rel.is_external:
            root = parse_xml(rel.target_part.blob)
            for note in root.findall(f"{{{_NS['w']}}}footnote"):
                note_id = note.get(f"{{{_NS['w']}}}id") or ""
                notes[note_id] = "".join(_xpath(note, ".//w:t/text()"))
    return notes


def _tidy(spans: list[Span]) -> list[Span]:
    """Merge runs that look alike (Word splits text into many runs), strip the ends."""
    merged: list[Span] = []
    for span in spans:
        text = span.text.replace("\t", " ").replace("\v", " ")
        if merged and (merged[-1].href, merged[-1].strong) == (span.href, span.strong):
            merged[-1] = merged[-1].model_copy(update={"text": merged[-1].text + text})
        else:
            merged.append(span.model_copy(update={"text": text}))
    # A bold run of blanks is just blanks.
    merged = [s.model_copy(update={"strong": False}) if s.strong and not s.text.strip() else s
              for s in merged]
    if merged:
        merged[0] = merged[0].model_copy(update={"text": merged[0].text.lstrip()})
        merged[-1] = merged[-1].model_copy(update={"text": merged[-1].text.rstrip()})
    out: list[Span] = []
    for span in merged:
        if not span.text:
            continue
        if out and (out[-1].href, out[-1].strong) == (span.href, span.strong):
            out[-1] = out[-1].model_copy(update={"text": out[-1].text + span.text})
        else:
            out.append(span)
    # ** needs words inside: a bold run that begins or ends with blanks gives them back.
    fixed: list[Span] = []
    for span in out:
        if span.strong and span.text != span.text.strip():
            core = span.text.strip()
            lead = span.text[: len(span.text) - len(span.text.lstrip())]
            trail = span.text[len(span.text.rstrip()):]
            fixed.extend(s for s in (Span(text=lead, href=span.href),
                                     Span(text=core, href=span.href, strong=True),
                                     Span(text=trail, href=span.href)) if s.text)
        else:
            fixed.append(span)
    return fixed


# -- placing ----------------------------------------------------------------


def _place(para: _Para, state: _State) -> None:
    text = para.text
    for alt, name, blob in para.pictures:
        _flush_turn(state)
        _picture(para.number, alt, name, blob, state)
    if not text:
        return
    style = para.style
    if style == "Title" and not state.title:
        state.title = text
        return
    if style.startswith("Heading") or style == "Title":
        _heading(para, state)
        return
    if style not in _KNOWN_STYLES:
        state.note(para.number,
                   _("スタイル「{style}」は雑誌の形にないため、普通の段落として入れました")
                   .format(style=style), text)
    if style == "Caption" or (_CAPTION_RE.match(text) and _last_figure(state) is not None):
        figure = _last_figure(state)
        if figure is not None and figure.caption is None and figure.label is None:
            _caption(figure, text, state)
            return
    if state.mode == "next" and not _CREDIT_RE.match(unicodedata.normalize("NFC", text)):
        state.next_part.append(para.spans)
        return
    if text in ("次回予告", "次回予告:", "次回予告:"):
        _flush_turn(state)
        _end_participants(state)
        state.mode = "next"
        return
    if state.mode == "participants" and _participant_line(para, state):
        return
    if _PARTICIPANTS_RE.match(text):
        _flush_turn(state)
        _end_lead(state)
        state.mode = "participants"
        state.people = []
        state.people_line = para.number
        return
    _end_participants(state)
    credit = _CREDIT_RE.match(text)
    if credit:
        _flush_turn(state)
        _end_lead(state)
        department = credit[3].strip()
        state.credits.append(Credit(role=credit[1], name=credit[2].strip(),
                                    department="(同上)" if department == "同上" else department))
        return
    if text.startswith("※"):
        _flush_turn(state)
        _end_lead(state)
        spans = drop_chars(para.spans, 1)
        if spans:
            state.blocks.append(Note(spans=spans))
        return
    if text.startswith(_PROMPT_MARKS):
        _flush_turn(state)
        _end_lead(state)
        marks = len(text) - len(text.lstrip("".join(_PROMPT_MARKS)))
        state.blocks.append(Prompt(spans=drop_chars(para.spans, marks)))
        return
    date_match = _DATE_RE.match(text)
    if date_match:
        _flush_turn(state)
        _end_lead(state)
        try:
            state.blocks.append(EventDate(label=date_match[1],
                                          date=parse_editor_date(date_match[2])))
        except DateError as exc:
            state.note(para.number, _("{label}の日付が読めません({reason})").format(
                label=date_match[1], reason=exc), text)
        return
    speaker, skip = _speaker(text, state)
    if speaker is not None:
        _flush_turn(state)
        _end_lead(state)
        words = drop_chars(para.spans, skip)
        state.turn = Turn(speaker=speaker, label=speaker, paragraphs=[words] if words else [])
        return
    if state.turn is not None:
        state.turn.paragraphs.append(para.spans)
        return
    if state.mode == "lead":
        state.lead.append(para.spans)
        return
    state.blocks.append(Paragraph(spans=para.spans))


def _heading(para: _Para, state: _State) -> None:
    _flush_turn(state)
    _end_lead(state)
    _end_participants(state)
    text = para.text
    if text.startswith("次回予告"):
        state.mode = "next"
        return
    level = {"Heading 1": 2, "Heading 2": 3}.get(para.style)
    if level is None:
        state.note(para.number,
                   _("スタイル「{style}」の見出しは使えないため、小見出しにしました")
                   .format(style=para.style), text)
        level = 3
    state.blocks.append(Heading(level=level, text=text))


def like_hint() -> str:
    """How the CLI says a placeholder draft can copy a stored issue (the
    browser's import replaces it with its own form's words)."""
    return _("(--like で既存の号から写せます)")


def _picture(number: int, alt: str, name: str, blob: bytes | None, state: _State) -> None:
    if blob is None:
        state.note(number, _("画像のデータが文書の中にありません"
                             "(リンクされた画像は取り込めません)"), name)
        return
    kind = sniff_media_type(blob[:16])
    suffix = _SUFFIX.get(kind or "")
    if suffix is None:
        state.note(number, _("画像の形式が PNG・JPEG・GIF ではないため取り込んでいません"
                             "(PNG で保存し直してください)"), name)
        return
    if len(blob) > MAX_IMAGE_BYTES:
        state.note(number, _("画像が {mb} MB を超えるため取り込んでいません"
                             "(小さくしてください)").format(mb=MAX_IMAGE_BYTES // 2**20), name)
        return
    path = f"images/word-{len(state.images) + 1:02d}{suffix}"
    state.images[path] = blob
    if not alt:
        state.note(number, _("代替テキストのない画像は本文に入れていません({path} として"
                             "保存しました。Word の「代替テキスト」に何が写っているかを"
                             "書いてください)").format(path=path), name)
        return
    size = image_size_of_bytes(blob)
    figure = Figure(src=path, alt=alt, width=size[0] if size else None,
                    height=size[1] if size else None)
    if state.mode == "lead" and not state.lead and not state.blocks and state.header is None:
        state.header = figure  # a picture before everything else: the header image
    else:
        _end_lead(state)
        state.blocks.append(figure)


def _last_figure(state: _State) -> Figure | None:
    last = state.blocks[-1] if state.blocks else None
    return last if isinstance(last, Figure) else None


def _caption(figure: Figure, text: str, state: _State) -> None:
    m = re.match(r"^((?:スライド|画像|写真|図|資料)\s*[0-9０-９]+)\s*[::]?\s*(.*)$", text)
    if m:
        update = {"label": re.sub(r"\s+", "", m[1]), "caption": m[2].strip() or None}
    else:
        update = {"caption": text}
    state.blocks[-1] = figure.model_copy(update=update)


def _participant_line(para: _Para, state: _State) -> bool:
    """Take a line of the participants list; False when the list has ended."""
    text = unicodedata.normalize("NFC", para.text)
    key = _KEY_RE.match(text)
    if key and state.people:
        field_name = {"所属": "organisation", "役職": "titles", "略称": "short"}[key[1]]
        state.people[-1][field_name] = key[2].strip()
        return True
    if key or text.startswith(("※", "【", *_PROMPT_MARKS)) or _DATE_RE.match(text):
        return False
    if state.people and not (state.people[-1].get("organisation")
                             and state.people[-1].get("titles")):
        return False  # the previous "person" was not one: the list has ended
    m = _NAME_RE.match(text)
    name, short = (m[1].strip(), m[2].strip()) if m else (text, "")
    state.people.append({"name": name, "short": short, "line": str(para.number)})
    return True


def _end_participants(state: _State) -> None:
    if state.mode != "participants":
        return
    state.mode = "body"
    people: list[Participant] = []
    leftovers: list[dict[str, str]] = []
    for person in state.people:
        if person.get("organisation") and person.get("titles"):
            short = person.get("short") or (person["name"].split()[0] if person["name"] else "")
            people.append(Participant(name=person["name"], organisation=person["organisation"],
                                      titles=person["titles"], short=short))
        else:
            leftovers.append(person)
    for person in leftovers:
        # A line after the list that was not a person: keep it as an ordinary paragraph.
        state.blocks.append(Paragraph(spans=[Span(text=person["name"])]))
        if person.get("organisation") or person.get("titles"):
            state.note(int(person["line"]), _("参加者「{name}」に所属か役職がないため、"
                                              "一覧に入れていません").format(name=person["name"]),
                       person["name"])
    if not people:
        state.note(state.people_line, _("参加者の一覧が読めません"
                                        "(氏名(略称)の次の行に 所属:… と 役職:… を書いてください)"))
        return
    blocks = state.blocks
    insert_at = len(blocks) - len(leftovers)
    blocks.insert(insert_at, Participants(people=people))
    for someone in people:
        for key in (someone.short, someone.name, re.sub(r"\s+", "", someone.name)):
            state.speakers.setdefault(key, someone.short)


def _speaker(text: str, state: _State) -> tuple[str | None, int]:
    """Return (the speaker, characters to drop) if `text` opens a turn."""
    text = unicodedata.normalize("NFC", text)
    m = _BRACKET_TURN_RE.match(text)
    if m:
        return state.speakers.get(m[1], m[1]), m.end()
    m = _FIRST_TURN_RE.match(text)
    # 「(以下「局」)」 in ordinary prose names no participant: once the list is known,
    # only its people open a turn this way.
    if m and (not state.speakers or m[1].strip() in state.speakers):
        short = m[1].strip()
        state.speakers.setdefault(short, short)
        return state.speakers.get(short, short), m.end()
    m = re.match(r"^「([^「」\n]{1,20})」\s*[::]?\s*", text)
    if m and m[1] in state.speakers:
        return state.speakers[m[1]], m.end()
    for key in sorted(state.speakers, key=len, reverse=True):
        if text.startswith(key):
            rest = text[len(key):]
            m = re.match(r"^\s*[::]\s*|^　+", rest)  # a colon or a full-width space
            if m and rest[m.end():]:
                return state.speakers[key], len(key) + m.end()
    return None, 0


def _flush_turn(state: _State) -> None:
    turn = state.turn
    if turn is None:
        return
    state.turn = None
    state.blocks.append(turn)


def _end_lead(state: _State) -> None:
    if state.mode == "lead":
        state.mode = "body"
        if state.lead:
            state.blocks.insert(0, Lead(paragraphs=state.lead))
            state.lead = []


def _finish(state: _State) -> None:
    _flush_turn(state)
    _end_participants(state)
    _end_lead(state)
    if state.next_part:
        joined: list[Span] = []
        for i, para in enumerate(state.next_part):
            if i:
                joined.append(Span(text="\n"))
            joined.extend(para)
        state.blocks.append(NextPart(spans=joined))
    if state.credits:
        state.blocks.append(Credits(entries=state.credits))




# -- the folder -------------------------------------------------------------


def _resolve_turns(blocks: list[Block]) -> list[Block]:
    """Turn labels as the parser writes them (the first turn of each person in full)."""
    people: dict[str, Participant] = {}
    for block in blocks:
        if isinstance(block, Participants):
            for person in block.people:
                people.setdefault(person.short, person)
    seen: set[str] = set()
    out: list[Block] = []
    for block in blocks:
        if isinstance(block, Turn) and block.speaker in people:
            person = people[block.speaker]
            first = person.short not in seen
            seen.add(person.short)
            label = (f"{person.organisation} {person.titles}:{person.name}(以下「{person.short}」)"
                     if first else person.short)
            block = block.model_copy(update={"label": label, "first": first})
        out.append(block)
    return out


def _draft(state: _State, *, slug: str, like: IssueDocument | None) -> DocxDraft:
    blocks = _resolve_turns(state.blocks)
    known = {p.short for b in blocks if isinstance(b, Participants) for p in b.people}
    for block in blocks:
        if isinstance(block, Turn) and block.speaker not in known:
            state.note(0, _("発言者「{speaker}」が参加者の一覧にありません"
                            "(参加者に加えるか、略称を直してください)").format(speaker=block.speaker))
    header = state.header
    if header is None and blocks and isinstance(blocks[0], Figure) and blocks[0].label is None:
        header, blocks = blocks[0], blocks[1:]  # read so by the parser anyway
    title = state.title or DRAFT_TITLE
    if like is not None:
        number, series = like.number + 1, like.series
        publisher, back = like.publisher, list(like.back_numbers)
    else:
        number, series = 0, DRAFT_SERIES
        publisher = Publisher(name=DRAFT_PUBLISHER, address=DRAFT_ADDRESS,
                              contact_email="editor@example.jp")
        back = list[BackNumber]()
        state.note(0, _("issue.yaml の回数・誌名・発行者は仮の値です") + like_hint())
    part = PartDocument(label="part1", title=title, subject=f"【{series}】第{number}回 {title}",
                        header_image=header, blocks=blocks, source_file="part1.md")
    issue = IssueDocument(slug=slug, number=number, title=title, series=series,
                          publisher=publisher, back_numbers=back, parts=[part])
    texts = {"issue.yaml": issue_yaml_text(issue)}
    try:
        texts["part1.md"] = part_text(part, "part1.md")
    except NotWritable:
        kept: list[Block] = []
        for index, block in enumerate(part.blocks, start=1):
            try:
                block_text(block, f"{index}")
                kept.append(block)
            except NotWritable as exc:
                state.note(0, _("書き出せない要素を外しました({reason})").format(reason=exc))
        part = part.model_copy(update={"blocks": kept})
        texts["part1.md"] = part_text(part, "part1.md")
        issue = issue.model_copy(update={"parts": [part]})
    unplaced = sorted(state.unplaced, key=lambda u: u.paragraph)
    return DocxDraft(texts=texts, images=dict(state.images), unplaced=unplaced, document=issue)
