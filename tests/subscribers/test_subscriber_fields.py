"""The field declaration is the one list: every consumer's field list is the
declaration's, so adding a field there (plus its column) is all it takes."""

from __future__ import annotations

import dataclasses
import re

import pytest

from mailer.models import Subscriber
from mailer.render.html import TEMPLATES_DIR
from mailer.services import exporter, importer, listings
from mailer.services import subscriber_fields as sf
from mailer.services.subscriber_edit import SubscriberInput, clean
from mailer.services.subscriber_fields import FIELDS, BadValue, SubscriberField
from mailer.web.api.schemas import SubscriberDetailOut, SubscriberOut
from mailer.web.api.subscriber_edit import SubscriberCreate, SubscriberUpdate

NAMES = [f.name for f in FIELDS]
SUB = Subscriber.__table__  # type: ignore[attr-defined]

#: every CSV header the importer accepted before the declaration existed
HEADERS_BEFORE = {
    "email": ("メールアドレス", "メール", "電子メール", "email", "e-mail", "mail",
              "email address", "mail address"),
    "name": ("氏名", "名前", "name", "full name"),
    "honorific": ("敬称", "honorific"),
    "organisation": ("団体名", "自治体名", "organisation", "organization"),
    "organisation_kind": ("団体区分", "organisation_kind", "organization_kind", "kind"),
    "job_title": ("役職", "job_title", "job title", "title"),
    "roles": ("役割", "roles", "role"),
    "format": ("形式", "配信形式", "format"),
    "charset": ("文字コード", "charset", "encoding"),
    "status": ("状態", "status"),
}
#: headers of fields declared since (issue #14: the フリガナ of a name)
HEADERS_ADDED = {
    "reading": ("フリガナ", "reading", "ふりがな", "よみがな", "読み仮名", "よみ", "カナ", "kana"),
}


def test_every_consumer_lists_the_declared_fields() -> None:
    # import: the header mapping reaches exactly the declared fields
    assert set(importer.HEADER_MAP.values()) == set(NAMES)
    assert tuple(f.name for f in FIELDS if f.imported) == importer.FIELDS
    assert {f.name for f in FIELDS if not f.imported} == importer.READ_ONLY
    # export: one column per field, headed by its label
    assert tuple(NAMES) == exporter.COLUMNS
    assert [f.label for f in FIELDS] == exporter.HEADER
    # API: create takes the fields given at creation, update every field; both take lists
    assert list(SubscriberCreate.model_fields) == [*sf.ON_CREATE, "lists"]
    assert list(SubscriberUpdate.model_fields) == [*NAMES, "lists"]
    assert list(SubscriberOut.model_fields) == ["id", *NAMES, "created_at", "updated_at"]
    assert set(SubscriberDetailOut.model_fields) >= set(SubscriberOut.model_fields)
    # listings read every field
    assert [c.name for c in listings.SUBSCRIBER_COLUMNS] == [
        "id", *NAMES, "created_at", "updated_at"]
    # the model has a column for each, with the declared default
    for f in FIELDS:
        assert f.name in SUB.c, f.name
        if f.required:
            continue  # the address has no default
        model_default = Subscriber.model_fields[f.name].default
        assert str(model_default) == f.default, f.name


def test_every_header_accepted_before_is_still_accepted() -> None:
    for name, headers in HEADERS_BEFORE.items():
        for header in headers:
            assert importer.HEADER_MAP[importer.header_key(header)] == name, header
    for name, headers in HEADERS_ADDED.items():
        for header in headers:
            assert importer.HEADER_MAP[importer.header_key(header)] == name, header
    assert set(importer.HEADER_MAP) == {
        importer.header_key(h) for hs in (*HEADERS_BEFORE.values(), *HEADERS_ADDED.values())
        for h in hs}


