"""The email HTML and the web version are valid, accessible HTML."""

from __future__ import annotations

from html.parser import HTMLParser
from itertools import pairwise

import html5lib
import pytest
from render_fixtures import PERSONAS, make_config, make_slots
from test_render_text import IDS, PARTS

from mailer.compose.document import IssueDocument, PartDocument
from mailer.render.html import render_web_part
from mailer.render.message import fill_html, prepare_part


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    p = Tags()
    p.feed(html)
    return p.tags


def email_html(issue: IssueDocument, part: PartDocument) -> str:
    prepared = prepare_part(issue=issue, part=part, config=make_config())
    return fill_html(prepared, PERSONAS["html_utf8"], make_slots())


def web_html(issue: IssueDocument, part: PartDocument) -> str:
    return render_web_part(issue=issue, part=part, config=make_config())


def check_common(html: str, issue: IssueDocument, part: PartDocument) -> None:
    html5lib.HTMLParser(strict=True).parse(html)  # raises on any parse error
    ts = tags(html)
    assert ts[0] == ("html", {"lang": "ja"})
    imgs = [a for t, a in ts if t == "img"]
    n_figures = sum(1 for b in part.blocks if b.kind == "figure") + bool(part.header_image)
    assert len(imgs) == n_figures
    for a in imgs:
        assert (a.get("alt") or "").strip()
        assert (a.get("src") or "").startswith(f"https://mailer.example.com/assets/{issue.slug}/")
    levels = [int(t[1]) for t, _ in ts if t in ("h1", "h2", "h3", "h4")]
    assert levels[0] == 1 and levels.count(1) == 1
    for prev, cur in pairwise(levels):
        assert cur <= prev + 1, f"heading level skips: {levels}"
    for t, a in ts:
        if t == "a":
            assert (a.get("href") or "").startswith(("https://", "http://", "mailto:", "#"))


@pytest.mark.parametrize(("name", "issue", "part"), PARTS, ids=IDS)
def test_email_html(name: str, issue: IssueDocument, part: PartDocument) -> None:
    html = email_html(issue, part)
    check_common(html, issue, part)
    ts = tags(html)
    links = [a.get("href") for t, a in ts if t == "a"]
    web = f"https://mailer.example.com/archive/{issue.slug}/{part.label}"
    assert links[0] == web and ">ブラウザで見る<" in html
    assert make_slots().unsubscribe_url.replace("&", "&amp;") in html
    assert ">配信停止<" in html and ">配信設定の変更<" in html
    assert "会員として登録されている方にお送りしています" in html
    assert issue.publisher.address in html
    # Layout tables are presentation; CSS is inlined (Outlook ignores <style>).
    assert any(t == "table" and a.get("width") == "600" for t, a in ts)
    assert all("style" in a for t, a in ts if t in ("p", "h1", "h2", "td") and a.get("class"))
    preheader = next(a for t, a in ts if a.get("class") == "preheader")
    assert "display: none" in (preheader.get("style") or "")
    assert "@@slot." not in html


@pytest.mark.parametrize(("name", "issue", "part"), PARTS, ids=IDS)
def test_web_html(name: str, issue: IssueDocument, part: PartDocument) -> None:
    html = web_html(issue, part)
    check_common(html, issue, part)
    ts = tags(html)
    first_link = next(a for t, a in ts if t == "a")
    assert first_link.get("href") == "#main"
    assert any(t == "main" and a.get("id") == "main" for t, a in ts)
    assert "@@slot." not in html and "配信停止" not in html  # nothing personal


def test_participants_prompts_turns_are_distinct() -> None:
    issue, part = PARTS[0][1], PARTS[0][2]
    html = email_html(issue, part)
    assert '<th class="participant-name"' in html
    assert 'class="prompt"' in html and "―まず" in html
    assert 'class="speaker"' in html and 'class="caption"' in html
    assert "スライド6" in html and "※CIO" in html
