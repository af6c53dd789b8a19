"""Unsubscribe links: GET never changes anything; POST (RFC 8058) does, once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import Engine
from web_support import LIST, Seeded, event_count, make_settings, serve, subscriber_state

from mailer.settings import Settings
from mailer.tokens import unsubscribe_token

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def token_for(settings: Settings, subscriber_id: int, list_id: int | None) -> str:
    return unsubscribe_token(settings.secret_keys, subscriber_id=subscriber_id, list_id=list_id)


def test_get_shows_a_button_and_changes_nothing(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded
) -> None:
    before = subscriber_state(engine, seeded.alice)
    token = token_for(settings, seeded.alice, seeded.list_id)
    for _ in range(3):  # a gateway, a link scanner, then the reader
        r = client.get(f"/u/{token}")
        assert r.status_code == 200
    assert '<html lang="ja">' in r.text
    assert "配信を停止する" in r.text
    assert f'<form method="post" action="/u/{token}">' in r.text
    assert "a***@city-a.example.jp" in r.text and "alice@" not in r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert subscriber_state(engine, seeded.alice) == before
    assert before.status == "active" and before.events == ()


def test_one_click_post_unsubscribes_once(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded
) -> None:
    token = token_for(settings, seeded.alice, seeded.list_id)
    r = client.post(f"/u/{token}", data=ONE_CLICK)  # no cookies, no CSRF token
    assert r.status_code == 200
    assert "配信を停止しました" in r.text
    after = subscriber_state(engine, seeded.alice)
    assert after.status == "unsubscribed"
    assert seeded.list_id not in after.lists
    assert after.events == (("unsubscribed", "one-click", LIST),)

    again = client.post(f"/u/{token}", data=ONE_CLICK)
    assert again.status_code == 200
    assert subscriber_state(engine, seeded.alice) == after
    # and the confirmation page now says it is already done, with no button
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and "配信停止済み" in page.text
    assert "<form" not in page.text


def test_one_click_multipart_body_is_accepted(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded
) -> None:
    # RFC 8058 allows multipart/form-data as well as urlencoded.
    token = token_for(settings, seeded.carol, seeded.list_id)
    r = client.post(f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")})
    assert r.status_code == 200
    assert subscriber_state(engine, seeded.carol).status == "unsubscribed"


def test_the_pages_button_unsubscribes_with_source_web(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded
) -> None:
    token = token_for(settings, seeded.alice, seeded.list_id)
    r = client.post(f"/u/{token}", data={"confirm": "yes"})
    assert r.status_code == 200
    assert subscriber_state(engine, seeded.alice).events == (("unsubscribed", "web", LIST),)


def test_leaving_one_of_two_lists_keeps_the_subscriber_active(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded
) -> None:
    token = token_for(settings, seeded.bob, seeded.list_id)
    assert client.post(f"/u/{token}", data=ONE_CLICK).status_code == 200
    after = subscriber_state(engine, seeded.bob)
    assert after.status == "active"
    assert after.lists == {seeded.other_list_id}
    assert after.events == (("unsubscribed", "one-click", LIST),)


def test_a_token_without_list_unsubscribes_from_everything(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded
) -> None:
    token = token_for(settings, seeded.bob, None)
    assert client.post(f"/u/{token}", data=ONE_CLICK).status_code == 200
    assert client.post(f"/u/{token}", data=ONE_CLICK).status_code == 200
    after = subscriber_state(engine, seeded.bob)
    assert after.status == "unsubscribed"
    assert after.events == (("unsubscribed", "one-click", "all lists"),)


def test_simultaneous_posts_write_one_event(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded, live_url: str
) -> None:
    token = token_for(settings, seeded.alice, seeded.list_id)

    def post(_: int) -> int:
        return httpx.post(f"{live_url}/u/{token}", data=ONE_CLICK, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert set(pool.map(post, range(6))) == {200}
    assert len(subscriber_state(engine, seeded.alice).events) == 1


@pytest.mark.parametrize("kind", ["forged", "altered", "truncated", "garbage"])
def test_bad_tokens_are_refused_and_change_nothing(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded, kind: str
) -> None:
    good = token_for(settings, seeded.alice, seeded.list_id)
    token = {
        "forged": unsubscribe_token(["someone-elses-key"], subscriber_id=seeded.alice,
                                    list_id=seeded.list_id),
        # the signature of alice's token on bob's payload
        "altered": token_for(settings, seeded.bob, seeded.list_id).split(".")[0]
        + "." + good.split(".")[1],
        "truncated": good[:-3],
        "garbage": "not-a-token",
    }[kind]
    before = subscriber_state(engine, seeded.alice), subscriber_state(engine, seeded.bob)
    for r in (client.get(f"/u/{token}"), client.post(f"/u/{token}", data=ONE_CLICK),
              client.get(f"/p/{token}")):
        assert r.status_code == 400
        assert '<html lang="ja">' in r.text and "リンクが正しくありません" in r.text
    after = subscriber_state(engine, seeded.alice), subscriber_state(engine, seeded.bob)
    assert after == before
    assert event_count(engine) == 0


def test_a_post_without_the_one_click_body_is_refused(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded
) -> None:
    token = token_for(settings, seeded.alice, seeded.list_id)
    r = client.post(f"/u/{token}")
    assert r.status_code == 400
    assert subscriber_state(engine, seeded.alice).status == "active"
    assert event_count(engine) == 0


def test_a_token_signed_with_a_retired_key_still_works(
    database_url: str, engine: Engine, seeded: Seeded
) -> None:
    old = make_settings(database_url, secret_key="the-key-used-when-the-mail-went-out-1")
    token = token_for(old, seeded.alice, seeded.list_id)
    rotated = make_settings(database_url, secret_key="a-brand-new-key-after-rotation-0001",
                            old_secret_keys="the-key-used-when-the-mail-went-out-1")
    with serve(rotated) as url:
        assert httpx.get(f"{url}/u/{token}", timeout=10).status_code == 200
        r = httpx.post(f"{url}/u/{token}", data=ONE_CLICK, timeout=10)
    assert r.status_code == 200
    assert subscriber_state(engine, seeded.alice).status == "unsubscribed"
    # without the old key the same token is refused
    new_only = make_settings(database_url, secret_key="a-brand-new-key-after-rotation-0001")
    with serve(new_only) as url:
        assert httpx.get(f"{url}/u/{token}", timeout=10).status_code == 400


def test_head_changes_nothing(
    client: httpx.Client, engine: Engine, settings: Settings, seeded: Seeded
) -> None:
    token = token_for(settings, seeded.alice, seeded.list_id)
    assert client.head(f"/u/{token}").status_code == 200
    assert subscriber_state(engine, seeded.alice).status == "active"
    assert event_count(engine) == 0
