"""An outage is one WARNING line (no traceback) however many ticks it lasts,
and one INFO line when the service answers again."""

from __future__ import annotations

import logging

import pytest

from mailer.delivery.outage_notice import OutageNotice


def test_one_line_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.outage")
    notice = OutageNotice(log, "dispatch: database or Redis")
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
            "dispatch: database or Redis unavailable (ConnectionRefusedError: connection "
            "refused); retrying every tick; no further lines until it is back",
            None,
        ),
        ("INFO", "dispatch: database or Redis available again", None),
    ]


def test_a_second_outage_is_told_again(caplog: pytest.LogCaptureFixture) -> None:
    notice = OutageNotice(logging.getLogger("test.outage"), "beat: the broker (Redis)")
    with caplog.at_level(logging.INFO, logger="test.outage"):
        notice.failed(OSError("down"))
        notice.ok()
        notice.failed(OSError("down again"))
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO", "WARNING"]
