"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

from mailer.db import alembic_config, current_revision, head_revision, make_engine, upgrade


def test_migrated_schema_matches_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []
    assert current_revision(engine) == head_revision()


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def _migrate(engine: Engine, target: str, *, down: bool = False) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, target)


def test_issue_assets_upgrade_and_downgrade(database_url: str) -> None:
    """0003 adds `issue_asset` and clears the digests of issues stored before
    it (so the next load stores their images); its downgrade drops the table."""
    engine = make_engine(database_url)
    try:
        _migrate(engine, "0002")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO issue (slug, number, title, series, document, source_digest,"
                    " created_at, updated_at) VALUES ('vol03', 3, '八王子市×都CIO座談会', '',"
                    " '{}', 'abc123', :now, :now)"
                ),
                {"now": datetime.now(UTC)},
            )
        _migrate(engine, "0003")
        assert inspect(engine).has_table("issue_asset")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT source_digest FROM issue")).scalar_one() == ""
        _migrate(engine, "0002", down=True)
        assert not inspect(engine).has_table("issue_asset")
        assert current_revision(engine) == "0002"
        upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_search_key_fills_existing_subscribers(database_url: str) -> None:
    """0007 adds `reading` and `search_key`, and fills the key of every row
    stored before it, so 山崎 finds a 山﨑 imported earlier."""
    from mailer.services import listings

    engine = make_engine(database_url)
    try:
        _migrate(engine, "0005")
        now = datetime.now(UTC)
        with engine.begin() as conn:
            for i, (name, org) in enumerate([("山﨑 由美", "三鷹市"), ("髙橋 一郎", "府中市")]):
                conn.execute(text(
                    "INSERT INTO subscriber (email, email_hash, name, honorific, organisation,"
                    " organisation_kind, job_title, roles, format, charset, status,"
                    " consent_source, consent_by, created_at, updated_at) VALUES (:e, '', :n,"
                    " '様', :o, '市', '', '', 'html', 'utf-8', 'active', '', '', :now, :now)"),
                    {"e": f"Old{i}@Example.JP", "n": name, "o": org, "now": now})
        _migrate(engine, "0007")
        with engine.connect() as conn:
            keys = list(conn.execute(text("SELECT search_key FROM subscriber ORDER BY id"))
                        .scalars())
        assert keys == ["山崎由美\n\nold0@example.jp\n三鷹市",
                        "高橋一郎\n\nold1@example.jp\n府中市"]
        upgrade(engine)
        found = listings.subscribers(engine, listings.SubscriberFilter(q="山崎"))[0]
        assert [r.name for r in found] == ["山﨑 由美"]
        _migrate(engine, "0005", down=True)
        assert "search_key" not in {c["name"] for c in inspect(engine).get_columns("subscriber")}
    finally:
        engine.dispose()


def test_publish_gate_upgrade_publishes_parts_already_sent(database_url: str) -> None:
    """0010 adds part.published_at / published_by: a part with a started send
    is public from its earliest start, by "system"; others stay unpublished."""
    engine = make_engine(database_url)
    started = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
    now = datetime.now(UTC)
    try:
        _migrate(engine, "0005")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO issue (id, slug, number, title, series, document, source_digest,"
                " created_at, updated_at) VALUES (1, 'vol04', 4, 't', '', '{}', '', :now, :now)"),
                {"now": now})
            for pid, label in ((1, "part1"), (2, "part2"), (3, "part3")):
                conn.execute(text(
                    "INSERT INTO part (id, issue_id, label, position, title, subject, document,"
                    " created_at, updated_at) VALUES (:id, 1, :label, :id, 't', 's', '{}',"
                    " :now, :now)"), {"id": pid, "label": label, "now": now})
            # part1: two started sends (the earlier one counts); part2: scheduled only
            for sid, pid, at in ((1, 1, started + timedelta(days=1)), (2, 1, started),
                                 (3, 2, None)):
                conn.execute(text(
                    "INSERT INTO send (id, part_id, status, scheduled_at, started_at, recipients,"
                    " counts_json, note, created_by, approved_by, created_at, updated_at)"
                    " VALUES (:id, :pid, :status, :now, :at, 0, '', '', '', '', :now, :now)"),
                    {"id": sid, "pid": pid, "at": at, "now": now,
                     "status": "done" if at else "scheduled"})
        _migrate(engine, "0010")
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT id, published_at, published_by FROM part ORDER BY id")).all()
        published = {r[0]: (r[1], r[2]) for r in rows}
        at, by = published[1]
        if isinstance(at, str):  # SQLite without type information in a text() query
            at = datetime.fromisoformat(at)
        assert at.replace(tzinfo=at.tzinfo or UTC) == started and by == "system"
        assert published[2] == (None, "") and published[3] == (None, "")
        _migrate(engine, "0005", down=True)
        assert "published_at" not in {c["name"] for c in inspect(engine).get_columns("part")}
    finally:
        engine.dispose()


