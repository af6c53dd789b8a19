"""One line per outage, not one per tick.

The dispatch tick runs every second and beat queues it every second: while
the database or the broker is down each would otherwise log an error with a
traceback each time. An `OutageNotice` logs one WARNING when the service stops
answering and one INFO when it answers again, so that an outage of any length
tells the operator what is down in one line, and when it is back in another.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from typing import Any

#: below this much free space, SQLite's "disk I/O error" is the disk being full
FULL_BELOW_BYTES = 1 << 20
_FULL_TEXTS = ("database or disk is full", "no space left on device", "disk full")


def database_place(engine: Any) -> str:
    """Where the database is, for a line an operator reads: the SQLite file's
    path, or host:port/name (never the password)."""
    url = getattr(engine, "url", None)
    if url is None:
        return ""
    if url.get_backend_name() == "sqlite":
        return os.path.abspath(url.database or "")
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def disk_full(exc: BaseException, engine: Any = None) -> bool:
    """True if `exc` says the database's disk is full. SQLite often says only
    "disk I/O error" then: it counts as full when the file's folder has
    (almost) no free space left."""
    text = str(exc).lower()
    if any(t in text for t in _FULL_TEXTS):
        return True
    if "disk i/o error" not in text or engine is None:
        return False
    if getattr(getattr(engine, "url", None), "get_backend_name", lambda: "")() != "sqlite":
        return False
    try:
        free = shutil.disk_usage(os.path.dirname(database_place(engine)) or ".").free
    except OSError:
        return False
    return free < FULL_BELOW_BYTES


def describe(exc: BaseException, engine: Any = None) -> str:
    """One line for an outage: 「データベースのディスクが一杯です（パス）」 for a
    full disk, else the error's type and first line."""
    if disk_full(exc, engine):
        return f"データベースのディスクが一杯です（{database_place(engine) or 'データベース'}）"
    first = (str(exc).splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first}"


class OutageNotice:
    """Remembers, per process, whether `what` is down, and logs the changes."""

    def __init__(
        self, logger: logging.Logger, what: str, meanwhile: str = "retrying every tick"
    ) -> None:
        self.logger = logger
        self.what = what
        self.meanwhile = meanwhile
        self.down = False
        self._lock = threading.Lock()

    def failed(self, exc: BaseException, *, engine: Any = None) -> None:
        """Note a failure: one WARNING (no traceback) if it was up until now.
        `engine` (the database's) lets a full disk be named as such."""
        with self._lock:
            if self.down:
                return
            self.down = True
        self.logger.warning(
            "%s unavailable (%s); %s; no further lines until it is back",
            self.what,
            describe(exc, engine),
            self.meanwhile,
        )

    def ok(self) -> None:
        """Note a success: one INFO line if it was down."""
        with self._lock:
            if not self.down:
                return
            self.down = False
        self.logger.info("%s available again", self.what)

    def reset(self) -> None:
        """Forget the state, silently (tests; a fresh process starts up)."""
        with self._lock:
            self.down = False


_log = logging.getLogger("mailer.outage")
#: Redis as this process sees it (the rate limiter, the accepted-journal, the
#: send-active marks, liveness notes, the broker): one WARNING per outage per
#: process, however many batches meet it, and one INFO when it answers again
REDIS = OutageNotice(
    _log, "Redis", "mail waits (rows handed back) and goes out once it is back"
)
#: the database, likewise (a batch's own details go to INFO)
DATABASE = OutageNotice(
    _log, "the database", "rows are handed back or return with their lease; retrying"
)


def notice_for(exc: BaseException) -> OutageNotice:
    """REDIS for a Redis or broker error, DATABASE for the rest."""
    names = {c.__module__.split(".")[0] for c in type(exc).__mro__}
    return REDIS if names & {"redis", "kombu"} else DATABASE
