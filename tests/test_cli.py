"""The `mailer` command line, run in-process with typer's runner against a
real SQLite database (settings come from the environment, as for users)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from mailer.cli import app
from mailer.db import make_engine
from mailer.embedded.smtp_sink import SmtpSink
from mailer.models import Issue, Part
from mailer.samples import SAMPLE_ISSUE_DIR, SAMPLE_SUBSCRIBERS_CSV
from mailer.testing.stack import TEST_SECRET

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    import os

    for key in list(os.environ):
        if key.startswith("MAILER_") and not key.startswith("MAILER_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAILER_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("MAILER_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("MAILER_BASE_URL", "https://mailer.example.com")
    # A new install starts with `mailer db upgrade`; no other command creates the schema.
    code, out = run("db", "upgrade")
    assert code == 0, out
    yield tmp_path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def load_sample() -> list[int]:
    code, out = run("issue", "load", str(SAMPLE_ISSUE_DIR))
    assert code == 0, out
    return [
        int(line.split("パート ID ")[1].split(":")[0])
        for line in out.splitlines()
        if "パート ID " in line
    ]


def test_issue_load_is_idempotent(env: Path) -> None:
    assert len(load_sample()) == 2
    code, out = run("issue", "load", str(SAMPLE_ISSUE_DIR))
    assert code == 0 and "変更なし" in out


def test_bad_issue_folder_lists_every_problem_and_stores_nothing(env: Path) -> None:
    bad = env / "vol99"
    shutil.copytree(SAMPLE_ISSUE_DIR, bad)
    part1 = bad / "part1.md"
    text = part1.read_text(encoding="utf-8")
    text = text.replace("subject:", "subjectx:", 1)
    part1.write_text(text, encoding="utf-8")
    (bad / "images" / next(p.name for p in (bad / "images").iterdir())).unlink()
    code, out = run("issue", "load", str(bad))
    assert code == 1
    assert f"{bad / 'part1.md'}:" in out
    assert "何も保存していません" in out
    engine = make_engine(f"sqlite:///{env / 'cli.db'}")
    with Session(engine) as session:
        assert session.exec(select(Issue)).all() == []
        assert session.exec(select(Part)).all() == []


def test_part_check_and_preview(env: Path) -> None:
    part_id = load_sample()[0]
    code, out = run("part", "check", str(part_id))
    assert code == 0, out
    assert "エラー 0 件" in out
    code, out = run("part", "preview", str(part_id), "--format", "text")
    assert code == 0
    assert "【" in out and "https://mailer.example.com/archive/" in out
    target = env / "p.eml"
    code, out = run("part", "preview", str(part_id), "--format", "eml", "--out", str(target))
    assert code == 0 and target.read_bytes().startswith(b"")
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in target.read_bytes()
    code, out = run("part", "preview", str(part_id), "--format", "pdf")
    assert code == 1 and "--format 'pdf'" in out
    code, out = run("part", "check", "999")
    assert code == 1 and "パート 999 はありません" in out


def test_send_status_and_control_errors(env: Path) -> None:
    part_id = load_sample()[0]
    from mailer.db import session_scope
    from mailer.services.subscribers import read_subscriber_csv, upsert_subscribers

    engine = make_engine(f"sqlite:///{env / 'cli.db'}")
    with session_scope(engine) as session:
        upsert_subscribers(
            session=session, rows=read_subscriber_csv(SAMPLE_SUBSCRIBERS_CSV), list_name="cio-forum"
        )
    code, out = run("send", str(part_id), "--list", "nolist")
    assert code == 1 and "リスト nolist はありません" in out
    code, out = run("schedule", str(part_id), "--list", "cio-forum", "--at", "tomorrow")
    assert code == 1 and "ISO 8601 の日時ではありません" in out
    code, out = run("schedule", str(part_id), "--list", "cio-forum", "--at", "2030-04-01T09:00")
    assert code == 0 and "2030-04-01 09:00:00 JST" in out
    code, out = run("status", str(part_id))
    assert code == 0 and "予約済み" in out
    code, out = run("pause", "1")
    assert code == 0 and "一時停止しました" in out
    code, out = run("resume", "1")
    assert code == 0
    code, out = run("cancel", "1")
    assert code == 0
    code, out = run("resume", "1")
    assert code == 1 and "再開できるのは一時停止中の配信だけです" in out
    code, out = run("pause", "42")
    assert code == 1 and "配信 42 はありません" in out


def test_test_send_goes_to_the_given_addresses_only(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    part_id = load_sample()[0]
    with SmtpSink(env / "outbox") as sink:
        monkeypatch.setenv("MAILER_SMTP_URL", sink.url)
        code, out = run(
            "test-send", str(part_id), "--to", "editor@example.com", "--to", "chief@example.org"
        )
        assert code == 0, out
        assert [a.recipients for a in sink.accepted] == [
            ("editor@example.com",),
            ("chief@example.org",),
        ]
        import email
        import email.policy

        msg = email.message_from_bytes(sink.accepted[0].data, policy=email.policy.default)
        assert "テスト" in str(msg["Subject"])
        code, out = run("test-send", str(part_id), "--to", "not-an-address")
        assert code == 1 and "--to not-an-address" in out
    engine = make_engine(f"sqlite:///{env / 'cli.db'}")
    from mailer.models import Delivery

    with Session(engine) as session:
        assert session.exec(select(Delivery)).all() == []


def test_bad_setting_is_one_line(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_SMTP_URL", "ftp://x")
    code, out = run("status", "1")
    assert code == 2
    assert "MAILER_SMTP_URL" in out and len(out.strip().splitlines()) == 1


def test_lists_are_internal_unless_made_public(env: Path) -> None:
    import os

    from sqlalchemy import create_engine, text

    def visibility() -> dict[str, str]:
        engine = create_engine(os.environ["MAILER_DATABASE_URL"])
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT name, visibility FROM mailing_list")).all()
        engine.dispose()
        return {name: vis for name, vis in rows}

    assert run("lists", "create", "cio-forum", "--title", "CIOフォーラム通信")[0] == 0
    assert run("lists", "create", "seminar", "--public")[0] == 0
    assert visibility() == {"cio-forum": "internal", "seminar": "public"}
    code, out = run("lists", "set-visibility", "cio-forum", "public")
    assert code == 0 and "公開" in out
    assert visibility()["cio-forum"] == "public"
    assert "（変更なし）" in run("lists", "set-visibility", "cio-forum", "public")[1]
    code, out = run("lists", "set-visibility", "nothing", "public")
    assert code == 1 and "リスト「nothing」はありません" in out
    code, _out = run("lists", "set-visibility", "seminar", "hidden")
    assert code == 2  # not a visibility: typer's usage error
    assert run("lists", "show")[0] == 0


def test_issue_and_part_list(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv("COLUMNS", "200")  # rich would shorten titles in a narrow terminal
    code, out = run("issue", "list")
    assert code == 0 and "号はまだありません" in out
    code, out = run("part", "list", "--json")
    assert code == 0 and json.loads(out) == []
    part_ids = load_sample()

    code, out = run("issue", "list")
    assert code == 0, out
    assert all(h in out for h in ("番号", "スラッグ", "題名", "パート数"))
    assert "第4号" in out and "vol04" in out and "武蔵野市×都CIO座談会" in out
    code, out = run("issue", "list", "--json")
    assert code == 0
    [issue] = json.loads(out)
    assert (issue["number"], issue["slug"], issue["parts"]) == (4, "vol04", 2)

    from mailer.db import session_scope
    from mailer.services.sends import create_send
    from mailer.services.subscribers import ensure_list

    engine = make_engine(f"sqlite:///{env / 'cli.db'}")
    with session_scope(engine) as session:
        ensure_list(session=session, name="cio-forum")
        create_send(session=session, part_id=part_ids[1], list_names=["cio-forum"])
    engine.dispose()
    code, out = run("part", "list")
    assert code == 0, out
    assert all(h in out for h in ("ID", "号", "パート", "題名", "予定", "状態"))
    assert "2026-12-01 09:00" in out and "未配信" in out and "配信予定" in out
    code, out = run("part", "list", "--issue", "vol04", "--json")
    assert code == 0
    parts = json.loads(out)
    assert [(p["id"], p["label"], p["state"]) for p in parts] == [
        (part_ids[0], "part1", "unsent"), (part_ids[1], "part2", "scheduled")]
    assert parts[0]["scheduled_at"] == "2026-12-01T09:00:00+09:00"
    assert json.loads(run("part", "list", "--issue", "4", "--json")[1]) == parts
    code, out = run("part", "list", "--issue", "vol99")
    assert code == 1 and "号「vol99」はありません" in out


def test_part_state_from_its_sends() -> None:
    from mailer.models import SendStatus as S
    from mailer.services.listings import PartState, part_state

    assert part_state([]) is PartState.UNSENT
    assert part_state([S.CANCELLED]) is PartState.UNSENT
    assert part_state([S.CANCELLED, S.PAUSED]) is PartState.SCHEDULED
    assert part_state([S.RUNNING, S.DONE]) is PartState.SENT


def test_demo_serve_refuses_a_busy_port_before_running_the_demo(env: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out = run("demo", "--serve", "--port", str(port))
    assert code == 1
    assert f"--port {port}: 127.0.0.1:{port} で待ち受けできません" in out
    assert "を起動しています" not in out and not (env / "var" / "demo").exists()


def test_demo_keeps_earlier_data_and_says_how_to_go_on(env: Path) -> None:
    """A second `mailer demo` wipes nothing: it stops before starting anything
    and names --serve (look at it) and --reset (start over)."""
    load_sample()
    code, out = run("demo")
    assert code == 1
    assert "前回のデモのデータがあります（消さずに残しています）" in out
    assert "mailer demo --serve" in out and "mailer demo --reset" in out
    assert "を起動しています" not in out and not (env / "var" / "demo").exists()
    code, out = run("part", "list", "--issue", "4")
    assert code == 0 and "part1" in out and "part2" in out


def test_part_check_of_a_stored_injected_subject_is_a_finding(env: Path) -> None:
    """Security issue #15 item 5: a part stored before front matter was checked
    (subject with CR/LF) is a blocking finding, not a traceback."""
    import json

    from sqlalchemy import update

    part_id = load_sample()[0]
    engine = make_engine(f"sqlite:///{env / 'cli.db'}")
    with engine.begin() as conn:
        doc = json.loads(conn.execute(select(Part.document).where(  # type: ignore[call-overload]
            Part.id == part_id)).scalar_one())
        doc["subject"] = "件名\r\nBcc: victim@example.com"
        conn.execute(update(Part).where(Part.id == part_id).values(  # type: ignore[arg-type]
            document=json.dumps(doc, ensure_ascii=False)))
    engine.dispose()
    result = runner.invoke(app, ["part", "check", str(part_id)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1
    assert "subject_control" in result.output and "制御文字 CR (U+000D)" in result.output
    code, out = run("part", "preview", str(part_id), "--format", "eml")
    assert code == 1 and "件名" in out


def test_part_publish_and_unpublish_as_a_person(env: Path) -> None:
    part_id = load_sample()[0]
    code, out = run("part", "publish", str(part_id), "--as", "editor@metro.example.jp")
    assert code == 0, out
    assert f"パート {part_id}: " in out and "editor@metro.example.jp が公開しました" in out
    code, out = run("part", "publish", str(part_id), "--as", "editor@metro.example.jp")
    assert code == 1 and f"パート {part_id} はすでに公開中です" in out
    code, out = run("part", "unpublish", str(part_id), "--as", "chief@metro.example.jp")
    assert code == 0 and f"パート {part_id}: chief@metro.example.jp が公開を取り消しました" in out
    code, out = run("part", "unpublish", str(part_id), "--as", "chief@metro.example.jp")
    assert code == 1 and f"パート {part_id} は公開されていません" in out
    code, out = run("part", "publish", "999", "--as", "editor@metro.example.jp")
    assert code == 1 and "パート 999 はありません" in out
    from mailer.models import AuditLog

    engine = make_engine(f"sqlite:///{env / 'cli.db'}")
    with Session(engine) as session:
        rows = session.exec(select(AuditLog.action, AuditLog.actor)
                            .where(AuditLog.target_type == "part")
                            .order_by(AuditLog.id)).all()  # type: ignore[arg-type]
    engine.dispose()
    assert [tuple(r) for r in rows] == [("part.publish", "editor@metro.example.jp"),
                                        ("part.unpublish", "chief@metro.example.jp")]
