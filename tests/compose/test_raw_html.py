"""Raw HTML in author content never becomes markup: it stays literal text."""

from __future__ import annotations

from compose_helpers import IssueCopy

from mailer.compose.document import Paragraph, Turn
from mailer.compose.parse import parse_issue_folder


def test_html_block_and_inline_html_stay_text(issue: IssueCopy) -> None:
    issue.replace(
        "part1.md",
        "## 総務部門がDXを担う理由",
        "## 総務部門がDXを担う理由\n\n<script>alert('x')</script>\n\n"
        '<div onclick="x()">\n囲み\n</div>',
    )
    issue.replace(
        "part1.md", "一番大きいのは、", "<b>一番</b>大きいのは、<img src=x onerror=alert(1)>"
    )
    doc = parse_issue_folder(issue.folder)
    blocks = doc.parts[0].blocks
    paragraphs = [b for b in blocks if isinstance(b, Paragraph)]
    assert [[s.text for s in p.spans] for p in paragraphs] == [
        ["<script>alert('x')</script>"],
        ['<div onclick="x()">囲み</div>'],
    ]
    turn = next(b for b in blocks if isinstance(b, Turn) and not b.first)
    assert turn.paragraphs[0][0].text.startswith(
        "<b>一番</b>大きいのは、<img src=x onerror=alert(1)>"
    )
    assert all(s.href is None for p in paragraphs for s in p.spans)


def test_javascript_link_stays_text(issue: IssueCopy) -> None:
    # markdown-it refuses javascript: targets, so the brackets stay literal text.
    issue.replace("part1.md", "(https://forum.example.jp/cio/training/)", "(javascript:alert(1))")
    doc = parse_issue_folder(issue.folder)
    spans = [s for b in doc.parts[0].blocks if isinstance(b, Turn) for p in b.paragraphs for s in p]
    assert any("[研修案内](javascript:alert(1))" in s.text for s in spans)
    assert all(s.href is None or s.href.startswith("https://") for s in spans)


def test_html_in_front_matter_and_headings_is_text(issue: IssueCopy) -> None:
    issue.replace("part1.md", "title: 武蔵野市×都CIO座談会(前編)", "title: <i>前編</i>")
    issue.replace("part1.md", "### 各課に", "### <u>各課</u>に")
    doc = parse_issue_folder(issue.folder)
    assert doc.parts[0].title == "<i>前編</i>"
    assert any(getattr(b, "text", "").startswith("<u>各課</u>に") for b in doc.parts[0].blocks)
