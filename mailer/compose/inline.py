"""Inline Markdown (text, **strong**, links) turned into `Span` runs.

Line breaks inside a paragraph are source formatting: Japanese text is joined
without a space, Latin words with one. Raw HTML never becomes markup: the
parser runs with `html` off, so `<b>` reaches us as literal text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown_it.tree import SyntaxTreeNode

from mailer.compose.document import Span
from mailer.compose.errors import ProblemSink
from mailer.compose.schemas import is_absolute_url
from mailer.i18n import _

_SOFT = "\x00soft"
# Stops at blanks and at Japanese punctuation and brackets, which end a URL in prose.
_BARE_URL_RE = re.compile(
    r"https?://[^\s<>\"'、。，．「」『』()()【】]+"
)  # placeholder resolved once both neighbours are known


@dataclass
class Line:
    """The inline nodes of one source line, with its 1-based file line."""

    number: int
    nodes: list[SyntaxTreeNode]

    @property
    def text(self) -> str:
        return plain_text(self.nodes)


def inline_of(block: SyntaxTreeNode) -> SyntaxTreeNode | None:
    """Return the `inline` child of a paragraph or heading."""
    for child in block.children:
        if child.type == "inline":
            return child
    return None


def first_line(block: SyntaxTreeNode) -> int:
    """Return the 1-based file line where `block` starts."""
    return (block.map[0] + 1) if block.map else 1


def split_lines(block: SyntaxTreeNode) -> list[Line]:
    """Split a paragraph's inline content at its line breaks."""
    inline = inline_of(block)
    start = first_line(block)
    lines = [Line(start, [])]
    if inline is None:
        return lines
    for node in inline.children:
        if node.type in ("softbreak", "hardbreak"):
            lines.append(Line(lines[-1].number + 1, []))
        else:
            lines[-1].nodes.append(node)
    return lines


def plain_text(nodes: list[SyntaxTreeNode]) -> str:
    """Return the text of `nodes` without any markup."""
    parts: list[str] = []
    for node in nodes:
        if node.type in ("text", "code_inline"):
            parts.append(node.content)
        elif node.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        else:
            parts.append(plain_text(node.children))
    return "".join(parts)


def drop_chars(spans: list[Span], count: int) -> list[Span]:
    """Return `spans` without their first `count` characters (the ※, ― or
    【name】 marker the caller has recognised) and leading blanks."""
    out: list[Span] = []
    for span in spans:
        if count >= len(span.text):
            count -= len(span.text)
            continue
        out.append(span.model_copy(update={"text": span.text[count:]}))
        count = 0
    while out and not out[0].text.strip():
        out.pop(0)
    if out:
        out[0] = out[0].model_copy(update={"text": out[0].text.lstrip()})
    return out


def spans_of(lines: list[Line], sink: ProblemSink) -> list[Span]:
    """Return the spans of `lines`; report relative links and stray images."""
    raw: list[Span] = []
    for i, line in enumerate(lines):
        if i:
            raw.append(Span(text=_SOFT))
        _walk(line.nodes, line.number, sink, raw, strong=False, href=None)
    return _merge(raw)


def _walk(
    nodes: list[SyntaxTreeNode],
    line: int,
    sink: ProblemSink,
    out: list[Span],
    *,
    strong: bool,
    href: str | None,
) -> None:
    for node in nodes:
        kind = node.type
        if kind == "text" and href is None:
            out.extend(_bare_urls(node.content, strong))
        elif kind in ("text", "code_inline"):
            out.append(Span(text=node.content, href=href, strong=strong))
        elif kind == "softbreak":
            out.append(Span(text=_SOFT, href=href, strong=strong))
        elif kind == "hardbreak":
            out.append(Span(text="\n", href=href, strong=strong))
        elif kind == "strong":
            _walk(node.children, line, sink, out, strong=True, href=href)
        elif kind == "link":
            target = str(node.attrs.get("href", ""))
            if not (is_absolute_url(target) or target.startswith("mailto:")):
                sink.add(line, _("リンク先は https:// で始まる完全な URL にしてください"
                                 "（「{target}」）").format(target=target))
            _walk(node.children, line, sink, out, strong=strong, href=target)
        elif kind == "image":
            sink.add(line, _("画像はそれだけで 1 つの段落に置いてください"))
        else:  # em and anything else: keep the words, drop the markup
            _walk(node.children, line, sink, out, strong=strong, href=href)


def _bare_urls(text: str, strong: bool) -> list[Span]:
    """Split a bare https:// URL out of running text into a link span."""
    spans: list[Span] = []
    pos = 0
    for m in _BARE_URL_RE.finditer(text):
        url = m[0].rstrip(".,;:!?")
        spans.append(Span(text=text[pos : m.start()], strong=strong))
        spans.append(Span(text=url, href=url, strong=strong))
        pos = m.start() + len(url)
    spans.append(Span(text=text[pos:], strong=strong))
    return spans


def _merge(raw: list[Span]) -> list[Span]:
    resolved: list[Span] = []
    for i, span in enumerate(raw):
        if span.text == _SOFT:
            before = resolved[-1].text[-1:] if resolved and resolved[-1].text else ""
            after = next((s.text[:1] for s in raw[i + 1 :] if s.text and s.text != _SOFT), "")
            if not (before.isascii() and after.isascii() and before.isalnum() and after.isalnum()):
                continue
            span = span.model_copy(update={"text": " "})
        if not span.text:
            continue
        if resolved and resolved[-1].href == span.href and resolved[-1].strong == span.strong:
            resolved[-1] = resolved[-1].model_copy(update={"text": resolved[-1].text + span.text})
        else:
            resolved.append(span)
    if resolved:
        resolved[0] = resolved[0].model_copy(update={"text": resolved[0].text.lstrip()})
        resolved[-1] = resolved[-1].model_copy(update={"text": resolved[-1].text.rstrip()})
    return [s for s in resolved if s.text]
