"""Export: everything stored about one person, and nothing about anyone else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from privacy_support import PrivacyCli, build_world
from sqlalchemy import Engine

from mailer.services.privacy import UnknownSubscriberError, export_subscriber_data


def test_export_holds_every_record_of_the_person(engine: Engine) -> None:
    world = build_world(engine)
    data = export_subscriber_data(engine=engine, email=f"  {world.target.upper()} ")

    assert data["subscriber"]["email"] == world.target
    assert data["subscriber"]["name"].startswith("髙橋")
    assert data["subscriber"]["status"] == "active"
    assert {m["list"] for m in data["memberships"]} == {"cio-forum", "cdo-forum"}
    assert [e["kind"] for e in data["events"]] == ["bounced"]
    deliveries = data["deliveries"]
    assert [(d["send_id"], d["status"]) for d in deliveries] == [
        (world.done_send, "failed"), (world.running_send, "pending")]
    assert all(d["issue_title"] and d["part_title"] and d["subject"] for d in deliveries)
    assert deliveries[0]["message_id"].startswith("<d1.")
    assert deliveries[0]["created_at"].endswith("+00:00")
    assert len(data["inbound_messages"]) == 2  # the linked DSN and the unlinked auto-reply
    assert all(world.target in m["raw"].lower() for m in data["inbound_messages"])
    assert [s["email"] for s in data["suppressions"]] == [world.target]
    assert [a["action"] for a in data["audit_log"]] == ["subscriber.update"]
    # Nobody else's data.
    blob = json.dumps(data, ensure_ascii=False)
    assert not any(other in blob for other in world.others)


def test_unknown_address_is_a_clear_error(engine: Engine) -> None:
    build_world(engine)
    with pytest.raises(UnknownSubscriberError, match=r"nobody@example\.jp"):
        export_subscriber_data(engine=engine, email="nobody@example.jp")


def test_cli_writes_pretty_utf8_json(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    world = build_world(engine)
    cli = PrivacyCli(database_url, monkeypatch)
    out = tmp_path / "export.json"

    code, output = cli("export", world.target, "--out", str(out))
    assert code == 0, output
    raw = out.read_text(encoding="utf-8")
    assert "髙橋" in raw and "\\u" not in raw  # ensure_ascii=False
    assert raw.startswith("{\n  ")
    assert json.loads(raw)["subscriber"]["email"] == world.target

    code, output = cli("export", world.target)
    assert code == 0
    assert json.loads(output)["subscriber"]["email"] == world.target

    code, output = cli("export", "nobody@example.jp")
    assert code == 1
    assert "nobody@example.jp" in output
