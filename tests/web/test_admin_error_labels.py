"""Every admin page shows a refusal in staff words: the field by its Japanese
label, never the request's field key ("at: …", "email: …"), which the API
and the CLI keep (mailer/web/service_errors.py owns the labels)."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import update
from test_admin_helpers import Site, email_of, part_ids, post_form, site
from web_support import LIST

from mailer.models import User
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.subscriber_fields import FIELDS
from mailer.web.service_errors import FIELD_LABELS, staff_message

__all__ = ["site"]

#: every field key a refusal may start with
KEYS = sorted({*FIELD_LABELS, "part_id", "send_id"})
KEY_PREFIX = re.compile(rf"(?<![\w@.-])({'|'.join(KEYS)})\s*:")


def main_text(page: str) -> str:
    """The text of the page's <main>, without tags."""
    body = page.split('<main id="main">', 1)[1].split("</main>", 1)[0]
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def assert_staff_words(page: str, *expected: str) -> None:
    text = main_text(page)
    assert not KEY_PREFIX.search(text), KEY_PREFIX.search(text)
    for words in expected:
        assert words in text, (words, text)


def test_the_presenter_labels_every_key_and_drops_unknown_own_keys() -> None:
    for f in FIELDS:
        exc = ServiceError(f"{f.name}: 値が正しくありません", kind=ErrorKind.INVALID,
                           field=f.name)
        assert staff_message(exc) == f"{f.label}：値が正しくありません"
    assert staff_message(ServiceError("at: 過去です", field="at")) == "配信日時：過去です"
    assert staff_message(ServiceError("colour: この項目はありません", field="colour")) == (
        "この項目はありません")
    assert staff_message(ServiceError("パート 3 はありません")) == "パート 3 はありません"


def test_schedule_in_the_past(site: Site) -> None:
    part = part_ids(site.engine)[0]
    r = post_form(site.client("editor"), f"/admin/parts/{part}", f"/admin/parts/{part}/schedule",
                  {"lists": [LIST], "at": "2020-04-01T09:00"})
    assert r.status_code == 422  # the form again, the reason beside the time (its label)
    assert_staff_words(r.text, "配信日時（東京時間）", "過去の日時には予約できません")


def test_schedule_to_an_unknown_list(site: Site) -> None:
    part = part_ids(site.engine)[0]
    r = post_form(site.client("editor"), f"/admin/parts/{part}", f"/admin/parts/{part}/schedule",
                  {"lists": ["no-such-list"], "at": "2031-04-01T09:00"})
    assert r.status_code == 422
    assert_staff_words(r.text, "配信先のリスト", "リスト no-such-list はありません")


def test_test_send_to_an_unusable_address(site: Site) -> None:
    client = site.client("editor")
    with site.engine.begin() as conn:
        conn.execute(update(User).where(User.email == email_of("editor"))  # type: ignore[arg-type]
                     .values(email="editor-at-metro"))
    part = part_ids(site.engine)[0]
    r = post_form(client, f"/admin/parts/{part}", f"/admin/parts/{part}/test-send")
    assert r.status_code == 422
    assert_staff_words(r.text, "宛先：editor-at-metro はメールアドレスとして正しくありません")


@pytest.mark.parametrize("action", ["publish", "unpublish"])
def test_publish_and_unpublish_refused(site: Site, action: str) -> None:
    client = site.client("editor")
    part = part_ids(site.engine)[0]
    if action == "publish":
        assert post_form(client, f"/admin/parts/{part}",
                         f"/admin/parts/{part}/publish").status_code == 303
        r = post_form(client, f"/admin/parts/{part}", f"/admin/parts/{part}/publish")
        assert r.status_code == 409
        assert_staff_words(r.text, "すでに公開中です")
    else:  # without ticking the confirmation box
        r = post_form(client, f"/admin/parts/{part}", f"/admin/parts/{part}/unpublish")
        assert r.status_code == 422
        assert_staff_words(r.text, "確認欄にチェックを入れてから")


def test_subscriber_form(site: Site) -> None:
    client = site.client("list_admin")
    fields = {"email": "", "name": "", "honorific": "様", "organisation": "",
              "organisation_kind": "", "job_title": "", "roles": "", "format": "html",
              "charset": "utf-8"}
    taken = "alice@city-a.example.jp"
    for extra, words in (({"email": taken}, f"{taken} は登録済みです"),
                         ({"email": "ok@city-x.example.jp", "organisation_kind": "県"},
                          "団体区分"),
                         ({"email": "ok@city-x.example.jp", "lists": "no-such-list"},
                          "リスト no-such-list はありません")):
        r = post_form(client, "/admin/subscribers/new", "/admin/subscribers/new",
                      {**fields, **extra})
        assert r.status_code == 422, extra
        assert_staff_words(r.text, words)
