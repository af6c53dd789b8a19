"""Structured logging: JSON lines with delivery ids, text lines, the Celery
hook, and redaction of passwords, tokens and message bodies."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from celery import Celery
from celery.signals import after_setup_logger

from mailer.logging_setup import (
    MAX_MESSAGE_CHARS,
    JsonFormatter,
    configure_logging,
    install_celery_logging,
    log_context,
    redact,
)

MESSAGE = (
    "From: CIOフォーラム事務局 <forum@example.jp>\r\n"
    "To: cio@city.example.lg.jp\r\n"
    "Subject: 第4回\r\n"
    "\r\n"
    "本文：ご購読ありがとうございます。secret body text\r\n"
)


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    """Configure JSON logging into a buffer; restore the root logger afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure_logging(fmt="json", level="DEBUG", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_time_level_logger_message_and_ids(out: io.StringIO) -> None:
    log = logging.getLogger("mailer.delivery.engine")
    log.info("plain line")
    log.warning("send %s: %s", 7, "関東の配信", extra={"send_id": 7, "delivery_id": 99})
    with log_context(send_id=7, part_id=3):
        log.info("in a batch")
        with log_context(delivery_id=12):
            log.info("one delivery")
        log.info("explicit wins", extra={"part_id": 4})
    log.info("after")
    rows = records(out)
    assert len(rows) == 6  # one object per line
    assert set(rows[0]) == {"time", "level", "logger", "message"}
    assert rows[0]["logger"] == "mailer.delivery.engine" and rows[0]["level"] == "INFO"
    assert str(rows[0]["time"]).endswith("+00:00")
    assert rows[1]["message"] == "send 7: 関東の配信"
    assert (rows[1]["send_id"], rows[1]["delivery_id"]) == (7, 99)
    assert (rows[2]["send_id"], rows[2]["part_id"]) == (7, 3) and "delivery_id" not in rows[2]
    assert (rows[3]["send_id"], rows[3]["part_id"], rows[3]["delivery_id"]) == (7, 3, 12)
    assert rows[4]["part_id"] == 4
    assert set(rows[5]) == {"time", "level", "logger", "message"}


def test_other_extra_fields_are_not_written(out: io.StringIO) -> None:
    logging.getLogger("x").info("hi", extra={"recipient": "cio@city.example.lg.jp"})
    assert "cio@" not in out.getvalue()


def test_log_context_refuses_other_names() -> None:
    with pytest.raises(TypeError), log_context(email="a@example.jp"):  # type: ignore[arg-type]
        pass


def test_exceptions_are_one_line_of_json_and_redacted(out: io.StringIO) -> None:
    try:
        raise ConnectionError("cannot reach postgresql://mailer:hunter2@db:5432/mailer")
    except ConnectionError:
        logging.getLogger("x").exception("database down")
    [row] = records(out)
    assert "ConnectionError" in str(row["exc"]) and "hunter2" not in out.getvalue()
    assert "postgresql://mailer:***@db:5432/mailer" in str(row["exc"])


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("relay smtp+starttls://editor:p%40ss@relay.example.jp:587 down", "p%40ss", "editor:***@"),
        ("db postgresql://mailer:S3cr3t@postgres:5432/mailer", "S3cr3t", "mailer:***@postgres"),
        ("broker redis://:redispw@redis:6379/0", "redispw", "redis://:***@redis"),
        ("login password=hunter2 ok", "hunter2", "password=***"),
        ('{"password": "hunter2"}', "hunter2", '"password": "***"'),
        ("MAILER_SECRET_KEY=abcdefabcdefabcdefabcdefabcdef12 set", "abcdef12", "SECRET_KEY=***"),
        ("smtp_password: hunter2", "hunter2", "smtp_password: ***"),
        ("GET /u/WzEsMl0.Zm9vYmFyYmF6 HTTP/1.1", "WzEsMl0", "/u/***"),
        ("POST /p/WzEsMl0.Zm9vYmFyYmF6?x=1", "Zm9vYmFy", "/p/***"),
        ("callback?token=abc123def456&x=1", "abc123", "token=***"),
        ("Authorization: Bearer eyJhbGciOi.payload", "eyJhbGciOi", "Bearer ***"),
    ],
)
def test_redact(text: str, secret: str, kept: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned and kept in cleaned


def test_messages_and_their_bodies_are_never_logged(out: io.StringIO) -> None:
    log = logging.getLogger("mailer.delivery.smtp")
    log.info("sending %s", MESSAGE)
    log.info("raw %r", MESSAGE.encode())
    log.info("data: %s", MESSAGE.encode())
    log.info("x" * (MAX_MESSAGE_CHARS + 500))
    text = out.getvalue()
    assert "本文" not in text and "secret body text" not in text
    rows = records(out)
    assert "[message body omitted:" in str(rows[0]["message"])
    assert rows[1]["message"] == f"raw <{len(MESSAGE.encode())} bytes>"
    assert rows[2]["message"] == f"data: <{len(MESSAGE.encode())} bytes>"
    assert len(str(rows[3]["message"])) < MAX_MESSAGE_CHARS + 100


def test_text_format_with_ids() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    try:
        configure_logging(fmt="text", level="INFO", stream=stream)
        configure_logging(fmt="text", level="INFO", stream=stream)  # replaces, never doubles
        assert sum(1 for h in root.handlers if getattr(h, "stream", None) is stream) == 1
        with log_context(send_id=5):
            logging.getLogger("workers.tasks").info("batch via smtp://u:pw@relay:25")
        logging.getLogger("workers.tasks").debug("not shown")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    [line] = stream.getvalue().splitlines()
    assert line.endswith("INFO workers.tasks: batch via smtp://u:***@relay:25 [send_id=5]")


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="'text' or 'json'"):
        configure_logging(fmt="xml")


def test_celery_hook_reformats_the_loggers_celery_sets_up() -> None:
    app = Celery("mailer-test")
    install_celery_logging(app, fmt="json")
    install_celery_logging(app, fmt="json")  # idempotent per app
    logger = logging.getLogger("mailer-test-celery")
    logger.propagate = False
    stream = io.StringIO()
    logger.addHandler(logging.StreamHandler(stream))
    logger.setLevel(logging.INFO)
    # What Celery does after it configured a worker's or beat's logging:
    after_setup_logger.send(
        sender=None, logger=logger, loglevel=logging.INFO, logfile=None, format="", colorize=False
    )
    [handler] = logger.handlers
    assert isinstance(handler.formatter, JsonFormatter)
    with log_context(send_id=3):
        logger.info("relay smtps://u:topsecret@relay:465 said 421")
    [row] = records(stream)
    assert row["send_id"] == 3 and "topsecret" not in str(row["message"])
    assert len(handler.filters) == 2


def test_cli_setup_reads_the_format(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    from mailer.cli.ops import setup_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        monkeypatch.setenv("MAILER_LOG_FORMAT", "json")
        setup_logging()
        assert any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
        monkeypatch.setenv("MAILER_LOG_FORMAT", "yaml")
        with pytest.raises(typer.Exit):
            setup_logging()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