def test_the_admin_form_shows_one_input_per_declared_field() -> None:
    from mailer.web.admin.pages_subscriber_edit import FIELD_LABELS

    assert {n: FIELD_LABELS[n] for n in NAMES} == sf.labels()
    text = (TEMPLATES_DIR / "admin" / "subscriber_form.html.j2").read_text(encoding="utf-8")
    # no field is spelled out in the template: it loops over the declaration
    for name in NAMES:
        assert not re.search(rf'attrs\("{name}"\)|name="{name}"', text), name


def _with(extra: SubscriberField) -> tuple[SubscriberField, ...]:
    return (*FIELDS, extra)


def test_a_new_declared_field_reaches_import_and_the_service(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What a consumer derives at call time follows a new declaration at once."""
    def upper(value: str) -> str:
        if not value.isascii():
            raise BadValue(f"「{value}」は半角英数字ではありません")
        return value.upper()

    extra = SubscriberField("region_code", "地域コード", upper, aliases=("region",))
    monkeypatch.setattr(sf, "FIELDS", _with(extra))
    monkeypatch.setattr("mailer.services.subscriber_edit.FIELDS", _with(extra))
    monkeypatch.setattr("mailer.services.subscriber_edit.BY_NAME", {**sf.BY_NAME,
                                                                    extra.name: extra})
    c = clean(SubscriberInput.of({"email": "a@b.example.jp", "region_code": "tk"}),
              creating=True)
    assert c.values["region_code"] == "TK"
    with pytest.raises(Exception, match="region_code: 「東京」は半角英数字ではありません"):
        clean(SubscriberInput.of({"email": "a@b.example.jp", "region_code": "東京"}),
              creating=True)


def test_rules_are_the_importers() -> None:
    by = sf.BY_NAME
    assert by["email"].check("ＴＡＮＡＫＡ@Chofu.Example.JP") == "TANAKA@chofu.example.jp"
    assert by["organisation_kind"].check("特別区") == "特別区"
    assert by["format"].check("テキスト形式") == "text"
    assert by["charset"].check("JIS") == "iso-2022-jp"
    assert by["roles"].check("CIO、CISO；CIO") == "CIO;CISO"
    for f, bad, reason in ((by["organisation_kind"], "県", "都、特別区、市、町、村 のいずれか"),
                           (by["format"], "PDF", "HTML（html）かテキスト（text）"),
                           (by["name"], "a\x07b", "制御文字（U+0007）は使えません"),
                           (by["name"], "\ue000", "外字（U+E000）"),
                           (by["job_title"], "長" * 201, "200 文字まで"),
                           (by["status"], "gone", "のいずれかです")):
        with pytest.raises(BadValue, match=re.escape(reason)):
            f.check(bad)
    # what the export writes, the importer reads back
    for f in FIELDS:
        if f.imported:
            for value, label in f.choices.items():
                assert f.check(label) == value, (f.name, label)


def test_declaration_is_frozen_data() -> None:
    assert all(dataclasses.is_dataclass(f) for f in FIELDS)
    assert len(set(NAMES)) == len(NAMES)


def test_the_catalogued_kind_list_is_the_declared_one() -> None:
    """The message that lists the accepted kinds lists exactly KINDS."""
    assert "、".join(sf.KINDS) == sf.KIND_CHOICES


@pytest.mark.parametrize(("address", "reason"), [
    ("no-at-sign.example.jp", "「no-at-sign.example.jp」は@ がありません"),
    ("@example.jp", "「@example.jp」は@ の前が空です"),
    ("taro@", "「taro@」は@ の後（ドメイン）が空です"),
    ("taro@example", "「taro@example」はドメインが正しくありません"),
    ("taro..yamada@example.jp", "「taro..yamada@example.jp」はピリオド（.）が続いています"),
    ("山田@example.jp", "「山田@example.jp」は@ の前に全角文字など使えない字があります"),
])
def test_email_validators_english_becomes_a_japanese_reason(address: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        sf.normalise_email(address)
    assert str(caught.value) == reason