def _fill_every_table(engine: Engine) -> None:
    """Rows in every table the downgrades touch, linked as the app links them:
    subscribers on lists, an issue with a part, a send to both lists with its
    deliveries, and a subscriber event."""
    from sqlmodel import Session

    from mailer.models import (
        Delivery,
        DeliveryStatus,
        Issue,
        MailingList,
        Membership,
        Part,
        Send,
        SendList,
        SendStatus,
        Subscriber,
        SubscriberEvent,
    )

    now = datetime.now(UTC)
    with Session(engine) as s:
        subs = [Subscriber(email=f"cio{i}@city.example.jp", name=f"山﨑 由美{i}",
                           reading="やまさき", organisation="三鷹市") for i in range(3)]
        lists = [MailingList(name="cio", title="CIO"), MailingList(name="ciso", title="CISO")]
        issue = Issue(slug="vol04", number=4, title="八王子市×都CIO座談会")
        s.add_all([*subs, *lists, issue])
        s.flush()
        part = Part(issue_id=issue.id, label="part1", position=1, title="t", subject="s",
                    published_at=now, published_by="system")
        s.add(part)
        s.flush()
        send = Send(part_id=part.id, status=SendStatus.DONE, scheduled_at=now, started_at=now,
                    recipients=3)
        s.add(send)
        s.flush()
        s.add_all([SendList(send_id=send.id, list_id=lst.id) for lst in lists])
        s.add_all([Membership(list_id=lists[i % 2].id, subscriber_id=sub.id)
                   for i, sub in enumerate(subs)])
        s.add_all([Delivery(send_id=send.id, part_id=part.id, subscriber_id=sub.id,
                            email=sub.email, status=DeliveryStatus.SENT, sent_at=now)
                   for sub in subs])
        s.add(SubscriberEvent(subscriber_id=subs[0].id, kind="imported", source="import"))
        s.commit()


def _counts(engine: Engine) -> dict[str, int]:
    tables = ("subscriber", "mailing_list", "membership", "issue", "part", "send",
              "send_list", "delivery", "subscriber_event")
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in tables}


def test_downgrade_to_0005_with_data_and_back(database_url: str) -> None:
    """From head with rows in every table, each downgrade down to 0005 runs
    (on SQLite with foreign keys on, a migration that copied a table others
    refer to failed here) and keeps every row; upgrading again gives the
    models' schema with the same rows."""
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        _fill_every_table(engine)
        before = _counts(engine)
        assert all(before.values()), before
        passed = []
        while (rev := current_revision(engine)) != "0005":
            _migrate(engine, "-1", down=True)
            passed.append(rev)
            assert _counts(engine) == before, rev
        assert {"0006", "0007", "0008"} <= set(passed)
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert _counts(engine) == before
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        assert diff == []
    finally:
        engine.dispose()
