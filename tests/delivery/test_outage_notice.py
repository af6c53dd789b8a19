"""An outage is one WARNING line (no traceback) however many ticks it lasts,
and one INFO line when the service answers again."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from mailer.db import make_engine
from mailer.delivery.outage_notice import OutageNotice, database_place, describe


def test_one_line_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.outage")
    notice = OutageNotice(log, "配信の刻み: データベースか Redis")
    with caplog.at_level(logging.INFO, logger="test.outage"):
        notice.ok()  # up all along: nothing
        for _ in range(10):
            notice.failed(ConnectionRefusedError("connection refused\nsecond line"))
        notice.ok()
        notice.ok()
    records = [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records]
    assert records == [
        (
            "WARNING",
            "配信の刻み: データベースか Redisが応答しません（ConnectionRefusedError: "
            "connection refused）。毎回の刻みで再試行します。戻るまでこの行は繰り返しません",
            None,
        ),
        ("INFO", "配信の刻み: データベースか Redisがまた応答しています", None),
    ]


def test_a_second_outage_is_told_again(caplog: pytest.LogCaptureFixture) -> None:
    notice = OutageNotice(logging.getLogger("test.outage"), "beat: the broker (Redis)")
    with caplog.at_level(logging.INFO, logger="test.outage"):
        notice.failed(OSError("down"))
        notice.ok()
        notice.failed(OSError("down again"))
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO", "WARNING"]


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


def test_a_full_sqlite_disk_is_named_as_such(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite on a really full disk (a 4 MB tmpfs, filled): the line says
    「データベースのディスクが一杯です（パス）」, not "disk I/O error"; the
    dispatcher's and a batch's lines alike. Needs root (mount)."""
    disk = tmp_path / "disk"
    if os.geteuid() != 0 or not _mount_tmpfs(disk, "4m"):
        pytest.skip("mounting a tmpfs needs root")
    try:
        engine = make_engine(f"sqlite:///{disk / 'mailer.db'}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (v TEXT)"))
        with (disk / "filler").open("wb") as out, contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        with pytest.raises(OperationalError) as caught, engine.begin() as conn:
            conn.execute(text("INSERT INTO t SELECT hex(randomblob(60000))"))
        assert "disk" in str(caught.value)  # SQLite's own words: I/O error or full
        expected = f"データベースのディスクが一杯です（{disk / 'mailer.db'}）"
        assert describe(caught.value, engine) == expected
        notice = OutageNotice(logging.getLogger("test.outage"), "dispatch: database or Redis")
        with caplog.at_level(logging.INFO, logger="test.outage"):
            notice.failed(caught.value, engine=engine)
        [line] = [r.getMessage() for r in caplog.records]
        assert expected in line and "I/O" not in line
        (disk / "filler").unlink()  # space again: the same error would be told as itself
        assert describe(OperationalError("x", {}, Exception("disk I/O error")), engine) \
            .startswith("OperationalError")
        engine.dispose()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_database_place_hides_the_password() -> None:
    engine = make_engine("postgresql+psycopg://u:secret@db.example:6543/mailer")
    assert database_place(engine) == "db.example:6543/mailer"
    assert "secret" not in describe(OSError("No space left on device"), engine)
    assert describe(OSError("No space left on device"), engine) == \
        "データベースのディスクが一杯です（db.example:6543/mailer）"


def test_the_redis_line_names_the_place_with_the_password_masked(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The line says what failed, where (host:port, the URL's password
    masked) and what to try, in Japanese, and in English with
    MAILER_LANGUAGE=en."""
    from mailer.delivery.outage_notice import REDIS, redis_place

    monkeypatch.setenv("MAILER_REDIS_URL", "redis://:s3cret@cache.example:6390/2")
    assert redis_place() == "cache.example:6390 (redis://:***@cache.example:6390/2)"
    REDIS.reset()
    with caplog.at_level(logging.INFO, logger="mailer.outage"):
        REDIS.failed(ConnectionRefusedError("Error 111 connecting to cache.example:6390"))
        REDIS.ok()
        monkeypatch.setenv("MAILER_LANGUAGE", "en")
        REDIS.failed(ConnectionRefusedError("refused"))
        REDIS.ok()
    REDIS.reset()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith(
        "Redis サーバ（cache.example:6390 (redis://:***@cache.example:6390/2)）が応答しません"
        "（ConnectionRefusedError: Error 111"
    )
    assert "MAILER_REDIS_URL が正しいか確かめてください" in lines[0]
    place = "cache.example:6390 (redis://:***@cache.example:6390/2)"
    assert lines[1] == f"Redis サーバ（{place}）がまた応答しています"
    assert lines[2].startswith(f"Redis server ({place}) unavailable")
    assert "Check that Redis is running" in lines[2] and "が" not in lines[2]
    assert "s3cret" not in "".join(lines)
