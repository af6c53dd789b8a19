"""What a municipal sanitizing gateway (無害化) leaves of an HTML mail.

Typical gateway settings convert HTML to text, delete hyperlinks and drop
images. `sanitized_text` imitates that so an editor can read the part the way
LGWAN-side staff will if the gateway flattens the HTML alternative.

Written on `html.parser` rather than a library (html2text, inscriptis,
BeautifulSoup): none is a project dependency, and those keep link targets or
render Markdown, which is exactly what a gateway does not do. Gateways are
crude; so is this: text content in document order, block elements on their
own lines, CSS ignored (a `display:none` preheader is shown, as gateways do).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = frozenset({"head", "style", "script", "title", "template"})
_BLOCK = frozenset({
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "table", "tr",
    "tbody", "thead", "section", "article", "header", "footer", "nav", "main", "figure",
    "figcaption", "blockquote", "hr", "body", "dl", "dt", "dd",
})
_CELL = frozenset({"td", "th"})
_SPACES = re.compile(r"[ \t\r\n\f]+")
_BLANKS = re.compile(r"\n{3,}")


class _Flattener(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag in _BLOCK:
            self.out.append("\n\n" if tag in ("p", "h1", "h2", "h3", "table") else "\n")
        elif tag in _CELL:
            self.out.append(" ")
        # <img> and the href of <a> are dropped: the gateway deletes them.

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.out.append(_SPACES.sub(" ", data))


def sanitized_text(html: str) -> str:
    """Return `html` flattened to text with links and images removed."""
    parser = _Flattener()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip() + "\n"
