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
