"""The plain-text body: complete on its own, 70 display columns.

Municipal gateways often flatten HTML to text and delete links, so this part
carries everything: every heading, participant, turn, note, caption, credit
and back number, with full URLs on lines of their own. Layout is decided here;
line breaking (width, kinsoku, unbreakable URLs) is `mailer.render.wrap`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    Turn,
)
from mailer.render.context import (
    LinkNumbering,
    LinkRef,
    era_date,
    reason_text,
    slot_marker,
    web_url,
)
from mailer.render.wrap import display_width, wrap

if TYPE_CHECKING:
    from mailer.render.types import RenderConfig

WIDTH = 70
FW = "　"  # full-width space: the indent unit (2 columns)
# A speaker label wider than this goes on its own line; a hanging indent that
# deep would leave too little room for the words.
MAX_HANGING_LABEL = 16


def render_text(*, issue: IssueDocument, part: PartDocument, config: RenderConfig) -> str:
    """Return the text body ("\\n" line ends) with slot markers for personal values.

    The greeting marker starts the line of the top rule and expands to the
    greeting line plus a blank line, or to nothing; URL markers stand on lines
    of their own.
    """
    links = LinkNumbering()
    rule = "─" * (WIDTH // max(display_width("─"), 1))
    out: list[str] = ["ブラウザで見る：", web_url(issue=issue, part=part, config=config), ""]
    # The greeting slot expands to "name 様" plus a blank line, or to nothing.
    out.append(slot_marker("greeting") + rule)
    out.extend(wrap(f"{issue.series}{FW}第{issue.number}回", WIDTH))
    out.extend(wrap(part.title, WIDTH))
    out.append(rule)
    if part.header_image is not None:
        out.append("")
        out.extend(_figure(part.header_image))
    for block in part.blocks:
        lines = _block(block, links)
        if lines:
            out.append("")
            out.extend(lines)
    if issue.back_numbers:
        out.extend(["", "【バックナンバー】"])
        for bn in issue.back_numbers:
            out.extend(wrap(f"・{bn.number}{FW}{bn.title}", WIDTH, subsequent_indent=FW))
            out.append(bn.url)
    out.append("")
    out.extend(_footer(issue, config))
    return "\n".join(out) + "\n"


def _footer(issue: IssueDocument, config: RenderConfig) -> list[str]:
    pub = issue.publisher
    rule = "─" * (WIDTH // max(display_width("─"), 1))
    out = [rule]
    out.extend(wrap(config.from_name, WIDTH))
    out.extend(wrap(f"発行：{pub.name}", WIDTH, subsequent_indent=FW * 3))
    out.extend(wrap(pub.address, WIDTH))
    out.extend(wrap(f"お問い合わせ：{pub.contact_email}", WIDTH))
    if pub.contact_phone:
        out.extend(wrap(f"電話：{pub.contact_phone}", WIDTH))
    if pub.url:
        out.append(pub.url)
    out.append("")
    out.extend(wrap(reason_text(config), WIDTH))
    out.append("")
    out.extend(["配信停止：", slot_marker("unsubscribe_url")])
    out.extend(["配信設定の変更：", slot_marker("preferences_url")])
    out.append(rule)
    return out


def _block(block: Block, links: LinkNumbering) -> list[str]:
    """Return the lines of one block (no surrounding blank lines)."""
    if isinstance(block, Heading):
        return wrap(f"【{block.text}】" if block.level <= 2 else f"■{block.text}", WIDTH,
                    subsequent_indent=FW)
    if isinstance(block, Lead):
        return _paragraphs([links.spans_text(p) for p in block.paragraphs])
    if isinstance(block, Paragraph | NextPart):
        return _paragraphs([links.spans_text(block.spans)])
    if isinstance(block, Note):
        text, refs = links.spans_text(block.spans)
        return wrap(f"※{text}", WIDTH, subsequent_indent=FW) + _refs(refs)
    if isinstance(block, Prompt):
        text, refs = links.spans_text(block.spans)
        return wrap(f"―{text}", WIDTH, subsequent_indent=FW) + _refs(refs)
    if isinstance(block, EventDate):
        return wrap(f"{block.label}：{era_date(block.date)}", WIDTH)
    if isinstance(block, Participants):
        lines = wrap(f"【{block.heading}】", WIDTH)
        for person in block.people:
            lines.extend(wrap(f"・{person.name}（{person.organisation}）", WIDTH,
                              subsequent_indent=FW))
            lines.extend(wrap(person.titles, WIDTH, initial_indent=FW, subsequent_indent=FW))
        return lines
    if isinstance(block, Turn):
        return _turn(block, links)
    if isinstance(block, Figure):
        return _figure(block)
    if isinstance(block, Credits):
        return [line for c in block.entries
                for line in wrap(f"{c.role}：{c.name}{FW}{c.department}", WIDTH,
                                 subsequent_indent=FW)]
    raise TypeError(f"unknown block kind: {block!r}")  # pragma: no cover


def _paragraphs(items: list[tuple[str, list[LinkRef]]]) -> list[str]:
    lines: list[str] = []
    for i, (text, refs) in enumerate(items):
        if i:
            lines.append("")
        lines.extend(wrap(text, WIDTH))
        lines.extend(_refs(refs))
    return lines


def _refs(refs: list[LinkRef]) -> list[str]:
    """Return the URL list for a block's links: label line, then the URL alone."""
    lines: list[str] = []
    for ref in refs:
        lines.extend(wrap(f"［{ref.number}］{ref.text}", WIDTH, subsequent_indent=FW * 2))
        lines.append(ref.href)
    return lines


def _turn(turn: Turn, links: LinkNumbering) -> list[str]:
    label = turn.label.rstrip(":：")
    lines: list[str] = []
    head = f"{label}："
    if display_width(head) > MAX_HANGING_LABEL:
        # First turns carry the full title ("…:高橋(以下「高橋」)"): print it whole,
        # then hang the words under the short name.
        lines.extend(wrap(label, WIDTH))
        head = f"{turn.speaker}："
        if display_width(head) > MAX_HANGING_LABEL:
            head = FW
    indent = FW * ((display_width(head) + 1) // 2)
    for i, spans in enumerate(turn.paragraphs):
        text, refs = links.spans_text(spans)
        lines.extend(wrap(text, WIDTH, initial_indent=head if i == 0 else indent,
                          subsequent_indent=indent))
        lines.extend(_refs(refs))
    return lines


def _figure(fig: Figure) -> list[str]:
    """Return "［スライド6］caption", or "［画像］alt" when there is no label/caption."""
    label = fig.label or "画像"
    words = fig.caption or fig.alt
    lines = wrap(f"［{label}］{words}", WIDTH, subsequent_indent=FW)
    if fig.caption and fig.alt and fig.alt.strip() != fig.caption.strip():
        # The image is gone in sanitized mail; its description still says something.
        lines.extend(wrap(f"（画像の説明：{fig.alt}）", WIDTH, initial_indent=FW,
                          subsequent_indent=FW))
    return lines
