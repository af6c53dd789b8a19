"""`mailer bounces import` (Maildir, mbox) and `mailer bounces serve` end to end."""

from __future__ import annotations

import mailbox
import os
import re
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bounce_helpers import DOMAIN, OLD_KEY, SECRET_KEY, Ref, sample
from sqlalchemy import Engine, select
from sqlmodel import Session
from typer.testing import CliRunner

from mailer.bounces.mailbox import MailboxError, detect, envelope_of
from mailer.cli.bounces import bounces_app
from mailer.embedded.redis_server import free_port
from mailer.models import InboundMessage, Subscriber, SubscriberStatus

ENV = {
    "MAILER_ENV": "local",
    "MAILER_SECRET_KEY": SECRET_KEY,
    "MAILER_OLD_SECRET_KEYS": OLD_KEY,
    "MAILER_FROM": f"CIOフォーラム事務局 <forum@{DOMAIN}>",
    "MAILER_BOUNCE_DOMAIN": "",
}


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    env = {**ENV, "MAILER_DATABASE_URL": database_url}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def messages(refs: list[Ref]) -> list[bytes]:
    """One of each kind, as a local delivery agent would have stored them."""
    forwarded = sample("exchange-o365-hard-5.1.10.eml", refs[2])
    return [
        sample("postfix-hard-5.1.1.eml", refs[0]),  # carries Delivered-To already
        b"Delivered-To: " + refs[1].verp.encode() + b"\n" + sample("exim-hard-550.eml", refs[1]),
        # forwarded from a shared mailbox: Delivered-To is the last hop, the
        # bounce address survives in X-Original-To
        b"Delivered-To: bounce-archive@ops.example.com\nX-Original-To: "
        + refs[2].verp.encode() + b"\n" + forwarded,
        sample("gmail-hard-5.1.1.eml", refs[3]),
        sample("gmail-soft-4.2.2.eml", refs[4]),
        sample("arf-complaint.eml", refs[5]),
        sample("autoreply-ja.eml", refs[6]),
        sample("mailto-unsubscribe.eml", refs[7]),
        sample("junk.eml", refs[0]),
    ]


def statuses(engine: Engine, refs: list[Ref]) -> list[str]:
    with Session(engine) as s:
        return [SubscriberStatus(s.get(Subscriber, r.subscriber_id).status).value  # type: ignore[union-attr]
                for r in refs]


EXPECTED = ["bounced", "bounced", "bounced", "bounced", "active", "complained", "active",
            "unsubscribed"]


def counts_in(output: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"│\s*([a-z-]+)\s*│\s*(\d+)\s*│", output)}


def check_import(engine: Engine, refs: list[Ref], output: str) -> None:
    assert counts_in(output) == {"dsn-hard": 4, "dsn-soft": 1, "complaint": 1, "autoreply": 1,
                                 "unsubscribe-request": 1, "unknown": 1}
    assert "メール 9 通" in output
    assert "処理しなかったもの" in output and "[no delivery reference]" in output
    assert statuses(engine, refs) == EXPECTED
    with Session(engine) as s:
        rows = list(s.execute(select(InboundMessage)).scalars())
    assert len(rows) == 9
    assert {r.rcpt_to for r in rows if r.kind == "dsn-hard"} == {r.verp for r in refs[:4]}


def test_import_maildir(engine: Engine, refs: list[Ref], cli_env: dict[str, str],
                        tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for raw in messages(refs):
        box.add(raw)
    box.close()
    result = CliRunner().invoke(bounces_app, ["import", str(tmp_path / "Maildir")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    check_import(engine, refs, result.output)


def test_import_mbox(engine: Engine, refs: list[Ref], cli_env: dict[str, str],
                     tmp_path: Path) -> None:
    path = tmp_path / "bounces.mbox"
    box = mailbox.mbox(path, create=True)
    for raw in messages(refs):
        box.add(raw)
    box.close()
    result = CliRunner().invoke(bounces_app, ["import", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    check_import(engine, refs, result.output)
    # importing the same mailbox again stores the messages, changes nobody
    again = CliRunner().invoke(bounces_app, ["import", str(path)], env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert statuses(engine, refs) == EXPECTED


def test_import_rejects_what_is_not_a_mailbox(
    engine: Engine, cli_env: dict[str, str], tmp_path: Path
) -> None:
    # `engine`: the database has the schema, so what is refused is the path.
    (tmp_path / "plain").mkdir()
    (tmp_path / "note.txt").write_text("hello\n")
    for target, message in [("plain", "not a Maildir"), ("note.txt", "not an mbox"),
                            ("missing", "no such file")]:
        result = CliRunner().invoke(bounces_app, ["import", str(tmp_path / target)])
        assert result.exit_code == 1
        assert message in result.output


def test_detect_and_envelope(tmp_path: Path) -> None:
    with pytest.raises(MailboxError):
        detect(tmp_path / "nothing")
    raw = (b"Return-Path: <>\nDelivered-To: ops@example.com\nX-Original-To: other@example.com\n"
           b"To: Bounce <BOUNCES+abc@Mailer.Example.com>\n\nx\n")
    assert envelope_of(raw, domain=DOMAIN) == ("", "BOUNCES+abc@Mailer.Example.com")
    assert envelope_of(b"Delivered-To: ops@example.com\n\nx", domain=DOMAIN)[1] == "ops@example.com"
    assert envelope_of(b"Subject: none\n\nx", domain=DOMAIN) == ("", "")


def test_serve_command(engine: Engine, refs: list[Ref], cli_env: dict[str, str]) -> None:
    """`mailer bounces serve` as a process: it answers SMTP, records, and stops on SIGTERM."""
    port = free_port()
    code = "from mailer.cli.bounces import bounces_app; bounces_app()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", str(port)],
        env={**os.environ, **cli_env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        smtp = _connect(port, proc)
        with smtp:
            raw = re.sub(rb"\r?\n", b"\r\n", sample("gmail-hard-5.1.1.eml", refs[0]))
            assert smtp.sendmail("", [refs[0].verp], raw) == {}
            smtp.mail("")
            assert smtp.rcpt(f"postmaster@{DOMAIN}")[0] == 550
        assert statuses(engine, refs[:1]) == ["bounced"]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "bounces+…@mailer.example.com と unsubscribe+…@mailer.example.com" in text
    assert "dsn-hard 5.1.1" in text and "終了しました" in text
    assert f"delivery {refs[0].delivery_id} (verp)" in text


def _connect(port: int, proc: subprocess.Popen[bytes]) -> smtplib.SMTP:
    deadline = time.monotonic() + 20
    while True:
        try:
            return smtplib.SMTP("127.0.0.1", port, timeout=10)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"serve did not start: {out}") from None
            time.sleep(0.1)
