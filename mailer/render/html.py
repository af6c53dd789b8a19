"""HTML renderings: the email body (CSS inlined) and the standalone web version.

Layout lives in `templates/`; this module only builds the template context.
The email body keeps slot markers (see `context.slot_marker`) for the
per-recipient values; the web version is the same for everyone and has none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import css_inline
import jinja2

from mailer.compose.document import IssueDocument, PartDocument
from mailer.i18n import install as install_catalogue
from mailer.render.context import asset_url, era_date, reason_text, slot_marker, web_url

if TYPE_CHECKING:
    from mailer.render.types import RenderConfig

def _templates_dir() -> Path:
    # Where the templates were installed is a fact about the installation,
    # not a setting to pass around: a source checkout has them beside the
    # package; the Docker image copies them and names the folder in
    # MAILER_TEMPLATES_DIR (a wheel does not carry the top-level folder).
    override = os.environ.get("MAILER_TEMPLATES_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "templates"


TEMPLATES_DIR = _templates_dir()


@cache
def environment() -> jinja2.Environment:
    """Return the Jinja2 environment (autoescape on, undefined names are errors)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    install_catalogue(env)
    return env


@cache
def _inliner() -> css_inline.CSSInliner:
    # keep_at_rules: media queries cannot be inlined and must stay in <style>.
    # No remote stylesheets: rendering does no network I/O.
    return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@dataclass(frozen=True)
class HtmlContext:
    """What the templates may call besides the documents themselves."""

    issue: IssueDocument
    config: RenderConfig
    web_url: str
    reason: str
    from_name: str
    greeting_slot: str = ""
    unsubscribe_slot: str = ""
    preferences_slot: str = ""

    def asset(self, src: str) -> str:
        return asset_url(issue=self.issue, src=src, config=self.config)

    def era(self, d: date) -> str:
        return era_date(d)


def _context(issue: IssueDocument, part: PartDocument, config: RenderConfig,
             *, slots: bool) -> HtmlContext:
    return HtmlContext(
        issue=issue,
        config=config,
        web_url=web_url(issue=issue, part=part, config=config),
        reason=reason_text(config),
        from_name=config.from_name,
        greeting_slot=slot_marker("greeting") if slots else "",
        unsubscribe_slot=slot_marker("unsubscribe_url") if slots else "",
        preferences_slot=slot_marker("preferences_url") if slots else "",
    )


def render_email_html(*, issue: IssueDocument, part: PartDocument, config: RenderConfig) -> str:
    """Return the email HTML with CSS inlined and slot markers in place."""
    template = environment().get_template("email/part.html.j2")
    html = template.render(issue=issue, part=part, ctx=_context(issue, part, config, slots=True))
    inlined = _inliner().inline(html)
    # css_inline puts the kept <style> first in <head>; the charset must lead.
    meta = '<meta charset="utf-8">'
    inlined = inlined.replace(meta, "", 1).replace("<head>", "<head>" + meta, 1)
    return _normalise(inlined)


def render_web_part(*, issue: IssueDocument, part: PartDocument, config: RenderConfig,
                    notice: str = "") -> str:
    """Return the part as a standalone, accessible web page (no personal data);
    `notice` is shown above it in a banner (e.g. 「未公開」 for staff)."""
    template = environment().get_template("web/part.html.j2")
    html = template.render(issue=issue, part=part, notice=notice,
                           ctx=_context(issue, part, config, slots=False))
    return _normalise(html)


def _normalise(html: str) -> str:
    # One newline convention, no trailing blanks: stable golden files and short lines.
    lines = [line.rstrip() for line in html.replace("\r\n", "\n").split("\n")]
    return "\n".join(line for line in lines if line) + "\n"
