"""Checks an editor runs before a part is scheduled. Pure: returns findings.

Errors block sending; warnings are shown and the editor decides. Characters
ISO-2022-JP cannot carry are listed with their place and never replaced here:
a name's kanji (髙, 﨑) is the person's, so the editor (or the person) decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

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
from mailer.i18n import _
from mailer.labels import BLOCK_LABELS
from mailer.render.charset import iso2022jp_problems
from mailer.render.errors import RenderError
from mailer.render.message import RenderConfig, personalize, prepare_part
from mailer.render.preview import PREVIEW_RECIPIENT, preview_slots
from mailer.render.wrap import display_width
from mailer.textcheck import control_char, describe_char

Severity = Literal["error", "warning"]

#: what `mailer issue import-docx` writes where the manuscript says nothing
#: (without --like): a draft's stand-ins that must never reach a reader
DRAFT_TITLE = "(題名)"
DRAFT_SERIES = "(誌名)"
DRAFT_PUBLISHER = "(発行者)"
DRAFT_ADDRESS = "(住所)"
DRAFT_PLACEHOLDERS = (DRAFT_TITLE, DRAFT_SERIES, DRAFT_PUBLISHER, DRAFT_ADDRESS)

MAX_SUBJECT_WIDTH = 60  # about 30 full-width characters
MAX_MESSAGE_BYTES = 100 * 1024


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    message: str
    where: str


def _at(part: PartDocument, what: str) -> str:
    """A place in the part: "part1: 件名"."""
    return f"{part.label}: {what}"


def _block_at(part: PartDocument, number: int, kind: str) -> str:
    """A block of the part: "part1: 3 番目のブロック（発言）"."""
    return _at(part, _("{number} 番目のブロック（{kind}）").format(
        number=number, kind=BLOCK_LABELS.get(kind, kind)))


def check_part(
    *, issue: IssueDocument, part: PartDocument, config: RenderConfig,
    iso2022jp_recipients: int = 0,
) -> list[Finding]:
    """Return every finding for `part`, errors and warnings, in document order."""
    out: list[Finding] = []
    out.extend(_subject(part))
    out.extend(_placeholders(issue, part))
    out.extend(_charset(issue, part, config, iso2022jp_recipients))
    out.extend(_images(part))
    out.extend(_links(issue, part, config))
    out.extend(_empty(part))
    out.extend(_size(issue, part, config))
    return out


def _subject(part: PartDocument) -> Iterator[Finding]:
    if not part.subject.strip():
        yield Finding("error", "empty_subject",
                      _("件名が空です（空の件名は迷惑メール扱いされます）"), _at(part, _("件名")))
    elif (bad := control_char(part.subject)) is not None:
        yield Finding("error", "subject_control",
                      _("件名に制御文字 {char} があります（改行はヘッダーを"
                        "書き換えるおそれがあります）。1 行に直して読み込み直してください")
                      .format(char=describe_char(bad)),
                      _at(part, _("件名")))
    elif (w := display_width(part.subject)) > MAX_SUBJECT_WIDTH:
        yield Finding("warning", "long_subject",
                      _("件名が長すぎます（{width}桁、全角30字={max}桁まで）。"
                        "スマートフォンや一覧では途中で切れます").format(
                          width=w, max=MAX_SUBJECT_WIDTH), _at(part, _("件名")))


def _spans(spans: list[Span]) -> str:
    return "".join(s.text for s in spans)


def block_texts(block: Block) -> list[str]:
    """Return the block's lines of reader-visible text (for charset checks)."""
    if isinstance(block, Lead):
        return [_spans(p) for p in block.paragraphs]
    if isinstance(block, Heading):
        return [block.text]
    if isinstance(block, Paragraph | Note | Prompt | NextPart):
        return [_spans(block.spans)]
    if isinstance(block, EventDate):
        return [block.label]
    if isinstance(block, Participants):
        return [block.heading] + [f"{p.name} {p.organisation} {p.titles} {p.short}"
                                  for p in block.people]
    if isinstance(block, Turn):
        return [block.label, block.speaker] + [_spans(p) for p in block.paragraphs]
    if isinstance(block, Figure):
        return [block.alt, block.label or "", block.caption or ""]
    if isinstance(block, Credits):
        return [f"{c.role} {c.name} {c.department}" for c in block.entries]
    return []  # pragma: no cover


def _sources(issue: IssueDocument, part: PartDocument,
             config: RenderConfig) -> Iterator[tuple[str, str]]:
    """Yield (where, text) for everything the ISO-2022-JP text part and headers carry."""
    yield _at(part, _("件名")), part.subject
    yield _at(part, _("題名")), part.title
    if part.header_image:
        yield _at(part, _("ヘッダー画像")), part.header_image.alt
    for i, block in enumerate(part.blocks):
        yield _block_at(part, i + 1, block.kind), "\n".join(block_texts(block))
    yield _("号: シリーズ名・題名"), f"{issue.series}\n{issue.title}"
    pub = issue.publisher
    yield _("号: 発行者"), "\n".join([pub.name, pub.address, pub.contact_phone or ""])
    for bn in issue.back_numbers:
        yield _("号: バックナンバー {number}").format(number=bn.number), f"{bn.number} {bn.title}"
    yield _("設定: 差出人名・リスト名・配信理由"), "\n".join([config.from_name, config.list_name,
                                                          config.reason])


