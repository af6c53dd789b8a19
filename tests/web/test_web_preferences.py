"""The preferences page: CSRF-protected changes, each recorded as an event."""

from __future__ import annotations

import httpx
from sqlalchemy import Engine
from web_support import LIST, Seeded, hidden_field, subscriber_state

from mailer.settings import Settings
from mailer.tokens import unsubscribe_token
from mailer.web.security import csrf_token


def _token(settings: Settings, subscriber_id: int, list_id: int | None) -> str:
    return unsubscribe_token(settings.secret_keys, subscriber_id=subscriber_id, list_id=list_id)


def test_page_shows_current_choices(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded
) -> None:
    r = client.get(f"/p/{_token(settings, seeded.alice, seeded.list_id)}")
    assert r.status_code == 200
    assert '<html lang="ja">' in r.text and "<h1>配信設定</h1>" in r.text
    assert '<legend>メールの形式</legend>' in r.text and '<legend>文字コード</legend>' in r.text
    assert 'name="format" value="html" checked' in r.text
    assert 'name="charset" value="utf-8" checked' in r.text
    assert hidden_field(r.text, "csrf")
    assert r.headers["cache-control"] == "no-store"
    assert subscriber_state(engine, seeded.alice).events == ()


def test_a_change_is_saved_and_recorded(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded
) -> None:
    path = f"/p/{_token(settings, seeded.alice, seeded.list_id)}"
    csrf = hidden_field(client.get(path).text, "csrf")
    r = client.post(path, data={"csrf": csrf, "format": "text", "charset": "iso-2022-jp"})
    assert r.status_code == 200
    assert "設定を保存しました" in r.text
    assert 'name="format" value="text" checked' in r.text
    state = subscriber_state(engine, seeded.alice)
    assert (state.format, state.charset) == ("text", "iso-2022-jp")
    assert state.events == (
        ("preferences", "web", "format: html -> text; charset: utf-8 -> iso-2022-jp"),
    )
    # the same form again changes nothing and records nothing
    again = client.post(path, data={"csrf": csrf, "format": "text", "charset": "iso-2022-jp"})
    assert "変更はありませんでした" in again.text
    assert subscriber_state(engine, seeded.alice) == state


def test_a_post_without_a_valid_csrf_token_is_refused(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded
) -> None:
    path = f"/p/{_token(settings, seeded.alice, seeded.list_id)}"
    before = subscriber_state(engine, seeded.alice)
    someone_else = csrf_token(settings.secret_keys, subscriber_id=seeded.bob)
    forged = csrf_token(["not-our-key"], subscriber_id=seeded.alice)
    for data in (
        {"format": "text", "charset": "utf-8"},
        {"csrf": "", "format": "text", "charset": "utf-8"},
        {"csrf": someone_else, "format": "text", "charset": "utf-8"},
        {"csrf": forged, "format": "text", "charset": "utf-8"},
    ):
        r = client.post(path, data=data)
        assert r.status_code == 403
        assert "登録内容は変更されていません" in r.text
    assert subscriber_state(engine, seeded.alice) == before


def test_an_unknown_format_is_refused(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded
) -> None:
    path = f"/p/{_token(settings, seeded.alice, seeded.list_id)}"
    csrf = hidden_field(client.get(path).text, "csrf")
    r = client.post(path, data={"csrf": csrf, "format": "pdf", "charset": "utf-8"})
    assert r.status_code == 400
    assert subscriber_state(engine, seeded.alice).events == ()


def test_resubscribe_after_unsubscribing(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded
) -> None:
    token = _token(settings, seeded.alice, seeded.list_id)
    client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    page = client.get(f"/p/{token}")
    assert "現在、配信を停止しています" in page.text
    assert 'name="resubscribe"' in page.text
    r = client.post(f"/p/{token}", data={
        "csrf": hidden_field(page.text, "csrf"), "format": "html", "charset": "utf-8",
        "resubscribe": "yes",
    })
    assert r.status_code == 200 and "現在、配信中です" in r.text
    state = subscriber_state(engine, seeded.alice)
    assert state.status == "active"
    assert seeded.list_id in state.lists
    assert state.events == (("unsubscribed", "one-click", LIST), ("resubscribed", "web", LIST))


def test_reader_chooses_which_lists(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded
) -> None:
    """With more than one list, the page offers each list; joining is recorded,
    and leaving every list unsubscribes."""
    from sqlmodel import Session, select

    from mailer.models import ListVisibility, Membership
    from mailer.services.subscribers import ensure_list, set_list_visibility

    with Session(engine) as session:
        extra_id = ensure_list(session=session, name="cdo-news", title="CDO通信").id
        set_list_visibility(session=session, name="cdo-news", visibility=ListVisibility.PUBLIC)
        session.commit()
    path = f"/p/{_token(settings, seeded.alice, seeded.list_id)}"
    page = client.get(path).text
    assert "CDO通信" in page and 'name="lists_offered"' in page
    csrf = hidden_field(page, "csrf")
    form = {"csrf": csrf, "format": "html", "charset": "utf-8", "lists_offered": "yes"}
    r = client.post(path, data={**form, "list": [str(seeded.list_id), str(extra_id)]})
    assert r.status_code == 200 and "設定を保存しました" in r.text

    def lists() -> set[int]:
        with Session(engine) as session:
            return {m.list_id for m in session.exec(
                select(Membership).where(Membership.subscriber_id == seeded.alice))}

    assert lists() == {seeded.list_id, extra_id}
    assert ("joined", "web", "CDO通信") in subscriber_state(engine, seeded.alice).events
    client.post(path, data=form)  # nothing ticked: off every list
    assert lists() == set()
    assert subscriber_state(engine, seeded.alice).status == "unsubscribed"


def test_readers_see_and_join_public_lists_only(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded
) -> None:
    """An internal list is not offered, and a forged POST naming it joins nothing
    (security #15.3); a list the reader is on stays visible so they can leave it."""
    from sqlmodel import Session, select

    from mailer.models import Membership
    from mailer.services.subscribers import ensure_list

    with Session(engine) as session:
        internal_id = ensure_list(session=session, name="cio-only", title="幹部限定").id
        session.commit()
    path = f"/p/{_token(settings, seeded.alice, seeded.list_id)}"
    page = client.get(path).text
    assert "幹部限定" not in page
    csrf = hidden_field(page, "csrf")
    form = {"csrf": csrf, "format": "html", "charset": "utf-8", "lists_offered": "yes"}
    client.post(path, data={**form, "list": [str(seeded.list_id), str(internal_id)]})
    with Session(engine) as session:
        joined = {m.list_id for m in session.exec(
            select(Membership).where(Membership.subscriber_id == seeded.alice))}
    assert internal_id not in joined
    assert seeded.list_id in joined
    # an internal list the reader is on is shown, so they can leave it
    with Session(engine) as session:
        session.add(Membership(list_id=internal_id, subscriber_id=seeded.alice))
        session.commit()
    assert "幹部限定" in client.get(path).text
