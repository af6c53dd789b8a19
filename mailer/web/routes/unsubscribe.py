"""Unsubscribe by link (RFC 8058 one-click and the visible link in the body).

GET only shows a page with a button: mail gateways and link scanners fetch
every URL in a message, so a GET must never unsubscribe. POST unsubscribes at
once with no cookie, login or CSRF token (RFC 8058 section 3.2 forbids
requiring them); the signed token in the URL is the authorisation.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from mailer.i18n import _
from mailer.services.subscriptions import unsubscribe_by_link, view_subscription
from mailer.tokens import read_unsubscribe_token
from mailer.web.pages import bad_link, mask_email, message_page, render_page
from mailer.web.routes import READ
from mailer.web.state import Web

router = APIRouter(tags=["unsubscribe"])

ONE_CLICK = "One-Click"


@router.api_route("/u/{token}", methods=READ)
def confirm_page(token: str, web: Web) -> HTMLResponse:
    """A confirmation page with a POST button; changes nothing."""
    ids = read_unsubscribe_token(web.settings.secret_keys, token)
    if ids is None:
        return bad_link(web.pages)
    with Session(web.engine) as session:
        view = view_subscription(session=session, subscriber_id=ids[0], list_id=ids[1],
                                 default_title=web.settings.list_name)
    if view is None:
        return _done_page(web, already=True)
    if not view.receiving:
        return _done_page(web, already=True, preferences_url=f"/p/{token}")
    return render_page(web.pages, "unsubscribe", private=True, title=_("配信停止の確認"),
                       list_title=view.list_title, email=mask_email(view.email),
                       action=f"/u/{token}", preferences_url=f"/p/{token}")


@router.post("/u/{token}")
async def unsubscribe_now(token: str, request: Request, web: Web) -> HTMLResponse:
    """Unsubscribe at once (idempotent). Accepts the RFC 8058 body
    `List-Unsubscribe=One-Click` from mail providers and the confirmation
    page's form; 400 for a bad token or any other body."""
    ids = read_unsubscribe_token(web.settings.secret_keys, token)
    if ids is None:
        return bad_link(web.pages)
    form = await request.form()
    if form.get("List-Unsubscribe") == ONE_CLICK:
        source = "one-click"
    elif form.get("confirm") == "yes":
        source = "web"
    else:
        return message_page(web.pages, status_code=400, private=True,
                            title=_("リクエストが正しくありません"), lines=[
                                _("配信停止のリクエストを処理できませんでした。"
                                  "メールに記載された配信停止のリンクから、もう一度お試しください。"),
                            ])
    unsubscribe_by_link(engine=web.engine, subscriber_id=ids[0], list_id=ids[1], source=source)
    return _done_page(web, already=False, preferences_url=f"/p/{token}")


def _done_page(web: Web, *, already: bool, preferences_url: str | None = None) -> HTMLResponse:
    lines = [
        _("今後、このメールマガジンはお送りしません。")
        if not already else _("このメールアドレスへの配信はすでに停止しています。"),
        _("停止の反映前に送信処理が始まっていた号が、行き違いで届くことがあります。ご了承ください。"),
    ]
    return render_page(web.pages, "unsubscribed", private=True,
                       title=_("配信を停止しました") if not already else _("配信停止済みです"),
                       lines=lines, preferences_url=preferences_url)