def _charset(issue: IssueDocument, part: PartDocument, config: RenderConfig,
             recipients: int) -> Iterator[Finding]:
    severity: Severity = "error" if recipients > 0 else "warning"
    who = (_("ISO-2022-JP を選んだ購読者 {count} 名に送れません").format(count=recipients)
           if recipients else _("ISO-2022-JP を選ぶ購読者が出れば送れません"))
    for where, text in _sources(issue, part, config):
        for p in iso2022jp_problems(text):
            hint = (_("（候補：{suggestion}。人名の字は本人に確認）").format(
                suggestion=p.suggestion) if p.suggestion else "")
            yield Finding(severity, "iso2022jp_char",
                          _("「{char}」({codepoint} {name}) は ISO-2022-JP で表せません。"
                            "{who}{hint}").format(char=p.char, codepoint=p.codepoint,
                                                  name=p.name, who=who, hint=hint),
                          _("{where}、{line} 行 {column} 字目").format(
                              where=where, line=p.line, column=p.column))


def _images(part: PartDocument) -> Iterator[Finding]:
    figures = [(_at(part, _("ヘッダー画像")), part.header_image)] if part.header_image else []
    figures += [(_at(part, _("{number} 番目のブロック（図 {name}）").format(
                    number=i + 1, name=b.label or b.src)), b)
                for i, b in enumerate(part.blocks) if isinstance(b, Figure)]
    for where, fig in figures:
        if fig is not None and not fig.alt.strip():
            yield Finding("error", "missing_alt",
                          _("画像 {src} に代替テキスト(alt)がありません").format(src=fig.src),
                          where)


def _links(issue: IssueDocument, part: PartDocument,
           config: RenderConfig) -> Iterator[Finding]:
    hrefs: list[tuple[str, str]] = [(_("設定: base_url"), config.base_url)]
    for i, block in enumerate(part.blocks):
        groups: list[list[Span]] = []
        if isinstance(block, Lead | Turn):
            groups = block.paragraphs
        elif isinstance(block, Paragraph | Note | Prompt | NextPart):
            groups = [block.spans]
        hrefs += [(_("{where}「{text}」").format(
                       where=_block_at(part, i + 1, block.kind), text=s.text), s.href)
                  for g in groups for s in g if s.href]
    hrefs += [(_("号: バックナンバー {number}").format(number=bn.number), bn.url)
              for bn in issue.back_numbers]
    if issue.publisher.url:
        hrefs.append((_("号: 発行者の URL"), issue.publisher.url))
    for where, href in hrefs:
        if href.startswith("http://"):
            yield Finding("warning", "insecure_link",
                          _("https ではないリンクです：{href}").format(href=href), where)
        elif not href.startswith(("https://", "mailto:")):
            yield Finding("error", "bad_link",
                          _("絶対 URL ではないリンクです：{href}").format(href=href), where)


def _placeholders(issue: IssueDocument, part: PartDocument) -> Iterator[Finding]:
    """A draft from `mailer issue import-docx` still holding its stand-ins
    (「(題名)」, 「(誌名)」, …) in a field every reader sees."""
    fields = [("issue.yaml: title", issue.title), ("issue.yaml: series", issue.series),
              ("issue.yaml: publisher.name", issue.publisher.name),
              ("issue.yaml: publisher.address", issue.publisher.address),
              (f"{part.label}: title", part.title), (f"{part.label}: subject", part.subject)]
    for where, value in fields:
        held = [p for p in DRAFT_PLACEHOLDERS if p in value]
        if held:
            yield Finding("error", "draft_placeholder",
                          f"「{'」「'.join(held)}」は mailer issue import-docx が入れた仮の値です。"
                          "本当の値に直してから、号を読み込み直してください", where)


def _has_text(block: Block) -> bool:
    return any(t.strip() for t in block_texts(block))


def _empty(part: PartDocument) -> Iterator[Finding]:
    blocks = part.blocks
    if not blocks:
        yield Finding("error", "empty_part", _("本文がありません"), part.label)
    for i, block in enumerate(blocks):
        where = _block_at(part, i + 1, block.kind)
        empty = not _has_text(block) or (
            isinstance(block, Participants) and not block.people) or (
            isinstance(block, Credits) and not block.entries) or (
            isinstance(block, Turn) and not any(_spans(p).strip() for p in block.paragraphs))
        if empty and not isinstance(block, Figure | EventDate):
            yield Finding("error", "empty_block", _("テキスト版で空になるブロックです"), where)
        if isinstance(block, Heading):
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            if nxt is None or (isinstance(nxt, Heading) and nxt.level <= block.level):
                yield Finding("error", "empty_section",
                              _("見出し「{text}」の下に本文がありません").format(
                                  text=block.text), where)


def _size(issue: IssueDocument, part: PartDocument, config: RenderConfig) -> Iterator[Finding]:
    try:
        prepared = prepare_part(issue=issue, part=part, config=config)
    except RenderError as exc:  # e.g. a header value with a line break: no message at all
        if control_char(part.subject) is None:  # (that one is reported by _subject)
            yield Finding("error", "unrenderable", str(exc), part.label)
        return
    size = len(personalize(prepared, PREVIEW_RECIPIENT, preview_slots(config, part)))
    if size > MAX_MESSAGE_BYTES:
        yield Finding("warning", "large_message",
                      _("メールが {size} KB あります（目安 {max} KB）。"
                        "自治体のフィルタで止まるおそれがあります").format(
                          size=size // 1024, max=MAX_MESSAGE_BYTES // 1024), part.label)
