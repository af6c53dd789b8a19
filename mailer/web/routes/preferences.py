"""The preferences page: mail format, charset, and resubscribing.

Unlike the one-click endpoint this form is CSRF-protected: a signed token
tied to the subscriber travels in a hidden field.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from mailer.i18n import _
from mailer.services.subscriptions import (
    CHARSETS,
    FORMATS,
    PreferenceChange,
    SubscriptionView,
    change_preferences,
    view_subscription,
)
from mailer.tokens import read_unsubscribe_token
from mailer.web.pages import bad_link, mask_email, message_page, render_page
from mailer.web.routes import READ
from mailer.web.security import check_csrf_token, csrf_token
from mailer.web.state import Web, WebState

router = APIRouter(tags=["preferences"])


@router.api_route("/p/{token}", methods=READ)
def preferences_page(token: str, web: Web) -> HTMLResponse:
    """The form showing the current format and charset (changes nothing)."""
    ids = read_unsubscribe_token(web.settings.secret_keys, token)
    if ids is None:
        return bad_link(web.pages)
    with Session(web.engine) as session:
        view = view_subscription(session=session, subscriber_id=ids[0], list_id=ids[1],
                                 default_title=web.settings.list_name)
    if view is None:
        return _gone(web)
    return _form(web, token, view)


@router.post("/p/{token}")
async def save_preferences(token: str, request: Request, web: Web) -> HTMLResponse:
    """Apply the form; 400 for a bad token or value, 403 without a valid CSRF token."""
    ids = read_unsubscribe_token(web.settings.secret_keys, token)
    if ids is None:
        return bad_link(web.pages)
    form = await request.form()
    csrf = form.get("csrf")
    if not isinstance(csrf, str) or not check_csrf_token(
        web.settings.secret_key, csrf, subscriber_id=ids[0]
    ):
        return message_page(web.pages, status_code=403, private=True,
                            title=_("送信を受け付けられませんでした"), lines=[
                                _("フォームの有効期限が切れたか、別のページから送信されました。"
                                  "お手数ですが、設定ページを開き直してもう一度お試しください。"),
                                _("登録内容は変更されていません。"),
                            ])
    chosen: frozenset[int] | None = None
    if form.get("lists_offered") == "yes":
        try:
            chosen = frozenset(int(str(v)) for v in form.getlist("list"))
        except ValueError:
            chosen = None
    change = PreferenceChange(
        format=str(form.get("format", "")), charset=str(form.get("charset", "")),
        resubscribe=form.get("resubscribe") == "yes", lists=chosen,
    )
    if change.format not in FORMATS or change.charset not in CHARSETS:
        return message_page(web.pages, status_code=400, private=True,
                            title=_("選択内容が正しくありません"), lines=[
                                _("メールの形式と文字コードを一覧から選んでください。"),
                                _("登録内容は変更されていません。"),
                            ])
    changes, view = change_preferences(engine=web.engine, subscriber_id=ids[0], list_id=ids[1],
                                       change=change, default_title=web.settings.list_name)
    if view is None:
        return _gone(web)
    notice = _("設定を保存しました。") if changes else _("変更はありませんでした。")
    return _form(web, token, view, notice=notice)


def _form(web: WebState, token: str, view: SubscriptionView, *, notice: str = "") -> HTMLResponse:
    return render_page(
        web.pages, "preferences", private=True, title=_("配信設定"),
        notice=notice, email=mask_email(view.email), list_title=view.list_title,
        receiving=view.receiving, status=view.status.value, lists=view.lists,
        format=view.format, charset=view.charset, formats=FORMATS, charsets=CHARSETS,
        csrf=csrf_token(web.settings.secret_key, subscriber_id=view.subscriber_id),
        action=f"/p/{token}", unsubscribe_url=f"/u/{token}",
    )


def _gone(web: WebState) -> HTMLResponse:
    return message_page(web.pages, status_code=404, private=True,
                        title=_("登録が見つかりません"), lines=[
                            _("このメールアドレスの登録は見つかりませんでした。"
                              "すでに登録が削除されている可能性があります。"),
                        ])
