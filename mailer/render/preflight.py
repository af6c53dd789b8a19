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
        yield Finding("error", "empty_subject", "件名が空です（空の件名は迷惑メール扱いされます）",
                      f"{part.label}: subject")
    elif (bad := control_char(part.subject)) is not None:
        yield Finding("error", "subject_control",
                      f"件名に制御文字 {describe_char(bad)} があります（改行はヘッダーを"
                      "書き換えるおそれがあります）。1 行に直して読み込み直してください",
                      f"{part.label}: subject")
    elif (w := display_width(part.subject)) > MAX_SUBJECT_WIDTH:
        yield Finding("warning", "long_subject",
                      f"件名が長すぎます（{w}桁、全角30字={MAX_SUBJECT_WIDTH}桁まで）。"
                      "スマートフォンや一覧では途中で切れます", f"{part.label}: subject")


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
    yield f"{part.label}: subject", part.subject
    yield f"{part.label}: title", part.title
    if part.header_image:
        yield f"{part.label}: header image", part.header_image.alt
    for i, block in enumerate(part.blocks):
        yield f"{part.label}: block {i + 1} ({block.kind})", "\n".join(block_texts(block))
    yield "issue: series/title", f"{issue.series}\n{issue.title}"
    pub = issue.publisher
    yield "issue: publisher", "\n".join([pub.name, pub.address, pub.contact_phone or ""])
    for bn in issue.back_numbers:
        yield f"issue: back number {bn.number}", f"{bn.number} {bn.title}"
    yield "config: from/list/reason", "\n".join([config.from_name, config.list_name,
                                                  config.reason])


def _charset(issue: IssueDocument, part: PartDocument, config: RenderConfig,
             recipients: int) -> Iterator[Finding]:
    severity: Severity = "error" if recipients > 0 else "warning"
    who = (f"ISO-2022-JP を選んだ購読者 {recipients} 名に送れません" if recipients
           else "ISO-2022-JP を選ぶ購読者が出れば送れません")
    for where, text in _sources(issue, part, config):
        for p in iso2022jp_problems(text):
            hint = f"（候補：{p.suggestion}。人名の字は本人に確認）" if p.suggestion else ""
            yield Finding(severity, "iso2022jp_char",
                          f"「{p.char}」({p.codepoint} {p.name}) は ISO-2022-JP で表せません。"
                          f"{who}{hint}",
                          f"{where}, line {p.line}, column {p.column}")


def _images(part: PartDocument) -> Iterator[Finding]:
    figures = [(f"{part.label}: header image", part.header_image)] if part.header_image else []
    figures += [(f"{part.label}: block {i + 1} (figure {b.label or b.src})", b)
                for i, b in enumerate(part.blocks) if isinstance(b, Figure)]
    for where, fig in figures:
        if fig is not None and not fig.alt.strip():
            yield Finding("error", "missing_alt",
                          f"画像 {fig.src} に代替テキスト(alt)がありません", where)


def _links(issue: IssueDocument, part: PartDocument,
           config: RenderConfig) -> Iterator[Finding]:
    hrefs: list[tuple[str, str]] = [("config: base_url", config.base_url)]
    for i, block in enumerate(part.blocks):
        groups: list[list[Span]] = []
        if isinstance(block, Lead | Turn):
            groups = block.paragraphs
        elif isinstance(block, Paragraph | Note | Prompt | NextPart):
            groups = [block.spans]
        hrefs += [(f"{part.label}: block {i + 1} ({block.kind}) 「{s.text}」", s.href)
                  for g in groups for s in g if s.href]
    hrefs += [(f"issue: back number {bn.number}", bn.url) for bn in issue.back_numbers]
    if issue.publisher.url:
        hrefs.append(("issue: publisher url", issue.publisher.url))
    for where, href in hrefs:
        if href.startswith("http://"):
            yield Finding("warning", "insecure_link", f"https ではないリンクです：{href}", where)
        elif not href.startswith(("https://", "mailto:")):
            yield Finding("error", "bad_link", f"絶対 URL ではないリンクです：{href}", where)


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
        yield Finding("error", "empty_part", "本文がありません", part.label)
    for i, block in enumerate(blocks):
        where = f"{part.label}: block {i + 1} ({block.kind})"
        empty = not _has_text(block) or (
            isinstance(block, Participants) and not block.people) or (
            isinstance(block, Credits) and not block.entries) or (
            isinstance(block, Turn) and not any(_spans(p).strip() for p in block.paragraphs))
        if empty and not isinstance(block, Figure | EventDate):
            yield Finding("error", "empty_block", "テキスト版で空になるブロックです", where)
        if isinstance(block, Heading):
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            if nxt is None or (isinstance(nxt, Heading) and nxt.level <= block.level):
                yield Finding("error", "empty_section",
                              f"見出し「{block.text}」の下に本文がありません", where)


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
                      f"メールが {size // 1024} KB あります"
                      f"（目安 {MAX_MESSAGE_BYTES // 1024} KB）。"
                      "自治体のフィルタで止まるおそれがあります", part.label)
