"""HTML pages of the web app (Jinja2, autoescaped, Japanese)."""

from __future__ import annotations

from typing import Any

import jinja2
from fastapi.responses import HTMLResponse

from mailer.i18n import _
from mailer.i18n import install as install_catalogue
from mailer.render.html import TEMPLATES_DIR

#: responses that carry a personal token in their URL must not be cached or indexed
PRIVATE_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


def page_environment(*, site_name: str) -> jinja2.Environment:
    """Return a Jinja2 environment for `templates/web/` (autoescape on,
    undefined names are errors; `site_name` heads every page)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    install_catalogue(env)
    env.globals["site_name"] = site_name
    return env


def render_page(
    env: jinja2.Environment, name: str, *, status_code: int = 200, private: bool = False,
    **context: Any,
) -> HTMLResponse:
    """Return `templates/web/{name}.html.j2` rendered as an HTML response."""
    html = env.get_template(f"web/{name}.html.j2").render(**context)
    headers = dict(PRIVATE_HEADERS) if private else {}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def message_page(
    env: jinja2.Environment, *, title: str, lines: list[str], status_code: int = 200,
    private: bool = False,
) -> HTMLResponse:
    """Return a page with one heading and a few paragraphs (errors, confirmations)."""
    return render_page(env, "message", status_code=status_code, private=private,
                       title=title, lines=lines)


def not_found(env: jinja2.Environment) -> HTMLResponse:
    return message_page(env, status_code=404, title=_("ページが見つかりません"), lines=[
        _("お探しのページは見つかりませんでした。URLに誤りがないかご確認ください。"),
    ])


def bad_link(env: jinja2.Environment) -> HTMLResponse:
    """The page for a forged, altered or truncated token (nothing was changed)."""
    lines = [
        _("このリンクは無効です。メールに記載されたURLが途中で改行されたり、"
          "一部が欠けたりしていないかご確認ください。"),
        _("お手数ですが、メール本文のURLをそのままブラウザのアドレス欄に貼り付けてお試しください。"
          "登録内容は変更されていません。"),
    ]
    return message_page(env, status_code=400, private=True, title=_("リンクが正しくありません"),
                        lines=lines)


def mask_email(email: str) -> str:
    """Return the address with most of its local part hidden (t***@example.jp):
    enough for the owner to recognise it, little for anyone the mail was forwarded to."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
