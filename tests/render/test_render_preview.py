"""Previews, including what a sanitizing gateway leaves."""

from __future__ import annotations

import email
import email.policy

from render_fixtures import PERSONAS, build_issue, make_config

from mailer.render.preview import preview
from mailer.render.sanitize import sanitized_text


def test_formats() -> None:
    iss = build_issue()
    part, config = iss.parts[0], make_config()
    html = preview(issue=iss, part=part, config=config, format="html")
    text = preview(issue=iss, part=part, config=config, format="text")
    eml = preview(issue=iss, part=part, config=config, format="eml",
                  recipient=PERSONAS["text_iso"])
    assert isinstance(html, str) and html.startswith("<!DOCTYPE html>")
    assert isinstance(text, str) and "プレビュー 様" in text
    assert isinstance(eml, bytes)
    msg = email.message_from_bytes(eml, policy=email.policy.default)
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "iso-2022-jp"


def test_sanitized_drops_links_and_images_keeps_text() -> None:
    iss = build_issue()
    out = preview(issue=iss, part=iss.parts[0], config=make_config(), format="sanitized")
    assert isinstance(out, str)
    assert "https://www.example.lg.jp/cio-forum/" not in out and "<" not in out
    assert "/unsubscribe/" not in out and "/assets/" not in out
    assert "フォーラムのサイト" in out  # link text kept
    assert "○○市のDX推進体制" in out  # caption is text, kept
    assert "配信停止" in out  # link text kept, URL gone
    assert "@media" not in out and "color:" not in out


def test_sanitizer_basics() -> None:
    html = ("<html><head><title>t</title><style>p{}</style></head><body><p>a <a href='"
            "https://x'>b</a>&amp;c</p><img src='x' alt='y'><table><tr><td>1</td><td>2</td>"
            "</tr></table>d<br>e</body></html>")
    assert sanitized_text(html) == "a b&c\n\n1 2\n\nd\ne\n"
