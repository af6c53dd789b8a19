"""A refused admin form comes back as the same form: what was entered is
still there and the reason stands beside the field at fault, in Japanese;
not a page of its own with a 戻る link, and no address that answers 405 to
a reload."""

from __future__ import annotations

import re

import httpx
from test_admin_helpers import Site, part_ids, post_form, site
from web_support import LIST, OTHER_LIST

__all__ = ["site"]


def _checked(page: str) -> set[str]:
    return set(re.findall(r'name="lists" value="([^"]+)" checked', page))


def _error_beside(page: str, field_id: str) -> str:
    """The text of the error paragraph that follows the field `field_id`."""
    match = re.search(rf'id="{field_id}"[^>]*>\s*<p class="error"[^>]*>([^<]+)</p>', page)
    assert match, page[page.find(field_id) - 200:page.find(field_id) + 600]
    return match.group(1)


def test_schedule_form_keeps_the_lists_and_time_and_says_why_beside_the_time(
        site: Site) -> None:
    client = site.client("editor")
    part = part_ids(site.engine)[0]
    r = post_form(client, f"/admin/parts/{part}", f"/admin/parts/{part}/schedule",
                  {"lists": [LIST, OTHER_LIST], "at": "2020-04-01T09:00"})
    assert r.status_code == 422
    assert f'action="/admin/parts/{part}/schedule"' in r.text and ">戻る</a>" not in r.text
    assert 'id="send-at" type="datetime-local" name="at" value="2020-04-01T09:00"' in r.text
    assert 'aria-invalid="true"' in r.text
    assert _checked(r.text) == {LIST, OTHER_LIST}
    assert "過去の日時には予約できません" in _error_beside(r.text, "send-at")
    # An unreadable time: the same form, the time as typed.
    r = post_form(client, f"/admin/parts/{part}", f"/admin/parts/{part}/schedule",
                  {"lists": [LIST], "at": "来週"})
    assert r.status_code == 422 and _checked(r.text) == {LIST}
    assert "日時として読めません" in _error_beside(r.text, "send-at")


def test_schedule_and_send_now_without_lists_say_so_beside_the_lists(site: Site) -> None:
    client = site.client("editor")
    part = part_ids(site.engine)[0]
    for action in ("schedule", "send-now"):
        r = post_form(client, f"/admin/parts/{part}", f"/admin/parts/{part}/{action}",
                      {"at": "2031-04-01T09:00"})
        assert r.status_code == 422, action
        assert "配信先のリストを1つ以上選んでください" in r.text
        legend = r.text.index("<legend>配信先のリスト</legend>")
        assert r.text.index('class="error"', legend) < r.text.index('name="lists"', legend)
        assert 'value="2031-04-01T09:00"' in r.text


def test_the_forms_addresses_answer_a_get_with_the_form(site: Site) -> None:
    client = site.client("editor")
    part = part_ids(site.engine)[0]
    for action in ("schedule", "send-now"):
        r = client.get(f"/admin/parts/{part}/{action}")
        assert r.status_code == 303 and r.headers["location"].startswith(
            f"/admin/parts/{part}"), (action, r.status_code)
        assert client.get(r.headers["location"]).status_code == 200


def _subscriber_form(client: httpx.Client, **fields: object) -> httpx.Response:
    data = {"email": "", "name": "", "honorific": "様", "organisation": "",
            "organisation_kind": "", "job_title": "", "roles": "", "format": "html",
            "charset": "utf-8", **fields}
    return post_form(client, "/admin/subscribers/new", "/admin/subscribers/new", data)


def test_subscriber_form_keeps_what_was_typed_and_says_why_beside_the_field(
        site: Site) -> None:
    client = site.client("list_admin")
    r = _subscriber_form(client, email="alice@city-a.example.jp", name="山﨑 由美",
                         organisation="三鷹市", lists=[OTHER_LIST])
    assert r.status_code == 422 and 'action="/admin/subscribers/new"' in r.text
    assert 'value="山﨑 由美"' in r.text and 'value="三鷹市"' in r.text
    assert 'value="alice@city-a.example.jp"' in r.text
    assert _checked(r.text) == {OTHER_LIST}
    assert "登録済みです" in _error_beside(r.text, "f-email")
    r = _subscriber_form(client, email="ok@city-x.example.jp", organisation_kind="県")
    assert r.status_code == 422 and 'value="ok@city-x.example.jp"' in r.text
    error = re.search(r'id="f-organisation_kind-error">([^<]+)<', r.text)
    assert error and not error.group(1).startswith("organisation_kind")
