"""Values shared by every renderer: URLs, era dates, footer wording, slot markers.

Slot markers are ASCII so that they survive every encoding unchanged (UTF-8,
ISO-2022-JP, CSS inlining) and can be found again in the encoded bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from mailer.compose.document import IssueDocument, PartDocument, Span

if TYPE_CHECKING:
    from mailer.render.types import RenderConfig

SLOT_NAMES = ("greeting", "unsubscribe_url", "preferences_url")


def slot_marker(name: str) -> str:
    """Return the placeholder written into rendered bodies for slot `name`."""
    return f"@@slot.{name}@@"


def web_url(*, issue: IssueDocument, part: PartDocument, config: RenderConfig) -> str:
    """Return the absolute URL of the part's web version."""
    return f"{config.base_url}/archive/{issue.slug}/{part.label}"


def asset_url(*, issue: IssueDocument, src: str, config: RenderConfig) -> str:
    """Return the absolute URL of an image; `src` is relative to the issue's assets."""
    if src.startswith(("https://", "http://")):
        return src
    return f"{config.base_url}/assets/{issue.slug}/{src.lstrip('/')}"


def reason_text(config: RenderConfig) -> str:
    """Return the sentence telling the reader why they receive this mail."""
    if config.reason:
        return config.reason
    forum = config.list_name or config.from_name
    return f"このメールは、{forum}の会員として登録されている方にお送りしています。"


_ERAS = (
    (date(2019, 5, 1), "令和"),
    (date(1989, 1, 8), "平成"),
    (date(1926, 12, 25), "昭和"),
)


def era_date(d: date) -> str:
    """Return `d` in the Japanese era calendar, e.g. 令和3年10月15日 (元年 for year 1)."""
    for start, name in _ERAS:
        if d >= start:
            year = d.year - start.year + 1
            y = "元" if year == 1 else str(year)
            return f"{name}{y}年{d.month}月{d.day}日"
    return f"{d.year}年{d.month}月{d.day}日"


def greeting_text(name: str | None, honorific: str) -> str:
    """Return the greeting line ("髙橋 太郎 様"), or "" when the name is unknown."""
    if not name or not name.strip():
        return ""
    return f"{name.strip()} {honorific}".rstrip()


@dataclass(frozen=True)
class LinkRef:
    """A link in the plain text: printed as "text［n］", URL listed after the block."""

    number: int
    text: str
    href: str


class LinkNumbering:
    """Numbers links in reading order so the text part can list their URLs."""

    def __init__(self) -> None:
        self.refs: list[LinkRef] = []

    def spans_text(self, spans: list[Span]) -> tuple[str, list[LinkRef]]:
        """Return the spans as plain text with ［n］ after each link, and the new refs."""
        out: list[str] = []
        new: list[LinkRef] = []
        for span in spans:
            out.append(span.text)
            if span.href:
                ref = LinkRef(len(self.refs) + 1, span.text, span.href)
                self.refs.append(ref)
                new.append(ref)
                out.append(f"［{ref.number}］")
        return "".join(out), new
