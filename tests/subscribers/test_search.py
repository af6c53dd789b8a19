"""Search the way names are written: variant kanji, widths and kana fold to
one form in the stored key and in the query; the total counts every match.
Each way a subscriber is written (CLI import, import update, the admin's
create and edit, the ORM) keeps the key filled."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from subscribers_support import ROWS, Cli, csv_text, write

from mailer.models import Subscriber
from mailer.search_text import fold
from mailer.services import listings
from mailer.services.actors import SYSTEM
from mailer.services.subscriber_edit import SubscriberInput, create_subscriber, update_subscriber

SUB = Subscriber.__table__  # type: ignore[attr-defined]
HEADER = "メールアドレス,氏名,フリガナ,団体名,団体区分"
PEOPLE = [
    "yamasaki@mitaka.example.jp,山﨑 由美,ヤマサキ ユミ,三鷹市,市",
    "takahashi@minato.example.jp,髙橋 健太,タカハシ ケンタ,港区,特別区",
    "saito@fuchu.example.jp,齋藤 花子,サイトウ ハナコ,府中市,市",
    "watanabe@chofu.example.jp,渡邉 一郎,ワタナベ イチロウ,調布市,市",
    "50pct_off@example.jp,百田 五十,モモタ イソ,ＡＢＣ財団,",
]


def names(engine: Engine, q: str, **more: object) -> list[str]:
    filt = listings.SubscriberFilter(q=q, **more)  # type: ignore[arg-type]
    rows, _next = listings.subscribers(engine, filt, limit=200)
    assert listings.count_subscribers(engine, filt) == len(rows)
    return sorted(r.name for r in rows)


@pytest.fixture
def imported(cli: Cli, engine: Engine, tmp_path: Path) -> Engine:
    path = write(tmp_path / "people.csv", csv_text(*PEOPLE, header=HEADER), "utf-8-sig")
    code, out = cli("subscribers", "import", str(path), "--list", "cio-forum")
    assert code == 0, out
    return engine


def test_variant_kanji_find_each_other(imported: Engine) -> None:
    assert names(imported, "山崎") == ["山﨑 由美"]
    assert names(imported, "山﨑") == ["山﨑 由美"]
    assert names(imported, "山崎 由美") == names(imported, "山崎由美") == ["山﨑 由美"]
    assert names(imported, "高橋") == ["髙橋 健太"]
    assert names(imported, "斉藤") == names(imported, "斎藤") == ["齋藤 花子"]
    assert names(imported, "渡辺") == names(imported, "渡邊") == ["渡邉 一郎"]


def test_readings_match_in_any_kana_and_width(imported: Engine) -> None:
    for q in ("ﾀｶﾊｼ", "たかはし", "タカハシ", "たかはし けんた"):
        assert names(imported, q) == ["髙橋 健太"], q


def test_address_and_organisation_in_any_width_and_case(imported: Engine) -> None:
    assert names(imported, "ＴＡＫＡＨＡＳＨＩ@") == ["髙橋 健太"]
    assert names(imported, "abc財団") == ["百田 五十"]
    assert names(imported, "三鷹") == ["山﨑 由美"]
    # % and _ are characters to find, not wildcards
    assert names(imported, "50pct_") == ["百田 五十"]
    assert names(imported, "%") == [] and names(imported, "_") == ["百田 五十"]
    # a match never runs from one field into the next
    assert names(imported, "ゆみやま") == []


def test_the_total_counts_every_page(imported: Engine) -> None:
    filt = listings.SubscriberFilter(q="example.jp")
    page, next_after = listings.subscribers(imported, filt, limit=2)
    assert len(page) == 2 and next_after is not None
    assert listings.count_subscribers(imported, filt) == 5
    assert listings.count_subscribers(imported, listings.SubscriberFilter(q="市")) == 3
    assert listings.count_subscribers(
        imported, listings.SubscriberFilter(q="市", kind="特別区")) == 0
    assert listings.count_subscribers(imported, listings.SubscriberFilter(q="誰もいない")) == 0


def test_an_import_that_changes_a_name_moves_the_key(
    imported: Engine, cli: Cli, tmp_path: Path
) -> None:
    path = write(tmp_path / "fix.csv", csv_text(
        "takahashi@minato.example.jp,髙橋 健二,タカハシ ケンジ,,", header=HEADER), "utf-8-sig")
    code, out = cli("subscribers", "import", str(path), "--list", "cio-forum")
    assert code == 0 and "更新 1" in out, out
    assert names(imported, "高橋健二") == ["髙橋 健二"]
    assert names(imported, "けんた") == []
    assert names(imported, "港区") == ["髙橋 健二"]  # a blank cell kept the organisation


def test_the_admin_create_and_edit_keep_the_key(engine: Engine) -> None:
    sid = create_subscriber(engine=engine, actor=SYSTEM, data=SubscriberInput(values={
        "email": "hamasaki@oshima.example.jp", "name": "濱嶋 眞一", "reading": "ハマシマ シンイチ",
        "organisation": "大島町"}))
    assert names(engine, "浜島真一") == ["濱嶋 眞一"]
    update_subscriber(engine=engine, actor=SYSTEM, subscriber_id=sid,
                      data=SubscriberInput(values={"name": "櫻井 眞一"}))
    assert names(engine, "桜井") == ["櫻井 眞一"] and names(engine, "浜島") == []
    assert names(engine, "はましま") == ["櫻井 眞一"]  # the reading was not changed
    update_subscriber(engine=engine, actor=SYSTEM, subscriber_id=sid,
                      data=SubscriberInput(values={"email": "sakurai@oshima.example.jp"}))
    assert names(engine, "sakurai@") == ["櫻井 眞一"] and names(engine, "hamasaki@") == []


def test_the_orm_keeps_the_key(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Subscriber(email="kuni@example.jp", name="國廣 德子"))
        session.commit()
    assert names(engine, "国広徳子") == ["國廣 德子"]
    with Session(engine) as session:
        row = session.exec(select(Subscriber).where(Subscriber.email == "kuni@example.jp")).one()
        row.reading = "くにひろ のりこ"
        session.add(row)
        session.commit()
    assert names(engine, "クニヒロ") == ["國廣 德子"]


def test_sample_rows_fold_as_documented() -> None:
    assert fold("山﨑 由美") == "山崎由美" and fold("ﾀｶﾊｼ") == fold("タカハシ") == "たかはし"
    assert fold("ＭＡＩＬ@Example.JP") == "mail@example.jp"
    assert ROWS  # the shared sample is unchanged by the new column
