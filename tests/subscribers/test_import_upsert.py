"""Applying an import: idempotence, consent and events, suppression and
unsubscribes never undone without --resubscribe, dry run."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlmodel import Session, SQLModel
from subscribers_support import ROWS, Cli, csv_text, table_counts, write

from mailer.models import (
    MailingList,
    Membership,
    Subscriber,
    SubscriberEvent,
    SubscriberStatus,
    Suppression,
)
from mailer.services.suppression import email_hash

SUB = Subscriber.__table__  # type: ignore[attr-defined]


def add(engine: Engine, row: SQLModel) -> None:
    with Session(engine) as session:
        session.add(row)
        session.commit()


def subscribers(engine: Engine) -> dict[str, Subscriber]:
    with engine.connect() as conn:
        return {r.email: r for r in conn.execute(select(SUB))}  # type: ignore[misc]


def members(engine: Engine, list_name: str = "cio-forum") -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(
            select(Subscriber.email).join(Membership, Membership.subscriber_id == Subscriber.id)  # type: ignore[arg-type]
            .join(MailingList, MailingList.id == Membership.list_id)  # type: ignore[arg-type]
            .where(MailingList.name == list_name)).scalars())  # type: ignore[arg-type]


def events(engine: Engine) -> list[tuple[str, str, str, str]]:
    with engine.connect() as conn:
        return [(email, kind, detail, source) for email, kind, detail, source in conn.execute(
            select(Subscriber.email, SubscriberEvent.kind, SubscriberEvent.detail,
                   SubscriberEvent.source)
            .join(Subscriber, Subscriber.id == SubscriberEvent.subscriber_id)  # type: ignore[arg-type]
            .order_by(SubscriberEvent.id))]  # type: ignore[arg-type]


def test_first_import_creates_with_consent_and_events_and_rerun_changes_nothing(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    path = write(tmp_path / "cio.csv", csv_text(*ROWS), "utf-8-sig")
    code, out = cli("subscribers", "import", str(path), "--list", "cio-forum")
    assert code == 0, out
    assert "作成 4、更新 0、変更なし 0、受け付けず 0、抑止のため飛ばした 0" in out
    subs = subscribers(engine)
    minato = subs["cio@minato.example.jp"]
    assert minato.name == "髙橋 健太" and minato.format == "text"
    assert (minato.consent_source, minato.consent_by) == ("import:cio.csv", "tester")
    assert minato.consent_at is not None and minato.status == SubscriberStatus.ACTIVE
    assert members(engine) == set(subs)
    assert [(k, s) for _, k, _, s in events(engine)] == [("imported", "import:cio.csv")] * 4

    before = table_counts(engine)
    code, out = cli("subscribers", "import", str(path), "--list", "cio-forum")
    assert code == 0
    assert "作成 0、更新 0、変更なし 4、受け付けず 0、抑止のため飛ばした 0" in out
    assert table_counts(engine) == before


def test_changed_rows_are_updated_with_an_event_and_blank_cells_keep_values(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    cli("subscribers", "import", str(write(tmp_path / "a.csv", csv_text(*ROWS))),
        "--list", "cio-forum")
    changed = csv_text("CIO@Chiyoda.example.jp,佐藤 一郎,,,,副区長(CIO、CDO),CIO;CDO,,",
                       ROWS[1])
    code, out = cli("subscribers", "import", str(write(tmp_path / "b.csv", changed)))
    assert code == 0, out
    assert "作成 0、更新 1、変更なし 1" in out
    chiyoda = subscribers(engine)["cio@chiyoda.example.jp"]  # stored spelling kept
    assert (chiyoda.job_title, chiyoda.roles, chiyoda.organisation) == (
        "副区長(CIO、CDO)", "CIO;CDO", "千代田区")
    last = events(engine)[-1]
    assert last[:2] == ("cio@chiyoda.example.jp", "updated")
    assert "roles: CIO -> CIO;CDO" in last[2] and "tester が取り込み" in last[2]


def test_suppressed_and_unsubscribed_are_never_resubscribed_without_the_flag(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    path = write(tmp_path / "cio.csv", csv_text(*ROWS))
    cli("subscribers", "import", str(path), "--list", "cio-forum")
    with engine.begin() as conn:
        conn.execute(update(SUB).where(SUB.c.email == "cio@minato.example.jp")
                     .values(status=SubscriberStatus.UNSUBSCRIBED))
        conn.execute(update(SUB).where(SUB.c.email == "cio@hachioji.example.jp")
                     .values(status=SubscriberStatus.BOUNCED))
        conn.execute(Membership.__table__.delete())  # type: ignore[attr-defined]
    add(engine, Suppression(email="CIO@okutama.example.jp",
                            email_hash=email_hash("CIO@okutama.example.jp"), reason="complaint"))
    before = table_counts(engine)
    code, out = cli("subscribers", "import", str(path), "--list", "cio-forum")
    assert code == 0, out
    assert "作成 0、更新 1、変更なし 0、受け付けず 0、抑止のため飛ばした 3" in out
    assert "飛ばしました: 3 行目: cio@minato.example.jp: 状態が「配信停止」です" in out
    assert "飛ばしました: 4 行目: cio@hachioji.example.jp: 状態が「不達」です" in out
    assert "飛ばしました: 5 行目: cio@okutama.example.jp: 配信抑止中（complaint）" in out
    subs = subscribers(engine)
    assert subs["cio@minato.example.jp"].status == SubscriberStatus.UNSUBSCRIBED
    assert subs["cio@hachioji.example.jp"].status == SubscriberStatus.BOUNCED
    assert members(engine) == {"cio@chiyoda.example.jp"}
    assert table_counts(engine)["Suppression"] == before["Suppression"] == 1

    code, out = cli("subscribers", "import", str(path), "--list", "cio-forum", "--resubscribe")
    assert code == 0, out
    assert "作成 0、更新 3、変更なし 1、受け付けず 0、抑止のため飛ばした 0" in out
    assert "配信中に戻した 3" in out
    subs = subscribers(engine)
    assert {s.status for s in subs.values()} == {SubscriberStatus.ACTIVE}
    assert members(engine) == set(subs)
    assert table_counts(engine)["Suppression"] == 0
    minato = subs["cio@minato.example.jp"]
    assert minato.consent_source == "import:cio.csv" and minato.consent_by == "tester"
    kinds = [(e, k, d) for e, k, d, _ in events(engine) if k == "resubscribed"]
    assert sorted(kinds) == sorted((e, "resubscribed", "cio-forum") for e in (
        "cio@minato.example.jp", "cio@hachioji.example.jp", "cio@okutama.example.jp"))


def test_a_suppressed_address_is_not_created(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    add(engine, Suppression(email="cio@chiyoda.example.jp",
                            email_hash=email_hash("cio@chiyoda.example.jp"), reason="hard bounce"))
    code, out = cli("subscribers", "import", str(write(tmp_path / "a.csv", csv_text(ROWS[0]))),
                    "--list", "cio-forum")
    assert code == 0 and "作成 0" in out and "抑止のため飛ばした 1" in out
    assert subscribers(engine) == {}


def test_an_erased_address_is_recognised_by_its_hash(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    digest = email_hash("cio@chiyoda.example.jp")
    add(engine, Suppression(email=f"erased:{digest}", email_hash=digest, reason="erasure"))
    _, out = cli("subscribers", "import", str(write(tmp_path / "a.csv", csv_text(ROWS[0]))))
    assert "飛ばしました: 2 行目: cio@chiyoda.example.jp: 配信抑止中（erasure）" in out
    assert subscribers(engine) == {}


def test_unsubscribing_from_one_list_is_respected(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    path = write(tmp_path / "a.csv", csv_text(ROWS[0]))
    cli("subscribers", "import", str(path), "--list", "cio-forum")
    sid = subscribers(engine)["cio@chiyoda.example.jp"].id
    with engine.begin() as conn:  # what the web app's one-click unsubscribe does
        conn.execute(Membership.__table__.delete())  # type: ignore[attr-defined]
    add(engine, SubscriberEvent(subscriber_id=sid, kind="unsubscribed", detail="cio-forum",
                                source="one-click"))
    code, out = cli("subscribers", "import", str(path), "--list", "cio-forum")
    assert "リスト「cio-forum」の配信を停止しています" in out and members(engine) == set()
    code, out = cli("subscribers", "import", str(path), "--list", "cio-forum", "--resubscribe")
    assert code == 0 and members(engine) == {"cio@chiyoda.example.jp"}
    code, out = cli("subscribers", "import", str(path), "--list", "cio-forum")
    assert "変更なし 1" in out  # the resubscription is now the latest word


def test_dry_run_writes_nothing_but_reports_the_same_counts(
    cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    path = write(tmp_path / "cio.csv", csv_text(*ROWS), "cp932")
    before = table_counts(engine)
    code, out = cli("subscribers", "import", str(path), "--list", "cio-forum", "--dry-run")
    assert code == 0, out
    assert "作成 4、更新 0、変更なし 0" in out and "試行のみ: 何も書いていません" in out
    assert table_counts(engine) == before
    code, out = cli("subscribers", "import", str(path), "--list", "cio-forum")
    assert "作成 4" in out


def test_legacy_upsert_and_reader_still_work(engine: Engine) -> None:
    from mailer.samples import SAMPLE_SUBSCRIBERS_CSV
    from mailer.services.subscribers import read_subscriber_csv, upsert_subscribers

    rows = read_subscriber_csv(SAMPLE_SUBSCRIBERS_CSV)
    assert len(rows) == 62 and rows[0]["email"] == "cio@chiyoda.example.jp"
    with Session(engine) as session:
        assert upsert_subscribers(session=session, rows=rows, list_name="demo") == 62
        assert upsert_subscribers(session=session, rows=rows[:3], list_name="demo") == 3
        session.commit()
    assert len(subscribers(engine)) == 62 and len(members(engine, "demo")) == 62
